// The audit log: who changed what and when, newest first; "Older entries" reads on from the last id.
import { useEffect, useState } from "preact/hooks";
import { ApiError, get } from "../api.js";
import { lang, t } from "../i18n.js";
import { html, messageOf } from "../ui.js";
import { forbidden } from "./gate.js";
import { DataTable, Loading } from "./kit.js";

const LIMIT = 50;
const OBJECT_TYPES = ["plan", "ai_model", "chatbot", "user", "discount_code", "payment"];

const when = (iso) => new Intl.DateTimeFormat(lang.value === "fa" ? "fa-IR" : "en-GB", { dateStyle: "medium", timeStyle: "short" }).format(new Date(iso));

function Changes({ changes }) {
  const entries = Object.entries(changes || {});
  if (!entries.length) return null;
  const shown = (value) => (typeof value === "string" ? value : JSON.stringify(value));
  return html`<ul class="changes">${entries.map(([field, [before, after]]) => html`<li><code>${field}</code>${" "}
    ${before === null || before === undefined ? null : html`<span class="old" dir="auto">${shown(before)}</span> → `}<span class="new" dir="auto">${shown(after)}</span></li>`)}</ul>`;
}

export function AuditScreen() {
  const [objectType, setObjectType] = useState("");
  const [entries, setEntries] = useState(null);
  const [more, setMore] = useState(false);
  const [error, setError] = useState(null);
  const filter = objectType ? `&object_type=${objectType}` : "";
  async function load(before) {
    try {
      const page = await get(`/api/admin/audit-log/?limit=${LIMIT}${filter}${before ? `&before=${before}` : ""}`);
      setEntries((old) => (before ? [...(old || []), ...page.results] : page.results));
      setMore(page.has_more);
      setError(null);
    } catch (err) {
      if (err instanceof ApiError && err.status === 403) forbidden.value = true;
      setError(err);
    }
  }
  useEffect(() => { setEntries(null); load(null); }, [objectType]);
  const columns = [
    { key: "at", label: t("col_when"), render: (e) => when(e.at) },
    { key: "actor_phone", label: t("col_actor"), render: (e) => html`<bdi dir="ltr">${e.actor_phone || e.actor_id}</bdi>` },
    { key: "action", label: t("col_action"), render: (e) => t(`a_${e.action}`) },
    { key: "object_type", label: t("col_object"), render: (e) => `${t(`o_${e.object_type}`)} #${e.object_id}` },
    { key: "summary", label: t("col_summary"), render: (e) => html`<span dir="auto">${e.summary}</span><${Changes} changes=${e.changes} />` },
  ];
  return html`<div>
    <div class="console-head"><h1>${t("c_audit")}</h1>
      <div class="search"><label class="sr-only" for="audit-object">${t("filterObject")}</label>
        <select id="audit-object" data-testid="audit-object" value=${objectType} onChange=${(e) => setObjectType(e.currentTarget.value)}>
          <option value="">${t("objectTypes")}</option>
          ${OBJECT_TYPES.map((o) => html`<option value=${o}>${t(`o_${o}`)}</option>`)}</select></div></div>
    ${entries === null ? html`<${Loading} error=${error} />` : html`<${DataTable} label=${t("c_audit")} name="audit-log" testid="audit-table" rows=${entries}
        columns=${columns} csvHref=${`/api/admin/audit-log/?limit=200${filter}&format=csv`} />
      ${error ? html`<p class="form-error" role="alert">${messageOf(error)}</p>` : null}
      ${more ? html`<p><button type="button" class="ghost" data-testid="audit-more" onClick=${() => load(entries[entries.length - 1].id)}>${t("olderEntries")}</button></p>` : null}`}
  </div>`;
}
