// A stand-in for the part of Stripe.js (https://js.stripe.com/v3/) that MobixAI's payment page uses, for
// localstripe when Stripe.js is out of reach (offline development and tests). Served by
// `python -m devinfra.stripe_local` at /stripe-js/v3/; never used in production.
//
//   const stripe = Stripe(publishableKey);
//   const card = stripe.elements().create("card"); card.mount(element); card.on("change", fn);
//   const { paymentIntent, error } = await stripe.confirmCardPayment(clientSecret, { payment_method: { card } });
//
// confirmCardPayment sends what Stripe.js sends from a browser: the publishable key, the intent's client
// secret and the card as payment_method_data, to POST /v1/payment_intents/{id}/confirm on the server this
// script came from. The card fields are plain inputs (Stripe's are in its own iframe).
(function () {
  "use strict";
  const API = new URL(document.currentScript.src).origin;
  const FIELDS = [
    ["number", "Card number", "cc-number", "4242 4242 4242 4242"],
    ["expiry", "Expiry (MM / YY)", "cc-exp", "MM / YY"],
    ["cvc", "CVC", "cc-csc", "CVC"],
  ];

  class CardElement {
    constructor() {
      this.inputs = {};
      this.listeners = {};
      this.box = null;
    }

    mount(target) {
      const parent = typeof target === "string" ? document.querySelector(target) : target;
      this.box = document.createElement("div");
      this.box.className = "stripe-standin";
      for (const [name, label, autocomplete, placeholder] of FIELDS) {
        const input = document.createElement("input");
        input.name = `card-${name}`;
        input.autocomplete = autocomplete;
        input.inputMode = "numeric";
        input.placeholder = placeholder;
        input.dir = "ltr";
        input.setAttribute("aria-label", label);
        input.dataset.testid = `card-${name}`;
        input.addEventListener("input", () => this.emit("change", { complete: this.complete() }));
        this.inputs[name] = input;
        this.box.appendChild(input);
      }
      parent.appendChild(this.box);
    }

    unmount() {
      if (this.box) this.box.remove();
      this.box = null;
    }

    destroy() {
      this.unmount();
    }

    on(event, handler) {
      (this.listeners[event] = this.listeners[event] || []).push(handler);
    }

    emit(event, detail) {
      for (const handler of this.listeners[event] || []) handler(detail);
    }

    card() {
      const digits = (name) => (this.inputs[name]?.value || "").replace(/\D/g, "");
      const expiry = digits("expiry");
      return { number: digits("number"), exp_month: expiry.slice(0, 2), exp_year: expiry.slice(2), cvc: digits("cvc") };
    }

    complete() {
      const card = this.card();
      return card.number.length === 16 && card.exp_month.length === 2 && card.exp_year.length >= 2 && card.cvc.length === 3;
    }
  }

  window.Stripe = function Stripe(key) {
    return {
      elements() {
        return {
          create(type) {
            if (type !== "card") throw new Error(`the Stripe.js stand-in has only the card element, not ${type}`);
            return new CardElement();
          },
        };
      },

      async confirmCardPayment(clientSecret, data) {
        const intent = /^(pi_\w+?)_secret_/.exec(clientSecret || "")?.[1];
        const element = data?.payment_method?.card;
        if (!intent || !(element instanceof CardElement)) {
          return { error: { type: "invalid_request_error", message: "A client secret and a card element are required." } };
        }
        if (!element.complete()) {
          return { error: { type: "validation_error", code: "incomplete_card", message: "Your card details are incomplete." } };
        }
        const card = element.card();
        const body = new URLSearchParams({ key, client_secret: clientSecret, "payment_method_data[type]": "card" });
        for (const [field, value] of Object.entries(card)) body.append(`payment_method_data[card][${field}]`, value);
        try {
          const response = await fetch(`${API}/v1/payment_intents/${intent}/confirm`, { method: "POST", body });
          const answer = await response.json().catch(() => ({}));
          if (!response.ok || answer.error) {
            return { error: { type: "card_error", ...(answer.error || {}), message: answer.error?.message || `HTTP ${response.status}` } };
          }
          if (answer.status === "requires_action") {
            return { error: { type: "invalid_request_error", message: "This card needs authentication, which the stand-in does not do." } };
          }
          return { paymentIntent: answer };
        } catch (err) {
          return { error: { type: "api_connection_error", message: String(err) } };
        }
      },
    };
  };
})();
