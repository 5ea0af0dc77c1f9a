// Users: search by phone, one user's usage, move them to another plan, the staff flag.
import { useState } from "preact/hooks";
import { get, post } from "../api.js";
import { date, limitLabel, number, t } from "../i18n.js";
import { html, messageOf } from "../ui.js";
import { Confirm, DataTable, Loading, Notice, YesNo, listOf, useLoad } from "./kit.js";

const PAGE = 50;

function UsageList({ userId }) {
  const { data, error } = useLoad(() => get(`/api/admin/users/${userId}/usage/`), [userId]);
  if (!data) return html`<${Loading} error=${error} />`;
  const rows = [...data.limits].sort((a, b) => (!Number(a.limit)) - (!Number(b.limit)));
  return html`<ul class="usage-list" data-testid="user-usage">${rows.map((row) => {
    const cap = Number(row.limit);
    const ratio = cap ? Math.min(1, Number(row.used) / cap) : 0;
    return html`<li data-name=${row.name}><span class="usage-name">${limitLabel(row.name)}</span>
      <span class="bar-track"><span class=${`bar-fill ${ratio >= 1 ? "full" : ratio >= 0.8 ? "high" : ""}`} style=${{ width: `${ratio * 100}%` }}></span></span>
      <span class="usage-num">${cap ? `${number(Number(row.used))} / ${number(cap)}` : `${number(Number(row.used))} · ${t("unlimited")}`}</span></li>`;
  })}</ul>`;
}

function UserPanel({ user, plans, onChanged, onClose }) {
  const [planId, setPlanId] = useState(String(user.subscription?.subscription_type?.id || plans[0]?.id || ""));
  const [days, setDays] = useState("");
  const [notice, setNotice] = useState("");
  const [failure, setFailure] = useState("");
  async function run(action, done) {
    setNotice(""); setFailure("");
    try { await action(); setNotice(done); onChanged(); } catch (err) { setFailure(messageOf(err)); }
  }
  const movePlan = (e) => {
    e.preventDefault();
    run(() => post(`/api/admin/users/${user.id}/subscription/`, {
      subscription_type_id: Number(planId), duration_days: days.trim() ? Number(days) : null }), t("planChanged"));
  };
  const sub = user.subscription;
  return html`<section class="card editor" data-testid="user-panel" aria-labelledby="user-title">
    <div class="editor-head"><h2 id="user-title"><bdi dir="ltr">${user.phone_number}</bdi> · <bdi>${user.name}</bdi></h2>
      <button type="button" class="ghost small" onClick=${onClose}>${t("close")}</button></div>
    <p class="muted">${t("col_plan")}: <strong data-testid="user-plan">${sub ? sub.subscription_type.name : t("noSubscription")}</strong>
      ${[sub ? (sub.end_date ? t("until", { d: date(sub.end_date) }) : t("noEnd")) : null, `${t("col_joined")}: ${date(user.date_joined)}`]
        .filter(Boolean).map((part) => ` · ${part}`).join("")}</p>
    <form class="inline-form" onSubmit=${movePlan}>
      <div class="field"><label for="move-plan">${t("changePlan")}</label>
        <select id="move-plan" data-testid="move-plan" value=${planId} onChange=${(e) => setPlanId(e.currentTarget.value)}>
          ${plans.map((p) => html`<option value=${p.id}>${p.name}</option>`)}</select></div>
      <div class="field"><label for="move-days">${t("durationOverride")}</label>
        <input id="move-days" inputmode="numeric" dir="ltr" data-testid="move-days" value=${days} onInput=${(e) => setDays(e.currentTarget.value)} /></div>
      <button type="submit" class="primary" data-testid="move-submit">${t("movePlan")}</button>
    </form>
    <div class="row-start">
      <${Confirm} testid="toggle-staff" small label=${user.is_staff ? t("removeStaff") : t("makeStaff")}
        question=${`${user.is_staff ? t("removeStaff") : t("makeStaff")}: ${user.phone_number}?`}
        onConfirm=${() => run(() => post(`/api/admin/users/${user.id}/staff/`, { is_staff: !user.is_staff }), t("staffChanged"))} />
    </div>
    <${Notice} text=${notice} />
    ${failure ? html`<p class="form-error" role="alert">${failure}</p>` : null}
    <h3 class="section-title">${t("usage")}</h3>
    <${UsageList} userId=${user.id} key=${`${user.id}-${sub?.id}`} />
  </section>`;
}

export function UsersScreen() {
  const [phone, setPhone] = useState("");
  const [query, setQuery] = useState("");
  const [openId, setOpenId] = useState(null);
  const { data, error, reload } = useLoad(() => Promise.all([
    get(`/api/admin/users/?page=1&page_size=${PAGE}${query ? `&phone=${encodeURIComponent(query)}` : ""}`),
    get("/api/admin/subscription-types/"),
  ]), [query]);
  const [page, plans] = data ? [data[0], listOf(data[1])] : [null, []];
  const users = listOf(page);
  const open = users.find((u) => u.id === openId);
  const columns = [
    { key: "phone_number", label: t("col_phone"), render: (u) => html`<bdi dir="ltr">${u.phone_number}</bdi>` },
    { key: "name", label: t("col_name"), render: (u) => html`<bdi>${u.name}</bdi>` },
    { key: "plan", label: t("col_plan"), render: (u) => u.subscription?.subscription_type?.name || t("noSubscription"),
      csv: (u) => u.subscription?.subscription_type?.name || "" },
    { key: "until", label: t("col_until"), render: (u) => (u.subscription?.end_date ? date(u.subscription.end_date) : t("none")),
      csv: (u) => u.subscription?.end_date || "" },
    { key: "is_staff", label: t("col_staff"), render: (u) => html`<${YesNo} value=${u.is_staff} />` },
    { key: "date_joined", label: t("col_joined"), render: (u) => date(u.date_joined) },
  ];
  return html`<div>
    <div class="console-head"><h1>${t("c_users")}</h1>
      <form class="search" role="search" onSubmit=${(e) => { e.preventDefault(); setQuery(phone.trim()); setOpenId(null); }}>
        <label class="sr-only" for="user-search">${t("searchPhone")}</label>
        <input id="user-search" type="search" inputmode="tel" dir="ltr" placeholder=${t("searchPhone")} data-testid="user-search"
          value=${phone} onInput=${(e) => setPhone(e.currentTarget.value)} />
        <button type="submit" class="ghost" data-testid="user-search-submit">${t("search")}</button>
      </form></div>
    ${open ? html`<${UserPanel} key=${open.id} user=${open} plans=${plans} onChanged=${reload} onClose=${() => setOpenId(null)} />` : null}
    ${!data ? html`<${Loading} error=${error} />` : html`<${DataTable} label=${t("c_users")} name="users" testid="users-table" onRow=${(u) => setOpenId(u.id)}
      rows=${users} columns=${columns} empty=${t("noUsers")} />
      ${page.count > users.length ? html`<p class="muted small">${number(users.length)} / ${number(page.count)}</p>` : null}`}
  </div>`;
}
