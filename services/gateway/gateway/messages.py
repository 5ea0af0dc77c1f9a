"""The catalogue of localized error texts (English and Persian), overridable by operators.

Keys are limit names (api.md §4) plus the gateway's own throttles and the `unavailable`/`timeout`
answers. An operator's JSON file (`ERROR_MESSAGES_FILE`) replaces any text:
`{"fa": {"daily_messages": "..."}}`. Texts may use `{limit}`, `{used}` and `{retry_after}`.
"""

import json
import logging
from pathlib import Path
from typing import Literal

log = logging.getLogger(__name__)
Language = Literal["en", "fa"]
LANGUAGES: tuple[Language, ...] = ("en", "fa")

EN: dict[str, str] = {
    "hourly_messages": "You have reached your plan's limit of messages per hour.",
    "hourly_tokens": "You have reached your plan's limit of tokens per hour.",
    "three_hours_messages": "You have reached your plan's limit of messages per 3 hours.",
    "three_hours_tokens": "You have reached your plan's limit of tokens per 3 hours.",
    "twelve_hours_messages": "You have reached your plan's limit of messages per 12 hours.",
    "twelve_hours_tokens": "You have reached your plan's limit of tokens per 12 hours.",
    "daily_messages": "You have reached your plan's limit of messages per day.",
    "daily_tokens": "You have reached your plan's limit of tokens per day.",
    "weekly_messages": "You have reached your plan's limit of messages per week.",
    "weekly_tokens": "You have reached your plan's limit of tokens per week.",
    "monthly_messages": "You have reached your plan's limit of messages per month.",
    "monthly_tokens": "You have reached your plan's limit of tokens per month.",
    "monthly_free_model_messages": "You have reached your plan's monthly limit of free-model messages.",
    "monthly_free_model_tokens": "You have reached your plan's monthly limit of free-model tokens.",
    "max_tokens": "You have used all the tokens of your plan for this period.",
    "max_tokens_free": "You have used all the free-model tokens of your plan for this period.",
    "max_openrouter_cost_usd": "You have reached your plan's spending limit for this period.",
    "daily_image_generation": "You have reached your plan's limit of image generations per day.",
    "weekly_image_generation": "You have reached your plan's limit of image generations per week.",
    "monthly_image_generation": "You have reached your plan's limit of image generations per month.",
    "login_failures": "Too many failed login attempts for this account. Try again later.",
    "login_failures_ip": "Too many failed login attempts from your network. Try again later.",
    "otp_cooldown": "Please wait a minute before requesting another code.",
    "otp_hourly_codes": "Too many codes were requested for this phone number. Try again later.",
    "sms_ip_hourly": "Too many codes were requested from your network. Try again later.",
    "sms_global_hourly": "Too many codes are being requested right now. Try again later.",
    "password_too_short": "This password is too short. It must contain at least 8 characters.",
    "password_all_spaces": "This password cannot be only spaces.",
    "password_too_common": "This password is too common.",
    "password_is_phone": "This password is your phone number.",
    "password_current_wrong": "Your current password was entered incorrectly.",
    "phone_cannot_receive_sms": "Codes can only be sent to mobile numbers of the supported countries.",
    "registration_unknown": "This registration has expired or is unknown; register again.",
    "code_invalid": "The code is invalid or has expired.",
    "phone_number_taken": "A user with this phone number already exists.",
    "last_staff_user": "The last staff user cannot give up the staff flag.",
    "limit_exceeded": "You have reached a usage limit of your plan.",
    "unavailable": "The service is temporarily unavailable. Please try again shortly.",
    "timeout": "The service took too long to answer. Please try again shortly.",
    "host_not_allowed": "This server does not answer to the requested host name.",
    "invalid_token": "Invalid token.",
}

FA: dict[str, str] = {
    "hourly_messages": "به سقف تعداد پیام‌های طرح خود در هر ساعت رسیده‌اید.",
    "hourly_tokens": "به سقف توکن‌های طرح خود در هر ساعت رسیده‌اید.",
    "three_hours_messages": "به سقف تعداد پیام‌های طرح خود در هر سه ساعت رسیده‌اید.",
    "three_hours_tokens": "به سقف توکن‌های طرح خود در هر سه ساعت رسیده‌اید.",
    "twelve_hours_messages": "به سقف تعداد پیام‌های طرح خود در هر دوازده ساعت رسیده‌اید.",
    "twelve_hours_tokens": "به سقف توکن‌های طرح خود در هر دوازده ساعت رسیده‌اید.",
    "daily_messages": "به سقف تعداد پیام‌های روزانه طرح خود رسیده‌اید.",
    "daily_tokens": "به سقف توکن‌های روزانه طرح خود رسیده‌اید.",
    "weekly_messages": "به سقف تعداد پیام‌های هفتگی طرح خود رسیده‌اید.",
    "weekly_tokens": "به سقف توکن‌های هفتگی طرح خود رسیده‌اید.",
    "monthly_messages": "به سقف تعداد پیام‌های ماهانه طرح خود رسیده‌اید.",
    "monthly_tokens": "به سقف توکن‌های ماهانه طرح خود رسیده‌اید.",
    "monthly_free_model_messages": "به سقف ماهانه پیام‌های مدل‌های رایگان طرح خود رسیده‌اید.",
    "monthly_free_model_tokens": "به سقف ماهانه توکن‌های مدل‌های رایگان طرح خود رسیده‌اید.",
    "max_tokens": "همه توکن‌های طرح خود را در این دوره مصرف کرده‌اید.",
    "max_tokens_free": "همه توکن‌های مدل‌های رایگان طرح خود را در این دوره مصرف کرده‌اید.",
    "max_openrouter_cost_usd": "به سقف هزینه طرح خود در این دوره رسیده‌اید.",
    "daily_image_generation": "به سقف تولید تصویر روزانه طرح خود رسیده‌اید.",
    "weekly_image_generation": "به سقف تولید تصویر هفتگی طرح خود رسیده‌اید.",
    "monthly_image_generation": "به سقف تولید تصویر ماهانه طرح خود رسیده‌اید.",
    "login_failures": "تلاش‌های ناموفق ورود به این حساب بیش از حد مجاز است. بعداً دوباره تلاش کنید.",
    "login_failures_ip": "تلاش‌های ناموفق ورود از شبکه شما بیش از حد مجاز است. بعداً دوباره تلاش کنید.",
    "otp_cooldown": "لطفاً یک دقیقه صبر کنید و سپس کد جدید درخواست کنید.",
    "otp_hourly_codes": "برای این شماره بیش از حد مجاز کد درخواست شده است. بعداً دوباره تلاش کنید.",
    "sms_ip_hourly": "از شبکه شما بیش از حد مجاز کد درخواست شده است. بعداً دوباره تلاش کنید.",
    "sms_global_hourly": "در حال حاضر درخواست کد بیش از حد زیاد است. بعداً دوباره تلاش کنید.",
    "password_too_short": "این رمز عبور کوتاه است. باید دست‌کم ۸ نویسه داشته باشد.",
    "password_all_spaces": "رمز عبور نمی‌تواند فقط از فاصله تشکیل شده باشد.",
    "password_too_common": "این رمز عبور بیش از حد رایج است.",
    "password_is_phone": "این رمز عبور همان شماره تلفن شماست.",
    "password_current_wrong": "رمز عبور فعلی شما نادرست وارد شده است.",
    "phone_cannot_receive_sms": "کد فقط به شماره‌های تلفن همراه کشورهای پشتیبانی‌شده فرستاده می‌شود.",
    "registration_unknown": "این ثبت‌نام منقضی شده یا ناشناخته است؛ دوباره ثبت‌نام کنید.",
    "code_invalid": "کد نادرست است یا منقضی شده است.",
    "phone_number_taken": "کاربری با این شماره تلفن از قبل وجود دارد.",
    "last_staff_user": "آخرین کاربر مدیر نمی‌تواند دسترسی مدیریت خود را بردارد.",
    "limit_exceeded": "به یکی از محدودیت‌های استفاده طرح خود رسیده‌اید.",
    "unavailable": "سرویس موقتاً در دسترس نیست. لطفاً کمی بعد دوباره تلاش کنید.",
    "timeout": "پاسخ سرویس بیش از حد طول کشید. لطفاً کمی بعد دوباره تلاش کنید.",
    "host_not_allowed": "این سرور به نام میزبان درخواست‌شده پاسخ نمی‌دهد.",
    "invalid_token": "توکن نامعتبر است.",
}

FALLBACK_KEY = "limit_exceeded"
# Error texts raised in English by the code (validation, conflicts) → their catalogue key.
_KEY_OF: dict[str, str] = {text: key for key, text in EN.items()}


class _KeepUnknown(dict):
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


class Catalogue:
    def __init__(self, overrides: dict[str, dict[str, str]] | None = None) -> None:
        self.texts: dict[str, dict[str, str]] = {"en": dict(EN), "fa": dict(FA)}
        for language, texts in (overrides or {}).items():
            self.texts.setdefault(language, {}).update(texts)
        self._overridden_en = bool((overrides or {}).get("en"))

    @classmethod
    def from_file(cls, path: str | None) -> "Catalogue":
        """The built-in texts with an operator's overrides; a broken file stops start-up with a reason."""
        if not path:
            return cls()
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise SystemExit(f"ERROR_MESSAGES_FILE {path!r} cannot be read as JSON: {exc}") from exc
        valid = isinstance(data, dict) and all(
            isinstance(texts, dict) and all(isinstance(k, str) and isinstance(v, str) for k, v in texts.items())
            for texts in data.values()
        )
        if not valid:
            raise SystemExit(f'ERROR_MESSAGES_FILE {path!r} must look like {{"fa": {{"daily_messages": "..."}}}}')
        unknown = {key for texts in data.values() for key in texts} - set(EN)
        if unknown:
            log.warning("ERROR_MESSAGES_FILE overrides unknown message keys: %s", sorted(unknown))
        return cls(data)

    def localize(self, english: str, language: Language) -> str:
        """An English error text the code raised, in `language`, when the catalogue has it (also as
        `field: text`, the summary of a validation error); else unchanged."""
        if language == "en" and not self._overridden_en:
            return english
        key = _KEY_OF.get(english)
        if key is not None:
            return self.text(key, language)
        field, sep, rest = english.partition(": ")
        if sep and rest in _KEY_OF:
            return f"{field}: {self.text(_KEY_OF[rest], language)}"
        return english

    def text(self, key: str, language: Language, **values: object) -> str:
        texts = self.texts.get(language) or self.texts["en"]
        template = texts.get(key) or self.texts["en"].get(key) or texts.get(FALLBACK_KEY) or EN[FALLBACK_KEY]
        try:
            return template.format_map(_KeepUnknown({k: "" if v is None else v for k, v in values.items()}))
        except (ValueError, IndexError, AttributeError, KeyError):
            return template  # an operator's text with a broken placeholder is shown as written


def language_of(accept_language: str | None) -> Language:
    """`fa`, `fa-IR` → Persian; anything else → English. Honours q-values (`en;q=0.9, fa` → fa)."""
    if not accept_language:
        return "en"
    ranked: list[tuple[float, int, str]] = []
    for position, part in enumerate(accept_language.split(",")[:20]):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        params = params.strip()
        if params.startswith("q="):
            try:
                quality = float(params[2:])
            except ValueError:
                quality = 0.0
        primary = tag.strip().lower().split("-")[0]
        if quality > 0 and primary in ("fa", "en"):
            ranked.append((-quality, position, primary))
    if not ranked:
        return "en"
    return "fa" if min(ranked)[2] == "fa" else "en"
