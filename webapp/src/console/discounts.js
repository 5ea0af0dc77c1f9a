// Discount codes: percentage or fixed, for some plans or all, with use caps and a validity window.
import { useState } from "preact/hooks";
import { api, get } from "../api.js";
import { date, number, t } from "../i18n.js";
import { html } from "../ui.js";
import { Check, DataTable, Editor, IdPicker, Input, Loading, Notice, Select, YesNo, joinList, listOf, useForm, useLoad } from "./kit.js";
import { planNames } from "./models.js";

const BLANK = {
  code: "", discount_type: "percentage", discount_value: "10", subscription_type_ids: [], max_uses: "",
  max_uses_per_user: "1", valid_from: "", valid_until: "", is_active: true,
};
const day = (iso) => (iso ? iso.slice(0, 10) : "");
const asDraft = (c) => ({ ...BLANK, ...c, max_uses: c.max_uses == null ? "" : String(c.max_uses),
  max_uses_per_user: String(c.max_uses_per_user), valid_from: day(c.valid_from), valid_until: day(c.valid_until) });

function body(draft) {
  const out = {
    code: draft.code.trim(), discount_type: draft.discount_type, discount_value: String(draft.discount_value).trim(),
    subscription_type_ids: draft.subscription_type_ids, max_uses: draft.max_uses.trim() ? Number(draft.max_uses) : null,
    max_uses_per_user: Number(draft.max_uses_per_user || 1), is_active: draft.is_active,
    valid_until: draft.valid_until ? `${draft.valid_until}T23:59:59Z` : null,
  };
  if (draft.valid_from) out.valid_from = `${draft.valid_from}T00:00:00Z`; // not given: from now
  return out;
}

export function DiscountsScreen() {
  const { data, error, reload } = useLoad(() => Promise.all([get("/api/admin/discount-codes/"), get("/api/admin/subscription-types/")]));
  const [open, setOpen] = useState(null);
  const [notice, setNotice] = useState("");
  const form = useForm(BLANK);
  const [codes, plans] = data ? data.map(listOf) : [[], []];
  const edit = (code) => { setOpen(code || "new"); setNotice(""); form.reset(code ? asDraft(code) : BLANK); };
  async function save(draft) {
    if (open === "new") await api("POST", "/api/admin/discount-codes/", body(draft));
    else await api("PUT", `/api/admin/discount-codes/${open.id}/`, body(draft));
    setOpen(null); setNotice(t("saved")); reload();
  }
  async function remove() {
    await api("DELETE", `/api/admin/discount-codes/${open.id}/`);
    setOpen(null); setNotice(t("deleted")); reload();
  }
  const columns = [
    { key: "code", label: t("col_code"), render: (c) => html`<code dir="ltr">${c.code}</code>` },
    { key: "discount_value", label: t("col_discount"), num: true,
      render: (c) => (c.discount_type === "percentage" ? `${number(Number(c.discount_value))}%` : number(Number(c.discount_value))) },
    { key: "discount_type", label: t("f_discountType"), render: (c) => t(c.discount_type === "percentage" ? "f_percentage" : "f_fixed") },
    { key: "subscription_type_ids", label: t("col_plans"), render: (c) => joinList(planNames(plans, c.subscription_type_ids)) || t("everyPlan"),
      csv: (c) => c.subscription_type_ids.join(" ") },
    { key: "times_used", label: t("col_used"), num: true, render: (c) => `${number(c.times_used)}${c.max_uses ? ` / ${number(c.max_uses)}` : ""}` },
    { key: "valid_until", label: t("col_validUntil"), render: (c) => (c.valid_until ? date(c.valid_until) : t("none")) },
    { key: "is_active", label: t("col_active"), render: (c) => html`<${YesNo} value=${c.is_active} />` },
  ];
  return html`<div>
    <div class="console-head"><h1>${t("c_discounts")}</h1>
      <button type="button" class="primary" data-testid="new-code" onClick=${() => edit(null)}>${t("newCode")}</button></div>
    <${Notice} text=${notice} />
    ${open ? html`<${Editor} title=${open === "new" ? t("newCode") : t("editing", { name: open.code })} form=${form}
        onSave=${save} onCancel=${() => setOpen(null)} onDelete=${open === "new" ? null : remove} deleteName=${open.code}>
        <div class="form-grid">
          <${Input} form=${form} name="code" label=${t("f_code")} dir="ltr" autocapitalize="characters" />
          <${Select} form=${form} name="discount_type" label=${t("f_discountType")} options=${[["percentage", t("f_percentage")], ["fixed", t("f_fixed")]]} />
          <${Input} form=${form} name="discount_value" label=${t("f_value")} inputmode="decimal" dir="ltr" />
          <${Input} form=${form} name="max_uses" label=${t("f_maxUses")} inputmode="numeric" dir="ltr" />
          <${Input} form=${form} name="max_uses_per_user" label=${t("f_maxPerUser")} inputmode="numeric" dir="ltr" />
          <${Input} form=${form} name="valid_from" label=${t("f_validFrom")} type="date" />
          <${Input} form=${form} name="valid_until" label=${t("f_validUntil")} type="date" />
          <div class="checks"><${Check} form=${form} name="is_active" label=${t("f_isActive")} /></div>
          <${IdPicker} form=${form} name="subscription_type_ids" label=${t("f_codePlans")} options=${plans.map((p) => [p.id, p.name])} />
        </div>
      </${Editor}>` : null}
    ${!data ? html`<${Loading} error=${error} />` : html`<${DataTable} label=${t("c_discounts")} name="discount-codes" testid="codes-table" onRow=${edit} rows=${codes} columns=${columns} />`}
  </div>`;
}
