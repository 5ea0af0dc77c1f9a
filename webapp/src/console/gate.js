// Who may see the console: staff only. The link and the page follow GET /api/users/access/; the
// API refuses every admin call of anyone else regardless, and a 403 there (the flag was just taken
// away) turns the console into this same page.
import { t } from "../i18n.js";
import { signal } from "../state.js";
import { html } from "../ui.js";

export const forbidden = signal(false);

export function NotAllowed() {
  return html`<div class="page narrow not-allowed" data-testid="not-allowed">
    <section class="card" aria-labelledby="not-allowed-title">
      <span class="lock" aria-hidden="true">!</span>
      <h1 id="not-allowed-title">${t("notAllowedTitle")}</h1>
      <p>${t("notAllowed")}</p>
      <p><a href="/" data-nav class="primary">${t("backHome")}</a></p>
    </section>
  </div>`;
}
