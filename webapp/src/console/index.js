// The staff console (loaded only when a staff user opens /admin…): its section tabs and screens.
import "./console.css";
import "./texts.js";
import { t } from "../i18n.js";
import { useSignal } from "../state.js";
import { html } from "../ui.js";
import { AuditScreen } from "./audit.js";
import { ChatbotsScreen } from "./chatbots.js";
import { Dashboard } from "./dashboard.js";
import { DiscountsScreen } from "./discounts.js";
import { NotAllowed, forbidden } from "./gate.js";
import { ModelsScreen } from "./models.js";
import { PaymentsScreen } from "./payments.js";
import { PlansScreen } from "./plans.js";
import { CONSOLE_HOME, SCREENS } from "./screens.js";
import { UsersScreen } from "./users.js";

const VIEWS = {
  plans: PlansScreen, models: ModelsScreen, chatbots: ChatbotsScreen, users: UsersScreen,
  discounts: DiscountsScreen, payments: PaymentsScreen, audit: AuditScreen,
};

export function Console({ path }) {
  const refused = useSignal(forbidden);
  const screen = /^\/admin\/(\w+)/.exec(path)?.[1] || "";
  if (refused) return html`<${NotAllowed} />`;
  const View = VIEWS[screen] || Dashboard;
  const tab = (href, key, name) => html`<a href=${href} data-nav data-testid=${`console-tab-${name}`}
    class=${`tab ${screen === key ? "on" : ""}`} aria-current=${screen === key ? "page" : undefined}>${t(`c_${name}`)}</a>`;
  return html`<div class="console" data-testid="console">
    <nav class="console-tabs" aria-label=${t("consoleNav")}>
      ${tab(CONSOLE_HOME, "", "dashboard")}
      ${SCREENS.map((name) => tab(`${CONSOLE_HOME}/${name}`, name, name))}
    </nav>
    <div class="console-body"><${View} key=${screen} /></div>
  </div>`;
}
