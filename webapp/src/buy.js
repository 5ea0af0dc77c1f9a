// Buying a plan (payments.md): the Buy / Upgrade buttons' checkout panel (quote with a discount code,
// then checkout to the provider's page), the page the provider sends the browser back to, and the
// payment history. Amounts are shown only; the API computes every one of them.
import { useEffect, useRef, useState } from "preact/hooks";
import { ApiError, get, post } from "./api.js";
import { date, money, t } from "./i18n.js";
import { navigate } from "./router.js";
import { Field, FormError, fieldErrors, html, messageOf } from "./ui.js";

// The page PAYMENT_RETURN_URL points to (the gateway's default; gateway/webapp.py serves it).
export const RETURN_PATH = "/payments/return";
const POLL_MS = 2000;

// Buy, Upgrade (a dearer plan than the current one) or Renew (the current one: a new period).
export function buyLabel(plan, current) {
  if (current && current.id === plan.id) return t("renew");
  return current && Number(plan.price) > Number(current.price) ? t("upgrade") : t("buy");
}

export function Checkout({ plan, current, onClose }) {
  const [code, setCode] = useState("");
  const [quote, setQuote] = useState(null);
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  const heading = useRef(null);

  async function ask(discount) {
    setBusy(true);
    setError(null);
    try {
      setQuote(await post("/api/payments/quote/", { subscription_type_id: plan.id, discount_code: discount || undefined }));
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  }
  // A new plan: its price without a code, and focus here so keyboard and screen-reader users follow.
  useEffect(() => { setCode(""); setQuote(null); ask(""); heading.current?.focus(); }, [plan.id]);

  async function apply(e) {
    e.preventDefault();
    await ask(code.trim());
  }

  async function pay() {
    setBusy(true);
    setError(null);
    try {
      const payment = await post("/api/payments/checkout/", { subscription_type_id: plan.id, discount_code: code.trim() || undefined });
      if (payment.status === "pending" && payment.redirect_url) {
        location.assign(payment.redirect_url); // the provider's page; it sends the browser back to RETURN_PATH
        return;
      }
      navigate(`${RETURN_PATH}?payment_id=${encodeURIComponent(payment.id)}&status=${encodeURIComponent(payment.status)}`);
    } catch (err) {
      setError(err);
      setBusy(false);
    }
  }

  const fields = fieldErrors(error);
  const general = error && !fields.discount_code ? messageOf(error) : null;
  const row = (key, value, testid, negative = false) => html`<div class="quote-row">
    <dt>${t(key)}</dt><dd data-testid=${testid}>${negative && Number(value) ? "− " : ""}${money(value, quote.currency)}</dd></div>`;
  return html`<section class="card checkout" data-testid="checkout" aria-labelledby="checkout-title">
    <div class="checkout-head">
      <h2 id="checkout-title" tabindex="-1" ref=${heading}>${buyLabel(plan, current)}: <bdi>${plan.name}</bdi></h2>
      <button type="button" class="ghost small" data-testid="checkout-close" onClick=${onClose}>${t("cancel")}</button>
    </div>
    <form class="discount-form" onSubmit=${apply} noValidate>
      <${Field} label=${t("discountCode")} name="discount_code" testid="discount-code" value=${code} dir="ltr"
        autocomplete="off" autocapitalize="characters" spellcheck=${false} maxLength=${64} error=${fields.discount_code}
        onInput=${(e) => setCode(e.currentTarget.value)} />
      <button type="submit" class="ghost" data-testid="apply-code" disabled=${busy || !code.trim()}>${t("applyCode")}</button>
    </form>
    ${quote ? html`<dl class="quote" data-testid="quote" aria-live="polite">
      ${row("originalAmount", quote.original_amount, "quote-original")}
      ${Number(quote.credit_amount) ? row("upgradeCredit", quote.credit_amount, "quote-credit", true) : null}
      ${Number(quote.discount_amount) ? row("discount", quote.discount_amount, "quote-discount", true) : null}
      <div class="quote-row total"><dt>${t("toPay")}</dt><dd data-testid="quote-amount">${money(quote.amount, quote.currency)}</dd></div>
    </dl>` : null}
    <${FormError} error=${general} />
    <button type="button" class="primary wide" data-testid="pay" disabled=${busy || !quote} onClick=${pay}>
      ${quote && !Number(quote.amount) ? t("activate") : t("checkout")}</button>
    <p class="muted small">${t("checkoutNote")}</p>
  </section>`;
}

const SETTLED = new Set(["completed", "failed", "cancelled", "expired", "refunded"]);

export function StatusBadge({ status }) {
  return html`<span class=${`badge status-${status}`} data-testid="status" data-status=${status}>${t(`status_${status}`)}</span>`;
}

export function ReturnPage() {
  const params = new URLSearchParams(location.search);
  const id = params.get("payment_id") || "";
  const [payment, setPayment] = useState(null);
  const [plan, setPlan] = useState(null);
  const [error, setError] = useState(null);

  useEffect(() => {
    if (!id) return undefined;
    let live = true;
    let timer = null;
    async function poll() {
      try {
        const found = await get(`/api/payments/${encodeURIComponent(id)}/`);
        if (!live) return;
        setPayment(found);
        if (!SETTLED.has(found.status)) { timer = setTimeout(poll, POLL_MS); return; }
        const subscription = await get("/api/users/subscription/").catch(() => null);
        if (live) setPlan(subscription?.subscription_type || null);
      } catch (err) {
        if (live) setError(err);
      }
    }
    poll();
    return () => { live = false; clearTimeout(timer); };
  }, [id]);

  const status = payment?.status || (id ? null : "unknown");
  return html`<div class="page narrow">
    <h1>${t("paymentResult")}</h1>
    <section class="card result" data-testid="payment-result" aria-live="polite">
      ${error ? html`<p role="alert">${error instanceof ApiError && error.status === 404 ? t("status_unknown") : messageOf(error)}</p>`
        : !status ? html`<p class="muted">${t("loading")}</p>`
        : html`<p class="result-status"><${StatusBadge} status=${status} /></p>
          <p>${t(`explain_${status}`)}</p>
          ${payment ? html`<p class="muted small">${money(payment.amount, payment.currency)} · ${date(payment.created_at)}</p>` : null}
          ${status === "completed" && plan ? html`<p>${t("yourPlanNow")} <strong data-testid="new-plan">${plan.name}</strong></p>` : null}`}
    </section>
    <p class="result-links"><a href="/plan" data-nav class="primary" data-testid="back-to-plan">${t("backToPlan")}</a>
      <a href="/usage" data-nav class="ghost">${t("usage")}</a></p>
  </div>`;
}

export function PaymentHistory({ plans }) {
  const [payments, setPayments] = useState(null);
  useEffect(() => { get("/api/payments/").then((data) => setPayments(Array.isArray(data) ? data : data?.results || []), () => setPayments([])); }, []);
  const nameOf = (id) => plans.find((p) => p.id === id)?.name || `#${id}`;
  return html`<section aria-labelledby="payments-title">
    <h2 class="section-title" id="payments-title">${t("payments")}</h2>
    ${payments === null ? html`<p class="muted">${t("loading")}</p>`
      : !payments.length ? html`<p class="muted" data-testid="no-payments">${t("noPayments")}</p>`
      : html`<ul class="payments" data-testid="payments">${payments.map((p) => html`<li key=${p.id} class="payment" data-testid="payment">
          <span class="payment-plan"><bdi>${nameOf(p.subscription_type_id)}</bdi><small class="muted">${date(p.created_at)}</small></span>
          <span class="payment-amount">${money(p.amount, p.currency)}</span>
          <${StatusBadge} status=${p.status} /></li>`)}</ul>`}
  </section>`;
}
