import htm from "htm";
import { h } from "preact";
import { useEffect, useState } from "preact/hooks";
import { t } from "./i18n.js";

export const html = htm.bind(h);

let fieldIds = 0;

// A labelled input with its error (from the API's `fields`) right under it, announced to screen readers.
export function Field({ label, name, error, hint, testid, ...input }) {
  const [id] = useState(() => `f${++fieldIds}`);
  const described = error ? `${id}-err` : hint ? `${id}-hint` : undefined;
  return html`<div class="field">
    <label for=${id}>${label}</label>
    <input id=${id} name=${name} data-testid=${testid} aria-invalid=${error ? "true" : undefined}
      aria-describedby=${described} ...${input} />
    ${error ? html`<p class="field-error" id=${`${id}-err`}>${error}</p>`
      : hint ? html`<p class="hint" id=${`${id}-hint`}>${hint}</p>` : null}
  </div>`;
}

export function FormError({ error }) {
  return error ? html`<p class="form-error" role="alert">${error}</p>` : null;
}

// The text of an ApiError for a form: field errors go next to fields, the rest above the button.
export function messageOf(error) {
  if (!error) return "";
  if (error.status === 0) return t("networkError");
  return error.body?.error || error.body?.detail || t("somethingWrong");
}

export function fieldErrors(error) {
  const out = {};
  for (const [field, list] of Object.entries(error?.fields || {})) out[field] = [].concat(list).join(" ");
  return out;
}

// Seconds left until `until` (ms since epoch), ticking once a second.
export function useCountdown(until) {
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    if (!until) return undefined;
    const timer = setInterval(() => setNow(Date.now()), 1000);
    return () => clearInterval(timer);
  }, [until]);
  return until ? Math.max(0, Math.ceil((until - now) / 1000)) : 0;
}

export const Icon = ({ d, size = 20 }) => html`<svg class="icon" width=${size} height=${size} viewBox="0 0 24 24"
  aria-hidden="true" focusable="false"><path d=${d} /></svg>`;

export const ICONS = {
  plus: "M12 5v14M5 12h14",
  send: "M4 12l16-8-6 16-2-7-8-1z",
  stop: "M7 7h10v10H7z",
  menu: "M4 6h16M4 12h16M4 18h16",
  copy: "M9 9h11v11H9zM5 15H4V4h11v1",
  edit: "M4 20h4L19 9l-4-4L4 16zM14 6l4 4",
  regen: "M20 11a8 8 0 1 0-2.3 5.7M20 5v6h-6",
  trash: "M5 7h14M10 11v6M14 11v6M6 7l1 13h10l1-13M9 7V4h6v3",
  moon: "M20 14.5A8 8 0 0 1 9.5 4 8 8 0 1 0 20 14.5z",
  sun: "M12 4V2M12 22v-2M4 12H2M22 12h-2M5 5l1.5 1.5M17.5 17.5 19 19M5 19l1.5-1.5M17.5 6.5 19 5M12 8a4 4 0 1 0 0 8 4 4 0 0 0 0-8z",
  chat: "M4 5h16v11H9l-5 4z",
  gauge: "M4 18a8 8 0 1 1 16 0M12 18l4-6",
  card: "M3 6h18v12H3zM3 10h18",
  out: "M15 4h4v16h-4M10 8l-4 4 4 4M6 12h10",
  close: "M6 6l12 12M18 6 6 18",
  console: "M4 19V9M10 19V5M16 19v-7M22 19H2",
  globe: "M12 3a9 9 0 1 0 0 18 9 9 0 0 0 0-18zM3 12h18M12 3c3 3 3 15 0 18M12 3c-3 3-3 15 0 18",
};
