// The shell: who is signed in, which screen, the side bar, language and theme.
import { useEffect, useState } from "preact/hooks";
import { ApiError, api, get, setApiLanguage } from "./api.js";
import { AuthScreen } from "./auth.js";
import { RETURN_PATH, ReturnPage } from "./buy.js";
import { ChatView } from "./chat.js";
import { NotAllowed } from "./console/gate.js";
import { STRIPE_PATH, StripePayPage } from "./stripe.js";
import { lang, t } from "./i18n.js";
import { NewChat, PlanPage, UsagePage } from "./pages.js";
import { navigate, onLinkClick, route } from "./router.js";
import { useSignal, signal } from "./state.js";
import { refreshAccess, refreshSessions, sessions, staff, user } from "./store.js";
import { ICONS, Icon, html } from "./ui.js";

const AFTER_SIGN_IN = "mobix.afterSignIn";
const theme = signal(localStorage.getItem("mobix.theme") ||
  (matchMedia("(prefers-color-scheme: dark)").matches ? "dark" : "light"));

function applyDocument(language, mode) {
  const root = document.documentElement;
  root.lang = language;
  root.dir = language === "fa" ? "rtl" : "ltr";
  root.dataset.theme = mode;
  document.title = t("appName");
  setApiLanguage(language);
}

function Toolbar() {
  const language = useSignal(lang);
  const mode = useSignal(theme);
  const switchLang = () => {
    lang.value = language === "fa" ? "en" : "fa";
    localStorage.setItem("mobix.lang", lang.value);
  };
  const switchTheme = () => {
    theme.value = mode === "dark" ? "light" : "dark";
    localStorage.setItem("mobix.theme", theme.value);
  };
  return html`<div class="toolbar">
    <button type="button" class="chip" data-testid="language" onClick=${switchLang} lang=${language === "fa" ? "en" : "fa"}
      aria-label=${language === "fa" ? "English" : "فارسی"}><${Icon} d=${ICONS.globe} size=${16} />
      <span>${language === "fa" ? "English" : "فارسی"}</span></button>
    <button type="button" class="icon-btn" data-testid="theme" onClick=${switchTheme}
      aria-label=${`${t("theme")}: ${mode === "dark" ? t("light") : t("dark")}`} aria-pressed=${mode === "dark"}>
      <${Icon} d=${mode === "dark" ? ICONS.sun : ICONS.moon} /></button>
  </div>`;
}

function Sidebar({ path, open, onClose }) {
  const list = useSignal(sessions);
  const me = useSignal(user);
  const isStaff = useSignal(staff);
  const current = /^\/chat\/(\d+)/.exec(path)?.[1];
  async function signOut() {
    try { await api("POST", "/api/auth/logout/"); } catch { /* signed out either way */ }
    user.value = null;
    sessions.value = null;
    navigate("/login", { replace: true });
  }
  const nav = (href, icon, label, testid) => html`<a href=${href} data-nav data-testid=${testid}
    class=${`nav-link ${path === href ? "on" : ""}`} aria-current=${path === href ? "page" : undefined}>
    <${Icon} d=${icon} size=${18} /><span>${label}</span></a>`;
  return html`<nav class=${`sidebar ${open ? "open" : ""}`} aria-label=${t("menu")} onClick=${(e) => { if (e.target.closest("a")) onClose(); }}>
    <div class="side-top">
      <div class="brand"><span class="logo" aria-hidden="true">M</span><span>${t("appName")}</span></div>
      <button type="button" class="icon-btn only-phone" aria-label=${t("close")} onClick=${onClose}><${Icon} d=${ICONS.close} /></button>
    </div>
    <a href="/new" data-nav class="primary wide new-chat" data-testid="new-chat"><${Icon} d=${ICONS.plus} size=${18} /><span>${t("newChat")}</span></a>
    <h2 class="side-title">${t("chats")}</h2>
    <ul class="session-list" data-testid="sessions">
      ${list === null ? html`<li class="muted small">${t("loading")}</li>` : null}
      ${list && !list.length ? html`<li class="muted small">${t("noChats")}</li>` : null}
      ${(list || []).map((s) => html`<li key=${s.id}><a href=${`/chat/${s.id}`} data-nav data-testid="session"
        class=${`session ${String(s.id) === current ? "on" : ""}`} aria-current=${String(s.id) === current ? "page" : undefined}>
        <span class="session-title"><bdi>${s.title}</bdi></span><small>${s.chatbot.name}</small></a></li>`)}
    </ul>
    <div class="side-bottom">
      ${nav("/usage", ICONS.gauge, t("usage"), "nav-usage")}
      ${nav("/plan", ICONS.card, t("plan"), "nav-plan")}
      ${isStaff ? html`<a href="/admin" data-nav data-testid="nav-console" class=${`nav-link ${path.startsWith("/admin") ? "on" : ""}`}
        aria-current=${path.startsWith("/admin") ? "page" : undefined}><${Icon} d=${ICONS.console} size=${18} /><span>${t("console")}</span></a>` : null}
      <div class="me"><span class="avatar" aria-hidden="true">${(me?.name || "?").slice(0, 1)}</span>
        <span class="me-name">${me?.name}<small dir="ltr">${me?.phone_number}</small></span>
        <button type="button" class="icon-btn" data-testid="sign-out" aria-label=${t("signOut")} title=${t("signOut")} onClick=${signOut}>
          <${Icon} d=${ICONS.out} /></button></div>
    </div>
  </nav>`;
}

// The console's code is loaded the first time a staff user opens it: nobody else downloads it.
let consoleModule = null;
function StaffConsole({ path }) {
  const [loaded, setLoaded] = useState(consoleModule);
  useEffect(() => {
    if (!loaded) import("./console/index.js").then((m) => { consoleModule = m; setLoaded(m); });
  }, []);
  return loaded ? html`<${loaded.Console} path=${path} />` : html`<div class="page"><p class="muted">${t("loading")}</p></div>`;
}

function Main({ path }) {
  const isStaff = useSignal(staff);
  if (/^\/admin(\/|$)/.test(path)) {
    if (isStaff === undefined) return html`<div class="page"><p class="muted">${t("loading")}</p></div>`;
    return isStaff ? html`<${StaffConsole} path=${path} />` : html`<${NotAllowed} />`;
  }
  const chat = /^\/chat\/(\d+)\/?$/.exec(path);
  if (chat) return html`<${ChatView} sessionId=${Number(chat[1])} />`;
  if (path.startsWith("/new")) return html`<${NewChat} />`;
  if (path.startsWith("/usage")) return html`<${UsagePage} />`;
  if (path.startsWith("/plan")) return html`<${PlanPage} />`;
  if (path.startsWith(RETURN_PATH)) return html`<${ReturnPage} />`;
  if (path.startsWith(STRIPE_PATH)) return html`<${StripePayPage} />`;
  return html`<${Home} />`;
}

function Home() {
  const list = useSignal(sessions);
  useEffect(() => { if (list?.length) navigate(`/chat/${list[0].id}`, { replace: true }); }, [list]);
  return html`<div class="empty-state"><span class="logo big" aria-hidden="true">M</span>
    <p>${list && !list.length ? t("noChats") : t("pickChat")}</p>
    <a href="/new" data-nav class="primary">${t("newChat")}</a></div>`;
}

export function App() {
  const language = useSignal(lang);
  const mode = useSignal(theme);
  const me = useSignal(user);
  const path = useSignal(route);
  const [menuOpen, setMenuOpen] = useState(false);
  applyDocument(language, mode);

  useEffect(() => {
    get("/api/users/").then((data) => { user.value = data; }, (err) => {
      user.value = err instanceof ApiError && err.status === 401 ? null : null;
    });
  }, []);
  useEffect(() => { if (me) { refreshSessions(); refreshAccess(); } }, [me?.id]);
  useEffect(() => {
    if (me === null && !/^\/(login|signup)/.test(path)) {
      // A payment's result (the provider sent the browser back after the session ended) is shown after sign-in.
      if (path.startsWith(RETURN_PATH)) sessionStorage.setItem(AFTER_SIGN_IN, path + location.search);
      navigate("/login", { replace: true });
    }
    const next = me && sessionStorage.getItem(AFTER_SIGN_IN);
    if (next) sessionStorage.removeItem(AFTER_SIGN_IN);
    if (next?.startsWith(RETURN_PATH)) navigate(next, { replace: true });
    else if (me && /^\/(login|signup)/.test(path)) navigate("/", { replace: true });
  }, [me, path]);
  useEffect(() => setMenuOpen(false), [path]);

  if (me === undefined) return html`<div class="splash" aria-busy="true"><span class="logo big" aria-hidden="true">M</span></div>`;
  if (me === null) {
    return html`<div onClick=${onLinkClick}><${AuthScreen} path=${path} onUser=${(u) => { user.value = u; }} toolbar=${html`<${Toolbar} />`} /></div>`;
  }
  return html`<div class="shell" onClick=${onLinkClick}>
    <a class="skip" href="#main">${t("skip")}</a>
    <${Sidebar} path=${path} open=${menuOpen} onClose=${() => setMenuOpen(false)} />
    ${menuOpen ? html`<div class="scrim" onClick=${() => setMenuOpen(false)}></div>` : null}
    <div class="main-col">
      <header class="topbar">
        <button type="button" class="icon-btn only-phone" data-testid="menu" aria-label=${t("menu")}
          aria-expanded=${menuOpen} onClick=${() => setMenuOpen(true)}><${Icon} d=${ICONS.menu} /></button>
        <span class="topbar-brand only-phone">${t("appName")}</span>
        <span class="spacer"></span>
        <${Toolbar} />
      </header>
      <main id="main" tabindex="0" aria-label=${t("appName")}><${Main} path=${path} /></main>
    </div>
  </div>`;
}
