"""What the security tests attack: a user's real resources, and a valid request for every operation of
the OpenAPI document (so a refusal is about who asks, never about a malformed request)."""

from dataclasses import dataclass, field

from devinfra.system import read_code

from tests.api.harness import PREMIUM, Client, create_session, exchange, new_user

PUBLIC_PREFIX = "/api/auth/"
ADMIN_PREFIX = "/api/admin/"
# Public outside /api/auth/: the plans for sale, where Zibal sends the browser back, Stripe's signed webhook,
# and what the card page loads Stripe.js with (the publishable key is public by Stripe's design).
PUBLIC_PATHS = ("/api/plans/", "/api/payments/callback/zibal/", "/api/payments/webhook/stripe/",
                "/api/payments/stripe/config/")
PUBLIC = (PUBLIC_PREFIX, *PUBLIC_PATHS)  # for str.startswith

# Valid bodies by (METHOD, path template); operations without an entry take no body.
BODIES: dict[tuple[str, str], dict] = {
    ("POST", "/api/chat-sessions/"): {"chatbot_id": 1},
    ("PUT", "/api/chat-sessions/{session_id}/"): {"title": "Taken over"},
    ("PATCH", "/api/chat-sessions/{session_id}/"): {"title": "Taken over"},
    ("POST", "/api/chat-sessions/{session_id}/send/"): {"message": "Hello from someone else"},
    ("POST", "/api/chat-sessions/{session_id}/update-title/"): {"title": "Taken over"},
    ("POST", "/api/chat-sessions/{session_id}/messages/{message_id}/edit/"): {"content": "Rewritten"},
    ("POST", "/api/admin/subscription-types/"): {"name": "Sneaky", "sku": "SNEAKY", "price": "0"},
    ("PUT", "/api/admin/subscription-types/{plan_id}/"): {"name": "Sneaky", "sku": "SNEAKY", "price": "0"},
    ("PATCH", "/api/admin/subscription-types/{plan_id}/"): {"hourly_max_messages": 0},
    ("POST", "/api/admin/ai-models/"): {"name": "Sneaky", "model_id": "sneaky/model"},
    ("PUT", "/api/admin/ai-models/{item_id}/"): {"name": "Sneaky", "model_id": "sneaky/model"},
    ("PATCH", "/api/admin/ai-models/{item_id}/"): {"is_free": True},
    ("POST", "/api/admin/chatbots/"): {"name": "Sneaky"},
    ("PUT", "/api/admin/chatbots/{item_id}/"): {"name": "Sneaky"},
    ("PATCH", "/api/admin/chatbots/{item_id}/"): {"is_active": False},
    ("POST", "/api/admin/users/{user_id}/subscription/"): {"subscription_type_id": PREMIUM},
    ("POST", "/api/admin/users/{user_id}/staff/"): {"is_staff": True},
    ("POST", "/api/payments/quote/"): {"subscription_type_id": 2},
    ("POST", "/api/payments/checkout/"): {"subscription_type_id": 2},
    ("POST", "/api/admin/discount-codes/"): {"code": "SNEAKY", "discount_type": "percentage", "discount_value": "100"},
    ("PUT", "/api/admin/discount-codes/{code_id}/"): {"code": "SNEAKY", "discount_type": "fixed", "discount_value": "1"},
    ("PATCH", "/api/admin/discount-codes/{code_id}/"): {"is_active": True},
    ("POST", "/api/auth/register/"): {"phone_number": "+989350000000", "name": "X", "password": "long enough pw"},
    ("POST", "/api/auth/login/"): {"phone_number": "+989350000000", "password": "long enough pw"},
    ("POST", "/api/auth/otp/request/"): {"phone_number": "+989350000000"},
    ("POST", "/api/auth/otp/verify/"): {"phone_number": "+989350000000", "code": "000000"},
    ("POST", "/api/auth/password/"): {"new_password": "another long enough pw", "current_password": "x"},
    ("POST", "/api/auth/token/"): {"phone_number": "+989350000000", "password": "long enough pw"},
    ("POST", "/api/auth/tokens/"): {"name": "Sneaky"},
}


def body_for(method: str, path: str) -> dict | None:
    if (method, path) in BODIES:
        return BODIES[(method, path)]
    return {} if method in ("POST", "PUT", "PATCH") else None


@dataclass
class Owner:
    """A Premium user with a session holding one completed exchange."""

    client: Client
    session_id: int
    message_id: str
    reply_id: str
    marker: str
    ids: dict = field(default_factory=dict)


def make_owner(system, admin, marker: str) -> Owner:
    client = new_user(system, name=f"Owner {marker}")
    # A payment of their own, made on the free plan (no upgrade credit), left pending.
    payment = client.post("/api/payments/checkout/", json={"subscription_type_id": 2})
    assert payment.status_code == 201, payment.text
    response = admin.post(f"/api/admin/users/{client.user_id}/subscription/", json={"subscription_type_id": PREMIUM})
    assert response.status_code == 200, response.text
    session = create_session(client, title=f"Session {marker}")
    result = exchange(client, session["id"], f"Secret words {marker}")
    owner = Owner(client, session["id"], result["user_message"]["message_id"], result["messages"][-1]["message_id"], marker)
    owner.ids = {"session_id": owner.session_id, "message_id": owner.message_id, "chatbot_id": 1, "model_pk": 1,
                 "item_id": 1, "plan_id": 1, "user_id": client.user_id, "payment_id": payment.json()["id"],
                 "code_id": 1, "token_id": 1}
    return owner


def code_from_log(system, phone: str, timeout: float = 10) -> str:
    """The newest code the system's SMS emulator delivered to `phone` (the gateway sends it there through
    the same Kavenegar provider as in production)."""
    return read_code(system.sms_url, phone, timeout)
