"""Phone numbers: E.164 or a national number of the default region in, E.164 out."""

import phonenumbers

from shared.errors import ValidationFailed

MAX_INPUT_LENGTH = 32
INVALID = "Enter a valid phone number."


def normalize_phone(raw: str, region: str, field: str = "phone_number") -> str:
    """`09121234567` (region IR) → `+989121234567`; anything that is not a valid number → 400."""
    text = raw.strip()
    if not text or len(text) > MAX_INPUT_LENGTH:
        raise ValidationFailed(INVALID, fields={field: [INVALID]})
    try:
        number = phonenumbers.parse(text, region.upper())
    except phonenumbers.NumberParseException as exc:
        raise ValidationFailed(INVALID, fields={field: [INVALID]}) from exc
    if not phonenumbers.is_valid_number(number):
        raise ValidationFailed(INVALID, fields={field: [INVALID]})
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
