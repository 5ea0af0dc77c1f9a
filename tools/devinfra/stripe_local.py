"""`python -m devinfra.stripe_local`: localstripe (a third-party stateful fake of Stripe's API) for
`make run` and the browser tests, when no STRIPE_API_KEY is set.

It runs localstripe's own application, with three additions that make the browser's side of a
PaymentIntent work offline:
- Stripe.js's confirm: `POST /v1/payment_intents/{id}/confirm` with the publishable key, the intent's
  `client_secret` and `payment_method_data[card][…]` (what Stripe.js sends from a browser; localstripe
  itself only confirms with the secret key).
- `GET /stripe-js/v3/`: a stand-in for the part of Stripe.js the payment page uses (`Stripe(key)`,
  `elements().create("card").mount()`, `confirmCardPayment`), speaking that confirm. Stripe.js itself
  is only ever loaded from js.stripe.com, which is out of reach offline.
- The gateway's webhook route is registered at start (`STRIPE_WEBHOOK_URL`, signed with
  `STRIPE_WEBHOOK_SECRET`), so events reach billing as Stripe's would.

It listens on 127.0.0.1 only and keeps its data in memory (localstripe would otherwise write every
change to one shared file in /tmp).
"""

import logging
import os
import re
from pathlib import Path

CONFIRM = re.compile(r"^/v1/payment_intents/(pi_\w+)/confirm$")
STANDIN = Path(__file__).with_name("stripe-js-standin.js")
STANDIN_PATH = "/stripe-js/v3/"
DEFAULT_PORT = 8094


# Made-up keys: localstripe takes any sk_/pk_ key. (The webhook secret is the caller's: make run makes
# one per run.)
SECRET_KEY, PUBLISHABLE_KEY = "sk_test_localstripe", "pk_test_localstripe"
WEBHOOK_PATH = "/api/payments/webhook/stripe/"


def dev_env(port: int, gateway_url: str, webhook_secret: str) -> dict[str, str]:
    """The settings that point billing, the gateway and this process at each other."""
    base = f"http://127.0.0.1:{port}"
    return {
        "LOCALSTRIPE_PORT": str(port),
        "STRIPE_API_KEY": SECRET_KEY,
        "STRIPE_WEBHOOK_SECRET": webhook_secret,
        "STRIPE_API_BASE": base,
        "STRIPE_PUBLISHABLE_KEY": PUBLISHABLE_KEY,
        "STRIPE_JS_URL": base + STANDIN_PATH,
        "STRIPE_WEBHOOK_URL": gateway_url.rstrip("/") + WEBHOOK_PATH,
    }


def _publishable(data: dict) -> bool:
    key = data.get("key")
    return isinstance(key, str) and key.startswith("pk_")


def _browser_side():
    from aiohttp import web
    from localstripe.errors import UserError
    from localstripe.resources import PaymentIntent, PaymentMethod
    from localstripe.server import get_post_data, json_response

    @web.middleware
    async def browser_side(request, handler):
        """What a browser asks of Stripe: Stripe.js itself, and the publishable-key confirm."""
        if request.method in ("GET", "HEAD") and request.path == STANDIN_PATH:
            return _standin()  # ahead of localstripe's key check: a page loads it with no key
        match = CONFIRM.match(request.path)
        if request.method != "POST" or match is None or request.headers.get("Authorization"):
            return await handler(request)
        data = await get_post_data(request, remove_auth=False) or {}
        if not _publishable(data):
            return await handler(request)
        try:
            intent = PaymentIntent._api_retrieve(match.group(1))
            if data.get("client_secret") != intent.client_secret:
                raise UserError(401, "Unauthorized")
            method_data = data.get("payment_method_data")
            if not isinstance(method_data, dict) or method_data.get("type") != "card":
                raise UserError(400, "payment_method_data[type]=card is required")
            if intent.status not in ("requires_payment_method", "requires_confirmation"):
                raise UserError(400, f"This PaymentIntent's status is {intent.status}")
            if intent.status == "requires_payment_method":
                intent.latest_charge = None  # a declined card before: Stripe lets the customer try another
            method = PaymentMethod._api_create(type="card", card=method_data.get("card"),
                                               billing_details=method_data.get("billing_details"))
            intent.payment_method = method.id
            intent._confirm(on_failure_now=intent._report_failure)
        except UserError as exc:
            return exc.to_response()
        return json_response(intent._export())

    return browser_side


def _standin():
    from aiohttp import web

    return web.Response(text=STANDIN.read_text(), content_type="application/javascript",
                        headers={"Cache-Control": "no-cache"})


def build_app():
    """localstripe's application with this module's additions (aiohttp comes with localstripe)."""
    from localstripe import server
    from localstripe.resources import store
    from localstripe.webhooks import register_webhook

    store.dump_to_disk = lambda: None  # in memory only: see the module's docstring
    app = server.app
    app.middlewares.insert(0, _browser_side())  # ahead of localstripe's key check
    url, secret = os.environ.get("STRIPE_WEBHOOK_URL", ""), os.environ.get("STRIPE_WEBHOOK_SECRET", "")
    if url and secret:
        register_webhook("mobix", url, secret, None)
    return app


def main() -> None:
    from aiohttp import web

    logging.basicConfig(level=os.environ.get("LOG_LEVEL", "INFO"))
    port = int(os.environ.get("LOCALSTRIPE_PORT", DEFAULT_PORT))
    web.run_app(build_app(), host="127.0.0.1", port=port, access_log=None, print=None)


if __name__ == "__main__":
    main()
