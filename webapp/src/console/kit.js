// What every console screen is built from: loading state, the data table with its CSV export, form
// fields bound to one draft object, the editor panel, and an in-page "are you sure" (no window.confirm).
import { useEffect, useRef, useState } from "preact/hooks";
import { ApiError } from "../api.js";
import { lang, t } from "../i18n.js";
import { FormError, fieldErrors, html, messageOf } from "../ui.js";
import { forbidden } from "./gate.js";

// Loads on mount and whenever `deps` change; `reload()` asks again. A 403 means the staff flag is gone.
export function useLoad(load, deps = []) {
  const [state, setState] = useState({ data: null, error: null, busy: true });
  const [round, setRound] = useState(0);
  useEffect(() => {
    let live = true;
    setState((old) => ({ ...old, busy: true })); // the last answer stays on screen until the next one
    load().then((data) => live && setState({ data, error: null, busy: false }), (error) => {
      if (error instanceof ApiError && error.status === 403) forbidden.value = true;
      if (live) setState({ data: null, error, busy: false });
    });
    return () => { live = false; };
  }, [...deps, round]);
  return { ...state, reload: () => setRound((n) => n + 1) };
}

export const listOf = (data) => (Array.isArray(data) ? data : data?.results || []);

export function Loading({ error }) {
  return error ? html`<p class="form-error" role="alert">${messageOf(error)}</p>` : html`<p class="muted">${t("loading")}</p>`;
}

// ---- CSV -----------------------------------------------------------------------------------------

const cell = (value) => {
  const text = value == null ? "" : String(value);
  // A leading = + - @ would run as a formula in a spreadsheet: quote it as text.
  const safe = /^[=+\-@\t\r]/.test(text) && !/^-?\d/.test(text) ? `'${text}` : text;
  return /[",\n\r]/.test(safe) ? `"${safe.replace(/"/g, '""')}"` : safe;
};

export function toCsv(columns, rows) {
  const lines = [columns.map((c) => cell(c.csvLabel || c.key)).join(",")];
  for (const row of rows) lines.push(columns.map((c) => cell(c.csv ? c.csv(row) : row[c.key])).join(","));
  return lines.join("\r\n") + "\r\n";
}

export function downloadCsv(name, text) {
  const url = URL.createObjectURL(new Blob(["\ufeff", text], { type: "text/csv;charset=utf-8" }));
  const link = document.createElement("a");
  link.href = url;
  link.download = `${name}.csv`;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

// A CSV the API builds (reports, audit log): a plain download link, the session cookie goes along.
export const CsvLink = ({ href, testid }) => html`<a class="ghost small csv" href=${href} download data-testid=${testid}
  title=${t("c_exportTitle")}>${t("c_exportCsv")}</a>`;

export const CsvButton = ({ name, columns, rows, testid }) => html`<button type="button" class="ghost small csv"
  data-testid=${testid} title=${t("c_exportTitle")} onClick=${() => downloadCsv(name, toCsv(columns, rows))}>${t("c_exportCsv")}</button>`;

// columns: {key, label, render?(row), csv?(row), num?: right-aligned figures}; rows carry `id`.
// csvHref: the API writes the CSV (reports, audit log); otherwise it is built here from `rows`.
// csvColumns: what the CSV holds when it is more than the screen shows (raw values, keys as headers).
// bare: no tool row (the card around it shows the CSV link in its own head).
// label: what the table holds, for screen readers (the wrapper scrolls sideways on narrow screens, so it
// is a focusable region keyboard users can scroll).
export function DataTable({ columns, rows, name, testid, onRow, empty, actions, csvHref, csvColumns, bare, label }) {
  return html`<div class="console-table">
    ${bare ? null : html`<div class="table-tools">${actions}<span class="spacer"></span>
      ${csvHref ? html`<${CsvLink} href=${csvHref} testid=${`${testid}-csv`} />`
        : html`<${CsvButton} name=${name} columns=${csvColumns || columns} rows=${rows} testid=${`${testid}-csv`} />`}</div>`}
    ${!rows.length ? html`<p class="muted empty-row">${empty || t("nothingHere")}</p>` : html`<div class="table-wrap" tabindex="0" role="region" aria-label=${label}>
      <table class="grid" data-testid=${testid}>
        <thead><tr>${columns.map((c) => html`<th scope="col" class=${c.num ? "num" : ""}>${c.label}</th>`)}</tr></thead>
        <tbody>${rows.map((row) => html`<tr key=${row.id} data-testid="row" data-id=${row.id}
            class=${onRow ? "clickable" : ""} onClick=${onRow ? (e) => { if (!e.target.closest("button, a, input, select")) onRow(row); } : undefined}>
          ${columns.map((c, i) => (i === 0 && onRow
            ? html`<th scope="row"><button type="button" class="link-btn" data-testid="open-row" onClick=${() => onRow(row)}>${c.render ? c.render(row) : row[c.key]}</button></th>`
            : html`<td class=${c.num ? "num" : ""}>${c.render ? c.render(row) : row[c.key]}</td>`))}
        </tr>`)}</tbody>
      </table></div>`}
  </div>`;
}

// ---- forms ---------------------------------------------------------------------------------------

let ids = 0;
const useId = () => useState(() => `cf${++ids}`)[0];

function Wrap({ id, label, hint, error, children, wide }) {
  return html`<div class=${`field ${wide ? "wide-field" : ""}`}>
    <label for=${id}>${label}</label>${children}
    ${error ? html`<p class="field-error" id=${`${id}-err`}>${error}</p>` : hint ? html`<p class="hint" id=${`${id}-hint`}>${hint}</p>` : null}
  </div>`;
}

// A text or number input bound to draft[name]; `kind` "number" keeps the text (decimals stay exact).
export function Input({ form, name, label, hint, type = "text", wide, ...rest }) {
  const id = useId();
  const error = form.errors[name];
  return html`<${Wrap} id=${id} label=${label} hint=${hint} error=${error} wide=${wide}>
    <input id=${id} name=${name} type=${type} data-testid=${`field-${name}`} value=${form.draft[name] ?? ""}
      aria-invalid=${error ? "true" : undefined} aria-describedby=${error ? `${id}-err` : hint ? `${id}-hint` : undefined}
      onInput=${(e) => form.set(name, e.currentTarget.value)} ...${rest} /></${Wrap}>`;
}

export function TextArea({ form, name, label, hint, rows = 6 }) {
  const id = useId();
  const error = form.errors[name];
  return html`<${Wrap} id=${id} label=${label} hint=${hint} error=${error} wide>
    <textarea id=${id} name=${name} rows=${rows} dir="auto" data-testid=${`field-${name}`} value=${form.draft[name] ?? ""}
      aria-invalid=${error ? "true" : undefined} onInput=${(e) => form.set(name, e.currentTarget.value)}></textarea></${Wrap}>`;
}

export function Select({ form, name, label, options, hint }) {
  const id = useId();
  const error = form.errors[name];
  return html`<${Wrap} id=${id} label=${label} hint=${hint} error=${error}>
    <select id=${id} name=${name} data-testid=${`field-${name}`} value=${form.draft[name] ?? ""}
      onChange=${(e) => form.set(name, e.currentTarget.value)}>
      ${options.map(([value, text]) => html`<option value=${value}>${text}</option>`)}</select></${Wrap}>`;
}

export function Check({ form, name, label }) {
  return html`<label class="check"><input type="checkbox" data-testid=${`field-${name}`} checked=${!!form.draft[name]}
    onChange=${(e) => form.set(name, e.currentTarget.checked)} /><span>${label}</span></label>`;
}

// Ticks for a list of ids (plans linked to a model, chatbot or code).
export function IdPicker({ form, name, label, hint, options }) {
  const chosen = new Set(form.draft[name] || []);
  const toggle = (id) => {
    const next = new Set(chosen);
    if (next.has(id)) next.delete(id); else next.add(id);
    form.set(name, options.map(([value]) => value).filter((value) => next.has(value)));
  };
  return html`<fieldset class="picker wide-field" data-testid=${`field-${name}`}>
    <legend>${label}</legend>
    <div class="picker-options">${options.map(([value, text]) => html`<label class="check chip-check">
      <input type="checkbox" value=${value} checked=${chosen.has(value)} onChange=${() => toggle(value)} /><span>${text}</span></label>`)}</div>
    ${form.errors[name] ? html`<p class="field-error">${form.errors[name]}</p>` : hint ? html`<p class="hint">${hint}</p>` : null}
  </fieldset>`;
}

// The draft of one object being edited, and the API's field errors next to their fields.
export function useForm(initial) {
  const [draft, setDraft] = useState(initial);
  const [error, setError] = useState(null);
  return {
    draft, error, errors: fieldErrors(error),
    set: (name, value) => setDraft((d) => ({ ...d, [name]: value })),
    reset: (next) => { setDraft(next); setError(null); },
    fail: setError,
  };
}

// The editor panel: a titled card with the fields, Save, Cancel and (for an existing object) Delete.
export function Editor({ title, form, onSave, onCancel, onDelete, deleteName, children, testid = "editor" }) {
  const [busy, setBusy] = useState(false);
  const heading = useRef(null);
  useEffect(() => { heading.current?.focus(); heading.current?.scrollIntoView?.({ block: "nearest" }); }, [title]);
  async function save(e) {
    e.preventDefault();
    setBusy(true);
    form.fail(null);
    try { await onSave(form.draft); } catch (err) { form.fail(err); } finally { setBusy(false); }
  }
  return html`<section class="card editor" data-testid=${testid} aria-labelledby=${`${testid}-title`}>
    <div class="editor-head"><h2 id=${`${testid}-title`} tabindex="-1" ref=${heading}><bdi>${title}</bdi></h2>
      <button type="button" class="ghost small" data-testid="editor-close" onClick=${onCancel}>${t("cancel")}</button></div>
    <form class="editor-form" onSubmit=${save} noValidate>
      ${children}
      <${FormError} error=${form.error ? messageOf(form.error) : null} />
      <div class="editor-actions">
        <button type="submit" class="primary" data-testid="save" disabled=${busy}>${t("saveChanges")}</button>
        ${onDelete ? html`<${Confirm} label=${t("remove")} question=${t("confirmRemove", { name: deleteName })}
          onConfirm=${async () => { try { await onDelete(); } catch (err) { form.fail(err); } }} testid="delete" danger />` : null}
      </div>
    </form>
  </section>`;
}

// A button that asks first, in the page; `onConfirm` runs on the second click.
export function Confirm({ label, question, onConfirm, testid, danger, small }) {
  const [asking, setAsking] = useState(false);
  const [busy, setBusy] = useState(false);
  if (!asking) {
    return html`<button type="button" class=${`ghost ${small ? "small" : ""} ${danger ? "danger" : ""}`} data-testid=${testid}
      onClick=${() => setAsking(true)}>${label}</button>`;
  }
  return html`<span class="confirm" role="group" aria-label=${question}>
    <span class="confirm-q">${question}</span>
    <button type="button" class="primary danger small" data-testid=${`${testid}-yes`} disabled=${busy}
      onClick=${async () => { setBusy(true); await onConfirm(); setBusy(false); setAsking(false); }}>${danger ? t("confirmYes") : t("yes")}</button>
    <button type="button" class="ghost small" onClick=${() => setAsking(false)}>${t("cancel")}</button>
  </span>`;
}

export function Notice({ text }) {
  return text ? html`<p class="notice-ok" role="status" data-testid="notice">${text}</p>` : html`<p class="sr-only" role="status"></p>`;
}

export const yesNo = (value) => (value ? t("yes") : t("no"));
export const YesNo = ({ value }) => html`<span class=${`dot ${value ? "on" : "off"}`}>${yesNo(value)}</span>`;
export const joinList = (items) => items.join(lang.value === "fa" ? "، " : ", ");
