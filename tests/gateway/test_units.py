"""Unit tests of the gateway's pure parts: phone normalisation, language choice, the message
catalogue, and the mapping of request-validation errors to field names."""

import pytest
from gateway.error_texts import EN, FA, Catalogue, language_of
from gateway.errors import validation_fields
from gateway.phones import normalize_phone

from shared.contracts.billing import WINDOW_FIELDS
from shared.errors import ValidationFailed

LIMIT_NAMES = (
    [f"{w}_{kind}" for w in WINDOW_FIELDS for kind in ("messages", "tokens")]
    + ["monthly_free_model_messages", "monthly_free_model_tokens", "max_tokens", "max_tokens_free",
       "max_openrouter_cost_usd"]
    + [f"{p}_image_generation" for p in ("daily", "weekly", "monthly")]
)


@pytest.mark.parametrize(
    ("raw", "region", "expected"),
    [
        ("09121234567", "IR", "+989121234567"),
        ("9121234567", "IR", "+989121234567"),
        (" 0912 123 4567 ", "IR", "+989121234567"),
        ("+989121234567", "IR", "+989121234567"),
        ("00989121234567", "IR", "+989121234567"),
        ("۰۹۱۲۱۲۳۴۵۶۷", "IR", "+989121234567"),  # Persian digits, as phones type them
        ("+44 20 7946 0958", "IR", "+442079460958"),  # E.164 input keeps its own country
        ("(202) 555-0143", "US", "+12025550143"),
        ("2025550143", "us", "+12025550143"),
    ],
)
def test_phone_numbers_normalise_to_e164(raw, region, expected):
    assert normalize_phone(raw, region) == expected


@pytest.mark.parametrize("raw", ["", "   ", "0912", "091212345678", "+98", "phone", "+0 123", "1" * 40])
def test_invalid_phone_numbers_are_refused_naming_the_field(raw):
    with pytest.raises(ValidationFailed) as info:
        normalize_phone(raw, "IR")
    assert list(info.value.details["fields"]) == ["phone_number"]


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, "en"), ("", "en"), ("fa", "fa"), ("fa-IR", "fa"), ("FA-ir", "fa"), ("en-US,en;q=0.9", "en"),
        ("de-DE", "en"), ("fa;q=0, en", "en"), ("en;q=0.3, fa;q=0.8", "fa"), ("de, fa;q=0.5", "fa"),
        ("fa;q=bogus, en", "en"), ("*", "en"),
    ],
)
def test_language_from_accept_language(header, expected):
    assert language_of(header) == expected


@pytest.mark.parametrize("name", LIMIT_NAMES)
def test_every_limit_has_an_english_and_a_persian_text(name):
    assert EN[name] and FA[name] and EN[name] != FA[name]


def test_there_are_twenty_limit_names():
    assert len(LIMIT_NAMES) == 20


def test_unknown_keys_fall_back_to_the_generic_text():
    assert Catalogue().text("a_future_limit", "fa") == FA["limit_exceeded"]


def test_overrides_may_use_placeholders_and_survive_broken_ones():
    catalogue = Catalogue({"en": {"daily_messages": "{used}/{limit}, retry in {retry_after}s", "max_tokens": "{0"}})
    assert catalogue.text("daily_messages", "en", used=5, limit=5, retry_after=None) == "5/5, retry in s"
    assert catalogue.text("max_tokens", "en") == "{0"
    assert catalogue.text("daily_messages", "fa") == FA["daily_messages"]


def test_validation_errors_use_the_requests_field_names():
    errors = [
        {"type": "missing", "loc": ("body", "chatbot_id"), "msg": "Field required"},
        {"type": "string_too_long", "loc": ("body", "title"), "msg": "long", "ctx": {"max_length": 200}},
        {"type": "int_parsing", "loc": ("query", "page"), "msg": "bad"},
        {"type": "string_type", "loc": ("header", "Idempotency-Key"), "msg": "bad"},
        {"type": "missing", "loc": ("body",), "msg": "Field required"},
        {"type": "int_type", "loc": ("body", "items", 0, "id"), "msg": "bad"},
    ]
    assert validation_fields(errors) == {
        "chatbot_id": ["This field is required."],
        "title": ["Ensure this field has no more than 200 characters."],
        "page": ["A valid integer is required."],
        "Idempotency-Key": ["Not a valid string."],
        "non_field_errors": ["A JSON request body is required."],
        "items.0.id": ["A valid integer is required."],
    }
