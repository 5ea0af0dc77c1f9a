// AI models: prices, context, reply cap, plan links and fallbacks; "Sync from OpenRouter" fills names,
// context lengths and prices of the catalog's models from OpenRouter's list.
import { useState } from "preact/hooks";
import { api, get, post } from "../api.js";
import { number, t } from "../i18n.js";
import { html, messageOf } from "../ui.js";
import { Check, DataTable, Editor, IdPicker, Input, Loading, Notice, Select, TextArea, YesNo, joinList, listOf, useForm, useLoad } from "./kit.js";

const BLANK = {
  name: "", model_id: "", description: "", model_type: "text", is_active: true, is_free: false,
  token_cost_multiplier: "1.00", subscription_type_ids: [], context_tokens: "8192", max_reply_tokens: "4096",
  prompt_price_usd_per_mtok: "", completion_price_usd_per_mtok: "", fallback_model_ids: "",
};

const asDraft = (m) => ({
  ...BLANK, ...m, context_tokens: String(m.context_tokens), max_reply_tokens: String(m.max_reply_tokens),
  prompt_price_usd_per_mtok: m.prompt_price_usd_per_mtok ?? "", completion_price_usd_per_mtok: m.completion_price_usd_per_mtok ?? "",
  fallback_model_ids: (m.fallback_model_ids || []).join("\n"),
});

function body(draft) {
  const price = (v) => (String(v).trim() === "" ? null : String(v).trim());
  return {
    name: draft.name, model_id: draft.model_id.trim(), description: draft.description, model_type: draft.model_type,
    is_active: draft.is_active, is_free: draft.is_free, token_cost_multiplier: String(draft.token_cost_multiplier || "0"),
    subscription_type_ids: draft.subscription_type_ids, context_tokens: Number(draft.context_tokens),
    max_reply_tokens: Number(draft.max_reply_tokens), prompt_price_usd_per_mtok: price(draft.prompt_price_usd_per_mtok),
    completion_price_usd_per_mtok: price(draft.completion_price_usd_per_mtok),
    fallback_model_ids: draft.fallback_model_ids.split(/[\s,]+/).filter(Boolean),
  };
}

export const planNames = (plans, ids) => ids.map((id) => plans.find((p) => p.id === id)?.name || `#${id}`);
const price = (v) => (v == null ? t("priceUnknown") : `$${Number(v)}`);

export function ModelsScreen() {
  const { data, error, reload } = useLoad(() => Promise.all([get("/api/admin/ai-models/"), get("/api/admin/subscription-types/")]));
  const [open, setOpen] = useState(null);
  const [notice, setNotice] = useState("");
  const [syncing, setSyncing] = useState(false);
  const form = useForm(BLANK);
  const [models, plans] = data ? data.map(listOf) : [[], []];
  const edit = (model) => { setOpen(model || "new"); setNotice(""); form.reset(model ? asDraft(model) : BLANK); };
  async function save(draft) {
    if (open === "new") await api("POST", "/api/admin/ai-models/", body(draft));
    else await api("PUT", `/api/admin/ai-models/${open.id}/`, body(draft));
    setOpen(null); setNotice(t("saved")); reload();
  }
  async function remove() {
    await api("DELETE", `/api/admin/ai-models/${open.id}/`);
    setOpen(null); setNotice(t("deleted")); reload();
  }
  async function sync() {
    setSyncing(true);
    setNotice("");
    try {
      const result = await post("/api/admin/ai-models/sync/");
      setNotice(t("syncResult", { updated: number(result.updated.length), unchanged: number(result.unchanged), missing: number(result.not_in_catalog.length) }));
      reload();
    } catch (err) {
      setNotice(messageOf(err));
    } finally {
      setSyncing(false);
    }
  }
  const columns = [
    { key: "name", label: t("col_name"), render: (m) => html`<span class="stack"><bdi>${m.name}</bdi><code dir="ltr">${m.model_id}</code></span>` },
    { key: "model_type", label: t("col_type"),
      render: (m) => html`${t(m.model_type)}${m.is_free ? html` <span class="badge free">${t("free")}</span>` : null}` },
    { key: "context_tokens", label: t("col_context"), num: true, render: (m) => number(m.context_tokens) },
    { key: "max_reply_tokens", label: t("col_reply"), num: true, render: (m) => number(m.max_reply_tokens) },
    { key: "prices", label: t("col_prices"), num: true,
      render: (m) => `${price(m.prompt_price_usd_per_mtok)} / ${price(m.completion_price_usd_per_mtok)}` },
    { key: "subscription_type_ids", label: t("col_plans"), render: (m) => (m.is_free ? t("everyPlan") : joinList(planNames(plans, m.subscription_type_ids)) || t("none")) },
    { key: "fallback_model_ids", label: t("col_fallbacks"), num: true, render: (m) => (m.fallback_model_ids.length ? number(m.fallback_model_ids.length) : t("none")) },
    { key: "is_active", label: t("col_active"), render: (m) => html`<${YesNo} value=${m.is_active} />` },
  ];
  const csvColumns = ["id", "name", "model_id", "model_type", "is_free", "is_active", "context_tokens", "max_reply_tokens",
    "prompt_price_usd_per_mtok", "completion_price_usd_per_mtok", "token_cost_multiplier", "subscription_type_ids", "fallback_model_ids", "description"]
    .map((key) => ({ key, csv: Array.isArray(BLANK[key]) || key === "fallback_model_ids" ? (m) => [].concat(m[key]).join(" ") : undefined }));
  return html`<div>
    <div class="console-head"><h1>${t("c_models")}</h1>
      <div class="head-actions">
        <button type="button" class="ghost" data-testid="sync-models" disabled=${syncing} onClick=${sync}>${syncing ? t("syncing") : t("syncModels")}</button>
        <button type="button" class="primary" data-testid="new-model" onClick=${() => edit(null)}>${t("newModel")}</button>
      </div></div>
    <${Notice} text=${notice} />
    ${open ? html`<${Editor} title=${open === "new" ? t("newModel") : t("editing", { name: open.name })} form=${form}
        onSave=${save} onCancel=${() => setOpen(null)} onDelete=${open === "new" ? null : remove} deleteName=${open.name}>
        <div class="form-grid">
          <${Input} form=${form} name="name" label=${t("f_name")} />
          <${Input} form=${form} name="model_id" label=${t("f_modelId")} dir="ltr" />
          <${Select} form=${form} name="model_type" label=${t("f_modelType")} options=${[["text", t("text")], ["image", t("image")]]} />
          <${Input} form=${form} name="token_cost_multiplier" label=${t("f_multiplier")} inputmode="decimal" dir="ltr" />
          <${Input} form=${form} name="context_tokens" label=${t("f_context")} inputmode="numeric" dir="ltr" />
          <${Input} form=${form} name="max_reply_tokens" label=${t("f_reply")} inputmode="numeric" dir="ltr" />
          <${Input} form=${form} name="prompt_price_usd_per_mtok" label=${t("f_promptPrice")} inputmode="decimal" dir="ltr" />
          <${Input} form=${form} name="completion_price_usd_per_mtok" label=${t("f_completionPrice")} inputmode="decimal" dir="ltr" />
          <${Input} form=${form} name="description" label=${t("f_description")} wide dir="auto" />
          <div class="checks wide-field"><${Check} form=${form} name="is_active" label=${t("f_isActive")} />
            <${Check} form=${form} name="is_free" label=${t("f_isFree")} /></div>
          <${IdPicker} form=${form} name="subscription_type_ids" label=${t("f_plans")} hint=${t("f_plansHintModel")}
            options=${plans.map((p) => [p.id, p.name])} />
          <${TextArea} form=${form} name="fallback_model_ids" label=${t("f_fallbacks")} rows=${3} />
        </div>
      </${Editor}>` : null}
    ${!data ? html`<${Loading} error=${error} />` : html`<${DataTable} label=${t("c_models")} name="models" testid="models-table" onRow=${edit} rows=${models} columns=${columns} csvColumns=${csvColumns} />`}
  </div>`;
}
