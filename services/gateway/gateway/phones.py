"""Phone numbers: E.164 or a national number of the default region in, E.164 out."""

import phonenumbers

from gateway.error_texts import EN
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


NO_SMS = EN["phone_cannot_receive_sms"]
# Types a code may go to: numbering plans that do not tell mobiles apart (US, CA) report FIXED_LINE_OR_MOBILE.
_SMS_TYPES = frozenset({phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE})


def check_can_receive_sms(phone: str, allowed_regions: frozenset[str], field: str = "phone_number") -> None:
    """Only mobiles of `SMS_ALLOWED_REGIONS` get codes: an SMS to a landline, a premium-rate or satellite
    number or another country costs money and is the raw material of SMS pumping fraud (400)."""
    number = phonenumbers.parse(phone)
    region = phonenumbers.region_code_for_number(number)
    if region not in allowed_regions or phonenumbers.number_type(number) not in _SMS_TYPES:
        raise ValidationFailed(NO_SMS, fields={field: [NO_SMS]})
