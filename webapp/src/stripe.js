// The Stripe payment page (/pay/stripe/?payment_id=&client_secret=, billing's redirect_url for a
// Stripe payment): confirms the payment's PaymentIntent in the browser with Stripe.js, then goes to the
// result page, which waits for Stripe's webhook to complete the payment.
//
// Stripe.js comes from the URL the server names (GET /api/payments/stripe/config/): Stripe's own
// (js.stripe.com) in production, localstripe's stand-in offline. It is added as a script element only
// on this page, and the gateway's Content-Security-Policy admits that origin only on this page.
import { useEffect, useRef, useState } from "preact/hooks";
import { ApiError, get } from "./api.js";
import { RETURN_PATH } from "./buy.js";
import { money, t } from "./i18n.js";
import { FormError, html, messageOf } from "./ui.js";

export const STRIPE_PATH = "/pay/stripe/";
let loading = null;

// One script element per page load; a second call waits for the same one.
function loadStripeJs(url) {
  if (window.Stripe) return Promise.resolve(window.Stripe);
  loading ??= new Promise((resolve, reject) => {
    const script = document.createElement("script");
    script.src = url;
    script.async = true;
    script.onload = () => (window.Stripe ? resolve(window.Stripe) : reject(new Error("Stripe.js did not load")));
    script.onerror = () => { loading = null; reject(new Error("Stripe.js did not load")); };
    document.head.appendChild(script);
  });
  return loading;
}

// A full page load, so the result page runs under the app's usual (narrower) policy again.
function toResult(paymentId, status) {
  location.assign(`${RETURN_PATH}?payment_id=${encodeURIComponent(paymentId)}&status=${encodeURIComponent(status)}`);
}

export function StripePayPage() {
  const params = new URLSearchParams(location.search);
  const paymentId = params.get("payment_id") || "";
  const clientSecret = params.get("client_secret") || "";
  const [payment, setPayment] = useState(null);
  const [ready, setReady] = useState(false);
  const [complete, setComplete] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState(null);
  const mount = useRef(null);
  const stripe = useRef(null);
  const card = useRef(null);

  useEffect(() => {
    if (!paymentId || !clientSecret) { setError(new Error(t("status_unknown"))); return undefined; }
    let live = true;
    (async () => {
      try {
        const found = await get(`/api/payments/${encodeURIComponent(paymentId)}/`);
        if (!live) return;
        if (found.status !== "pending" || found.provider !== "stripe") { toResult(found.id, found.status); return; }
        setPayment(found);
        const config = await get("/api/payments/stripe/config/");
        const Stripe = await loadStripeJs(config.js_url);
        if (!live) return;
        stripe.current = Stripe(config.publishable_key);
        card.current = stripe.current.elements().create("card");
        card.current.on("change", (event) => setComplete(Boolean(event?.complete)));
        card.current.mount(mount.current);
        setReady(true);
      } catch (err) {
        if (live) setError(err);
      }
    })();
    return () => { live = false; card.current?.destroy(); card.current = null; };
  }, [paymentId, clientSecret]);

  async function pay(e) {
    e.preventDefault();
    setBusy(true);
    setError(null);
    const { error: declined, paymentIntent } = await stripe.current.confirmCardPayment(clientSecret, {
      payment_method: { card: card.current },
    });
    if (declined) {
      // The intent stays open (Stripe lets the customer try another card): show why and stay here.
      setError(new Error(declined.message || t("status_failed")));
      setBusy(false);
      return;
    }
    // The result page reads the payment itself (never this status): it completes with Stripe's webhook.
    toResult(paymentId, paymentIntent ? "pending" : "unknown");
  }

  return html`<div class="page narrow">
    <h1>${t("payByCard")}</h1>
    <form class="card checkout stripe-pay" data-testid="stripe-pay" onSubmit=${pay} noValidate>
      ${payment ? html`<p class="quote-row total"><span>${t("toPay")}</span>
        <span data-testid="stripe-amount">${money(payment.amount, payment.currency)}</span></p>` : null}
      <div class="card-element" data-testid="card-element" ref=${mount} aria-busy=${!ready}></div>
      <${FormError} error=${error instanceof ApiError ? messageOf(error) : error?.message} />
      <button type="submit" class="primary wide" data-testid="stripe-submit" disabled=${!ready || !complete || busy}>
        ${busy ? t("paying") : t("payNow")}</button>
      <p class="muted small">${t("stripeNote")}</p>
    </form>
    <p class="result-links"><a href="/plan" data-nav class="ghost" data-testid="stripe-cancel">${t("backToPlan")}</a></p>
  </div>`;
}
