// Plans: the list, and an editor with every limit grouped by window (0 = unlimited, said next to them).
import { useState } from "preact/hooks";
import { api, get } from "../api.js";
import { money, number, t } from "../i18n.js";
import { html } from "../ui.js";
import { Check, DataTable, Editor, Input, Loading, Notice, YesNo, listOf, useForm, useLoad } from "./kit.js";

const WINDOWS = ["hourly", "three_hours", "twelve_hours", "daily", "weekly", "monthly"];
const IMAGE_WINDOWS = ["daily", "weekly", "monthly"];
const COUNT_FIELDS = [
  "max_tokens", "max_tokens_free",
  ...WINDOWS.flatMap((w) => [`${w}_max_messages`, `${w}_max_tokens`]),
  "monthly_free_model_messages", "monthly_free_model_tokens",
  ...IMAGE_WINDOWS.map((w) => `${w}_image_generation_limit`),
];
const BLANK = {
  name: "", description: "", price: "0", currency: "IRT", duration_days: "30", sku: "", is_active: true,
  is_purchasable: true, max_openrouter_cost_usd: "0", ...Object.fromEntries(COUNT_FIELDS.map((f) => [f, "0"])),
};

// The API wants numbers where the form holds text; an empty box is 0 (unlimited).
function body(draft) {
  const out = { ...draft };
  for (const f of [...COUNT_FIELDS, "duration_days"]) out[f] = draft[f] === "" ? 0 : Number(draft[f]);
  out.price = String(draft.price || "0");
  out.max_openrouter_cost_usd = String(draft.max_openrouter_cost_usd || "0");
  delete out.id;
  delete out.created_at;
  return out;
}

const asDraft = (plan) => Object.fromEntries(Object.entries({ ...BLANK, ...plan }).map(([k, v]) => [k, typeof v === "number" ? String(v) : v]));
const limit = (v) => (Number(v) ? number(Number(v)) : "∞");

function Limits({ form }) {
  const num = { type: "text", inputmode: "numeric", dir: "ltr" };
  const cellInput = (name, label) => html`<td><input type="text" inputmode="numeric" dir="ltr" data-testid=${`field-${name}`}
    aria-label=${label} value=${form.draft[name]} aria-invalid=${form.errors[name] ? "true" : undefined}
    onInput=${(e) => form.set(name, e.currentTarget.value)} />${form.errors[name] ? html`<span class="field-error">${form.errors[name]}</span>` : null}</td>`;
  return html`
    <fieldset class="group wide-field"><legend>${t("g_totals")} <span class="badge">${t("zeroUnlimited")}</span></legend>
      <div class="form-grid">
        <${Input} form=${form} name="max_tokens" label=${t("f_maxTokens")} ...${num} />
        <${Input} form=${form} name="max_tokens_free" label=${t("f_maxTokensFree")} ...${num} />
        <${Input} form=${form} name="max_openrouter_cost_usd" label=${t("f_maxCost")} ...${num} inputmode="decimal" />
      </div></fieldset>
    <fieldset class="group wide-field"><legend>${t("g_windows")} <span class="badge">${t("zeroUnlimited")}</span></legend>
      <div class="table-wrap"><table class="grid limits" data-testid="limits">
        <thead><tr><th scope="col">${t("f_window")}</th><th scope="col">${t("f_messages")}</th><th scope="col">${t("f_tokens")}</th><th scope="col">${t("f_images")}</th></tr></thead>
        <tbody>${WINDOWS.map((w) => html`<tr><th scope="row">${t(`w_${w}`)}</th>
          ${cellInput(`${w}_max_messages`, `${t("f_messages")} · ${t(`w_${w}`)}`)}
          ${cellInput(`${w}_max_tokens`, `${t("f_tokens")} · ${t(`w_${w}`)}`)}
          ${IMAGE_WINDOWS.includes(w) ? cellInput(`${w}_image_generation_limit`, `${t("f_images")} · ${t(`w_${w}`)}`) : html`<td class="muted">—</td>`}
        </tr>`)}</tbody></table></div></fieldset>
    <fieldset class="group wide-field"><legend>${t("g_freeMonthly")} <span class="badge">${t("zeroUnlimited")}</span></legend>
      <div class="form-grid">
        <${Input} form=${form} name="monthly_free_model_messages" label=${t("f_messages")} ...${num} />
        <${Input} form=${form} name="monthly_free_model_tokens" label=${t("f_tokens")} ...${num} />
      </div></fieldset>`;
}

export function PlansScreen() {
  const { data, error, reload } = useLoad(() => get("/api/admin/subscription-types/"));
  const [open, setOpen] = useState(null); // null, "new" or a plan
  const [notice, setNotice] = useState("");
  const form = useForm(BLANK);
  const plans = listOf(data);
  const edit = (plan) => { setOpen(plan || "new"); setNotice(""); form.reset(plan ? asDraft(plan) : BLANK); };
  async function save(draft) {
    if (open === "new") await api("POST", "/api/admin/subscription-types/", body(draft));
    else await api("PUT", `/api/admin/subscription-types/${open.id}/`, body(draft));
    setOpen(null); setNotice(t("saved")); reload();
  }
  async function remove() {
    await api("DELETE", `/api/admin/subscription-types/${open.id}/`);
    setOpen(null); setNotice(t("deleted")); reload();
  }
  const columns = [
    { key: "name", label: t("col_name"), render: (p) => html`<bdi>${p.name}</bdi>` },
    { key: "sku", label: t("col_sku") },
    { key: "price", label: t("col_price"), num: true, render: (p) => money(p.price, p.currency), csv: (p) => p.price },
    { key: "currency", label: t("f_currency"), hidden: true },
    { key: "duration_days", label: t("col_days"), num: true },
    { key: "daily_max_messages", label: `${t("f_messages")} / ${t("w_daily")}`, num: true, render: (p) => limit(p.daily_max_messages) },
    { key: "monthly_max_tokens", label: `${t("f_tokens")} / ${t("w_monthly")}`, num: true, render: (p) => limit(p.monthly_max_tokens) },
    { key: "is_active", label: t("col_active"), render: (p) => html`<${YesNo} value=${p.is_active} />` },
    { key: "is_purchasable", label: t("col_forSale"), render: (p) => html`<${YesNo} value=${p.is_purchasable} />` },
    ...COUNT_FIELDS.filter((f) => !["daily_max_messages", "monthly_max_tokens"].includes(f)).map((f) => ({ key: f, label: f, hidden: true })),
  ];
  return html`<div>
    <div class="console-head"><h1>${t("c_plans")}</h1>
      <button type="button" class="primary" data-testid="new-plan" onClick=${() => edit(null)}>${t("newPlan")}</button></div>
    <${Notice} text=${notice} />
    ${open ? html`<${Editor} title=${open === "new" ? t("newPlan") : t("editing", { name: open.name })} form=${form}
        onSave=${save} onCancel=${() => setOpen(null)} onDelete=${open === "new" ? null : remove} deleteName=${open.name}>
        <fieldset class="group wide-field"><legend>${t("g_general")}</legend><div class="form-grid">
          <${Input} form=${form} name="name" label=${t("f_name")} />
          <${Input} form=${form} name="sku" label=${t("f_sku")} dir="ltr" />
          <${Input} form=${form} name="price" label=${t("f_price")} inputmode="decimal" dir="ltr" />
          <${Input} form=${form} name="currency" label=${t("f_currency")} dir="ltr" maxLength=${8} />
          <${Input} form=${form} name="duration_days" label=${t("f_duration")} inputmode="numeric" dir="ltr" />
          <${Input} form=${form} name="description" label=${t("f_description")} wide dir="auto" />
          <div class="checks wide-field"><${Check} form=${form} name="is_active" label=${t("f_isActive")} />
            <${Check} form=${form} name="is_purchasable" label=${t("f_purchasable")} /></div>
        </div></fieldset>
        <${Limits} form=${form} />
      </${Editor}>` : null}
    ${!data ? html`<${Loading} error=${error} />` : html`<${DataTable} label=${t("c_plans")} name="plans" testid="plans-table" onRow=${edit}
      rows=${plans} columns=${columns.filter((c) => !c.hidden)}
      csvColumns=${[{ key: "id" }, ...columns.map((c) => ({ key: c.key, csv: c.csv })), { key: "description" }]} />`}
  </div>`;
}
