"""devinfra.stripe_local, the localstripe `make run` starts: Stripe.js's own confirm (publishable key +
the intent's client secret + the card) works only with the intent's secret, and the Stripe.js stand-in
is served without a key."""

import sys

import httpx
import pytest
from devinfra import stripe_local
from devinfra.system import free_port

from tests.support.processes import serving

CARD = {"payment_method_data[type]": "card", "payment_method_data[card][number]": "4242424242424242",
        "payment_method_data[card][exp_month]": "12", "payment_method_data[card][exp_year]": "34",
        "payment_method_data[card][cvc]": "123"}


@pytest.fixture(scope="module")
def local(tmp_path_factory):
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with serving([sys.executable, "-m", "devinfra.stripe_local"],
                 tmp_path_factory.mktemp("stripe_local") / "stripe_local.log",
                 lambda: httpx.get(url + stripe_local.STANDIN_PATH, timeout=2).status_code == 200,
                 env={"LOCALSTRIPE_PORT": str(port), "PATH": "/usr/bin:/bin"}):
        yield url


def intent(url: str) -> dict:
    created = httpx.post(f"{url}/v1/payment_intents", auth=(stripe_local.SECRET_KEY, ""), timeout=30,
                         data={"amount": "999", "currency": "usd"})
    assert created.status_code == 200, created.text
    return created.json()


def test_the_stand_in_is_served_without_a_key(local):
    script = httpx.get(local + stripe_local.STANDIN_PATH, timeout=30)
    assert script.headers["content-type"].startswith("application/javascript")
    assert "confirmCardPayment" in script.text


def test_confirming_with_the_publishable_key_needs_the_intents_client_secret(local):
    pi = intent(local)
    confirm = f"{local}/v1/payment_intents/{pi['id']}/confirm"
    other = intent(local)["client_secret"]
    refused = httpx.post(confirm, data={"key": stripe_local.PUBLISHABLE_KEY, "client_secret": other, **CARD}, timeout=30)
    assert refused.status_code == 401, refused.text
    no_key = httpx.post(confirm, data={"client_secret": pi["client_secret"], **CARD}, timeout=30)
    assert no_key.status_code == 401, no_key.text  # localstripe's own rule: no key, no call
    paid = httpx.post(confirm, data={"key": stripe_local.PUBLISHABLE_KEY, "client_secret": pi["client_secret"], **CARD},
                      headers={"Origin": "http://127.0.0.1:8000"}, timeout=30)
    assert paid.status_code == 200, paid.text
    assert paid.json()["status"] == "succeeded"
    assert paid.headers["access-control-allow-origin"] == "http://127.0.0.1:8000"  # the page's fetch may read it
    again = httpx.post(confirm, data={"key": stripe_local.PUBLISHABLE_KEY, "client_secret": pi["client_secret"], **CARD},
                       timeout=30)
    assert again.status_code == 400, again.text  # a succeeded intent is not paid twice
