// Payments: newest first, filtered by status or user, a page at a time; a completed one can be refunded.
import { useState } from "preact/hooks";
import { get, post } from "../api.js";
import { date, money, number, t } from "../i18n.js";
import { html, messageOf } from "../ui.js";
import { StatusBadge } from "../buy.js";
import { Confirm, DataTable, Loading, Notice, listOf, useLoad } from "./kit.js";

const PAGE = 50;
const STATUSES = ["pending", "completed", "failed", "cancelled", "expired", "refunded"];

export function PaymentsScreen() {
  const [filter, setFilter] = useState({ status: "", user: "" });
  const [userBox, setUserBox] = useState("");
  const [page, setPage] = useState(1);
  const [notice, setNotice] = useState("");
  const query = new URLSearchParams({ page: String(page), page_size: String(PAGE) });
  if (filter.status) query.set("status", filter.status);
  if (filter.user) query.set("user", filter.user);
  const { data, error, reload } = useLoad(() => Promise.all([get(`/api/admin/payments/?${query}`), get("/api/admin/subscription-types/")]), [query.toString()]);
  const [envelope, plans] = data ? [data[0], listOf(data[1])] : [null, []];
  const payments = listOf(envelope);
  const planName = (id) => plans.find((p) => p.id === id)?.name || `#${id}`;
  async function refund(payment) {
    setNotice("");
    try { await post(`/api/admin/payments/${payment.id}/refund/`); setNotice(t("refunded")); reload(); } catch (err) { setNotice(messageOf(err)); }
  }
  const columns = [
    { key: "created_at", label: t("col_date"), render: (p) => date(p.created_at) },
    { key: "user_id", label: t("col_user"), num: true },
    { key: "subscription_type_id", label: t("col_plan"), render: (p) => html`<bdi>${planName(p.subscription_type_id)}</bdi>` },
    { key: "amount", label: t("col_amount"), num: true, render: (p) => money(p.amount, p.currency) },
    { key: "currency", label: t("f_currency"), hidden: true },
    { key: "discount_amount", label: t("discount"), hidden: true },
    { key: "provider", label: t("col_provider") },
    { key: "status", label: t("col_status"), render: (p) => html`<${StatusBadge} status=${p.status} />` },
    { key: "id", label: "", render: (p) => (p.status === "completed" ? html`<${Confirm} small danger testid="refund" label=${t("refund")}
        question=${t("confirmRefund", { amount: money(p.amount, p.currency), phone: `#${p.user_id}` })} onConfirm=${() => refund(p)} />` : null),
      csvLabel: "id" },
  ];
  return html`<div>
    <div class="console-head"><h1>${t("c_payments")}</h1>
      <form class="search" onSubmit=${(e) => { e.preventDefault(); setPage(1); setFilter({ ...filter, user: userBox.replace(/\D/g, "") }); }}>
        <label class="sr-only" for="pay-status">${t("filterStatus")}</label>
        <select id="pay-status" data-testid="payment-status" value=${filter.status}
          onChange=${(e) => { setPage(1); setFilter({ ...filter, status: e.currentTarget.value }); }}>
          <option value="">${t("filterStatus")}: ${t("all")}</option>
          ${STATUSES.map((s) => html`<option value=${s}>${t(`status_${s}`)}</option>`)}</select>
        <label class="sr-only" for="pay-user">${t("filterUser")}</label>
        <input id="pay-user" inputmode="numeric" dir="ltr" placeholder=${t("filterUser")} data-testid="payment-user" size="8"
          value=${userBox} onInput=${(e) => setUserBox(e.currentTarget.value)} />
        <button type="submit" class="ghost">${t("search")}</button>
      </form></div>
    <${Notice} text=${notice} />
    ${!data ? html`<${Loading} error=${error} />` : html`<${DataTable} label=${t("c_payments")} name="payments" testid="payments-table" rows=${payments}
        columns=${columns.filter((c) => !c.hidden)} csvColumns=${columns.map((c) => ({ ...c, render: undefined }))} />
      <div class="pager">
        <button type="button" class="ghost small" aria-label=${t("previousPage")} disabled=${!envelope.previous} onClick=${() => setPage(page - 1)}>‹</button>
        <span class="muted small" data-testid="pager">${number(page)} / ${number(Math.max(1, Math.ceil(envelope.count / PAGE)))}</span>
        <button type="button" class="ghost small" aria-label=${t("nextPage")} disabled=${!envelope.next} onClick=${() => setPage(page + 1)}>›</button>
      </div>`}
  </div>`;
}
