"""The catalogue of localized error texts (English and Persian), overridable by operators.

Keys are limit names (api.md §4), the gateway's own throttles, the `unavailable`/`timeout` answers,
the auth/routing texts (`not_authenticated`, `not_found`, …) and one `field.<type>` text per kind of
field error. An operator's JSON file (`ERROR_MESSAGES_FILE`) replaces any text:
`{"fa": {"daily_messages": "..."}}`. Texts may use `{limit}`, `{used}` and `{retry_after}` (field
texts: the constraint, e.g. `{max_length}`). The English texts of §2/§4 are the contract: clients
match on them byte for byte.

Texts written by the services (chat, billing) arrive in English; `Catalogue.phrase` gives their
Persian from `FA_PHRASES` (exact) or `FA_PATTERNS` (with a variable part), else a generic text of
the same kind: an answer in Persian never falls back to English alone.
"""

import json
import logging
import re
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
    "field_required": "This field is required.",
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
    # selling plans: why a discount code or plan cannot be bought (payments.md)
    "payment_unknown": "This discount code does not exist.",
    "payment_inactive": "This discount code is not active.",
    "payment_not_started": "This discount code is not valid yet.",
    "payment_expired": "This discount code has expired.",
    "payment_wrong_plan": "This discount code is not for this plan.",
    "payment_used_up": "This discount code has been used up.",
    "payment_used_up_for_user": "You have already used this discount code.",
    "payment_not_for_sale": "This plan is not for sale.",
    "payment_bad_signature": "The Stripe-Signature header does not match this payload.",
    # auth, routing and request errors (api.md §2, §4)
    "not_authenticated": "Authentication credentials were not provided.",
    "invalid_token": "Invalid token.",
    "authentication_failed": "Invalid phone number or password.",
    "permission_denied": "You do not have permission to perform this action.",
    "csrf_failed": "CSRF Failed: {reason}",
    "not_found": "Not found.",
    "method_not_allowed": 'Method "{method}" not allowed.',
    "body_too_large": "The request body is larger than 1 MiB.",
    "bad_request": "Bad request.",
    "malformed_json": "Malformed JSON: {reason}.",
    "json_body_required": "A JSON request body is required.",
    "json_object_expected": "Expected a JSON object (send Content-Type: application/json).",
    "invalid_input": "Invalid input.",
    "error": "Error.",
    # generic texts of a kind, for a service's text without a translation
    "validation_error": "Invalid input.",
    "access_denied": "Your plan does not allow this.",
    "conflict": "The request conflicts with the current state.",
    "upstream_error": "The outside provider did not answer usefully. Try again later.",
    "idempotency_key_reused": "This Idempotency-Key was used with a different request body.",
    # field errors (`fields`), by kind; English ones not listed here keep the validator's own text
    "field.missing": "This field is required.",
    "field.string_type": "Not a valid string.",
    "field.int_type": "A valid integer is required.",
    "field.int_parsing": "A valid integer is required.",
    "field.bool_type": "Must be a valid boolean.",
    "field.bool_parsing": "Must be a valid boolean.",
    "field.uuid_parsing": "Must be a valid UUID.",
    "field.uuid_type": "Must be a valid UUID.",
    "field.extra_forbidden": "Unknown field.",
    "field.string_too_long": "Ensure this field has no more than {max_length} characters.",
    "field.string_too_short": "Ensure this field has at least {min_length} characters.",
}

# Persian of the field errors the English side leaves to the validator's own text (pydantic types).
FA_FIELDS: dict[str, str] = {
    "field.int_from_float": "یک عدد صحیح معتبر لازم است.",
    "field.float_type": "یک عدد معتبر لازم است.",
    "field.float_parsing": "یک عدد معتبر لازم است.",
    "field.decimal_type": "یک عدد اعشاری معتبر لازم است.",
    "field.decimal_parsing": "یک عدد اعشاری معتبر لازم است.",
    "field.decimal_max_places": "حداکثر {decimal_places} رقم اعشار مجاز است.",
    "field.decimal_max_digits": "حداکثر {max_digits} رقم مجاز است.",
    "field.decimal_whole_digits": "تعداد رقم‌های پیش از ممیز بیش از حد مجاز است.",
    "field.greater_than_equal": "باید بزرگ‌تر از {ge} یا برابر با آن باشد.",
    "field.greater_than": "باید بزرگ‌تر از {gt} باشد.",
    "field.less_than_equal": "باید کوچک‌تر از {le} یا برابر با آن باشد.",
    "field.less_than": "باید کوچک‌تر از {lt} باشد.",
    "field.literal_error": "مقدار مجاز نیست؛ مقدارهای مجاز: {expected}.",
    "field.enum": "مقدار مجاز نیست؛ مقدارهای مجاز: {expected}.",
    "field.list_type": "یک فهرست لازم است.",
    "field.too_long": "حداکثر {max_length} مورد مجاز است.",
    "field.too_short": "دست‌کم {min_length} مورد لازم است.",
    "field.string_pattern_mismatch": "قالب این مقدار نادرست است.",
    "field.dict_type": "یک شیء JSON لازم است.",
    "field.model_type": "یک شیء JSON لازم است.",
    "field.model_attributes_type": "یک شیء JSON لازم است.",
    "field.null": "این فیلد نمی‌تواند null باشد.",
    "field.control_characters": "نویسه‌های کنترلی (مانند NUL) مجاز نیستند.",
    "field.blank": "این فیلد نمی‌تواند خالی باشد.",
    "field.image_reference": "مسیری زیر /media/ یا نشانی‌ای با https:// وارد کنید.",
    "field.json_invalid": "JSON نادرست است.",
    "field.value_error": "مقدار نامعتبر است.",
    "field.invalid": "مقدار نامعتبر است.",
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
    "field_required": "این فیلد الزامی است.",
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
    "payment_unknown": "این کد تخفیف وجود ندارد.",
    "payment_inactive": "این کد تخفیف فعال نیست.",
    "payment_not_started": "این کد تخفیف هنوز معتبر نشده است.",
    "payment_expired": "این کد تخفیف منقضی شده است.",
    "payment_wrong_plan": "این کد تخفیف برای این طرح نیست.",
    "payment_used_up": "ظرفیت استفاده از این کد تخفیف تمام شده است.",
    "payment_used_up_for_user": "شما قبلاً از این کد تخفیف استفاده کرده‌اید.",
    "payment_not_for_sale": "این طرح برای فروش نیست.",
    "payment_bad_signature": "سرآیند Stripe-Signature با این محتوا مطابقت ندارد.",
    "not_authenticated": "اطلاعات ورود ارسال نشده است. لطفاً وارد شوید.",
    "invalid_token": "توکن نامعتبر است.",
    "authentication_failed": "شماره تلفن یا گذرواژه نادرست است.",
    "permission_denied": "شما اجازه انجام این کار را ندارید.",
    "csrf_failed": "بررسی CSRF ناموفق بود: {reason}",
    "not_found": "یافت نشد.",
    "method_not_allowed": "روش «{method}» مجاز نیست.",
    "body_too_large": "بدنه درخواست بزرگ‌تر از ۱ مگابایت است.",
    "bad_request": "درخواست نامعتبر است.",
    "malformed_json": "JSON نادرست است: {reason}.",
    "json_body_required": "بدنه درخواست باید JSON باشد.",
    "json_object_expected": "یک شیء JSON لازم است (Content-Type: application/json بفرستید).",
    "invalid_input": "ورودی نامعتبر است.",
    "error": "خطا.",
    "validation_error": "ورودی نامعتبر است.",
    "access_denied": "طرح شما اجازه این کار را نمی‌دهد.",
    "conflict": "این درخواست با وضعیت فعلی سازگار نیست.",
    "upstream_error": "سرویس‌دهنده بیرونی پاسخ درستی نداد. بعداً دوباره تلاش کنید.",
    "idempotency_key_reused": "این Idempotency-Key پیش‌تر با بدنه دیگری به کار رفته است.",
    "field.missing": "این فیلد الزامی است.",
    "field.string_type": "یک متن معتبر لازم است.",
    "field.int_type": "یک عدد صحیح معتبر لازم است.",
    "field.int_parsing": "یک عدد صحیح معتبر لازم است.",
    "field.bool_type": "باید true یا false باشد.",
    "field.bool_parsing": "باید true یا false باشد.",
    "field.uuid_parsing": "باید یک UUID معتبر باشد.",
    "field.uuid_type": "باید یک UUID معتبر باشد.",
    "field.extra_forbidden": "فیلد ناشناخته.",
    "field.string_too_long": "این فیلد نباید بیش از {max_length} نویسه داشته باشد.",
    "field.string_too_short": "این فیلد باید دست‌کم {min_length} نویسه داشته باشد.",
    **FA_FIELDS,
}

# Texts the services write (English), and their Persian. Exact texts first, then texts with a variable part.
FA_PHRASES: dict[str, str] = {
    "Not found.": "یافت نشد.",
    "No active subscription found": "اشتراک فعالی یافت نشد.",
    "This field is required.": "این فیلد الزامی است.",
    "Required fields are missing.": "فیلدهای الزامی ارسال نشده‌اند.",
    "Enter a valid date.": "یک تاریخ معتبر وارد کنید.",
    "The start date is after the end date.": "تاریخ شروع بعد از تاریخ پایان است.",
    "A report covers at most 366 days.": "یک گزارش حداکثر ۳۶۶ روز را در بر می‌گیرد.",
    "This field may not be blank.": "این فیلد نمی‌تواند خالی باشد.",
    "This field may not be null.": "این فیلد نمی‌تواند null باشد.",
    "Not a valid string.": "یک متن معتبر لازم است.",
    "Control characters (such as NUL) are not allowed.": "نویسه‌های کنترلی (مانند NUL) مجاز نیستند.",
    "Message must not be empty.": "پیام نمی‌تواند خالی باشد.",
    "Content must not be empty.": "متن نمی‌تواند خالی باشد.",
    "Title must be 1 to 200 characters.": "عنوان باید بین ۱ تا ۲۰۰ نویسه باشد.",
    "There is no reply to regenerate.": "پاسخی برای تولید دوباره وجود ندارد.",
    "Your plan does not include this AI model.": "طرح شما شامل این مدل هوش مصنوعی نیست.",
    "Your plan does not include this chatbot.": "طرح شما شامل این چت‌بات نیست.",
    "A reply is still in progress for this session.": "پاسخ قبلی این گفتگو هنوز در حال تولید است.",
    "No reply is in progress for this session.": "پاسخی در حال تولید برای این گفتگو نیست.",
    "A request with this Idempotency-Key is still being processed.": "درخواستی با این Idempotency-Key هنوز در حال پردازش است.",
    "A user with this phone number already exists.": "کاربری با این شماره تلفن از قبل وجود دارد.",
    "Subscriptions use this plan; set is_active to false instead.":
        "اشتراک‌هایی از این طرح استفاده می‌کنند؛ به جای حذف، is_active را false کنید.",
    "The default plan cannot be deleted.": "طرح پیش‌فرض را نمی‌توان حذف کرد.",
    "This chatbot has chat sessions; set is_active to false instead.":
        "این چت‌بات گفتگو دارد؛ به جای حذف، is_active را false کنید.",
    "This AI model is used by chat sessions or chatbots; set is_active to false instead.":
        "گفتگوها یا چت‌بات‌ها از این مدل استفاده می‌کنند؛ به جای حذف، is_active را false کنید.",
    "A plan with this name or sku already exists.": "طرحی با این نام یا sku از قبل وجود دارد.",
    "A plan with this name already exists.": "طرحی با این نام از قبل وجود دارد.",
    "A plan with this sku already exists.": "طرحی با این sku از قبل وجود دارد.",
    "The default plan's sku cannot change.": "sku طرح پیش‌فرض را نمی‌توان تغییر داد.",
    "Invalid plan.": "طرح نامعتبر است.",
    "Unknown plan.": "طرح ناشناخته است.",
    "Unknown AI model.": "مدل هوش مصنوعی ناشناخته است.",
    "An AI model with this model_id already exists.": "مدلی با این model_id از قبل وجود دارد.",
    'Must be "text" or "image".': "باید «text» یا «image» باشد.",
    "A decimal number is required.": "یک عدد اعشاری معتبر لازم است.",
    "Enter a path under /media/ or an https:// URL.": "مسیری زیر /media/ یا نشانی‌ای با https:// وارد کنید.",
    "Upload a PNG, JPEG, WebP or GIF picture (up to 1 MiB).":
        "تصویری با قالب PNG، JPEG، WebP یا GIF (حداکثر ۱ مگابایت) بارگذاری کنید.",
    "Enter the 6-digit code.": "کد ۶ رقمی را وارد کنید.",
    "The code is invalid or has expired.": "کد نادرست است یا منقضی شده است.",
    "Enter a valid phone number.": "یک شماره تلفن معتبر وارد کنید.",
    "Idempotency-Key must be 1 to 255 characters.": "Idempotency-Key باید بین ۱ تا ۲۵۵ نویسه باشد.",
    "Must be 1 to 255 characters.": "باید بین ۱ تا ۲۵۵ نویسه باشد.",
    "A name is required to create an account.": "برای ساختن حساب، نام لازم است.",
    "Last-Event-ID is not an event id of this stream.": "Last-Event-ID شناسه رویدادی از این جریان نیست.",
    "Not an event id of this stream.": "شناسه رویدادی از این جریان نیست.",
    "Invalid admission request.": "درخواست پذیرش نامعتبر است.",
    "CSRF cookie not set.": "کوکی CSRF تنظیم نشده است.",
    "CSRF token missing.": "توکن CSRF ارسال نشده است.",
    "CSRF token incorrect.": "توکن CSRF نادرست است.",
    "This exchange has already been billed.": "هزینه این پیام پیش‌تر محاسبه شده است.",
}
FA_PATTERNS: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"^Unknown or inactive chatbot: (?P<v>.*)$"), "چت‌بات ناشناخته یا غیرفعال: {v}"),
    (re.compile(r"^Unknown or inactive AI model: (?P<v>.*)$"), "مدل هوش مصنوعی ناشناخته یا غیرفعال: {v}"),
    (re.compile(r"^A (?P<a>\w+) chatbot needs a (?P<b>\w+) model(?P<rest>.*)$"), "چت‌بات از نوع {a} به مدلی از نوع {b} نیاز دارد."),
    (re.compile(r"^Ensure this field has no more than (?P<v>\d+) characters\.$"), "این فیلد نباید بیش از {v} نویسه داشته باشد."),
    (re.compile(r"^Ensure this field has at least (?P<v>\d+) characters\.$"), "این فیلد باید دست‌کم {v} نویسه داشته باشد."),
    (re.compile(r"^Must be between 0 and (?P<v>[\d.]+)\.$"), "باید بین ۰ و {v} باشد."),
    (re.compile(r"^Must be a whole number from (?P<a>\d+) to (?P<b>\d+)\.$"), "باید عددی صحیح از {a} تا {b} باشد."),
    (re.compile(r"^Must be from (?P<a>\d+) to (?P<b>[\d.]+)(?P<rest>.*)$"), "باید از {a} تا {b} باشد."),
    (re.compile(r"^This password is too short\. It must contain at least (?P<v>\d+) characters\.$"),
     "این گذرواژه کوتاه است؛ دست‌کم {v} نویسه لازم است."),
    (re.compile(r"^duration_days must be from (?P<a>\d+) to (?P<b>\d+)\.$"), "duration_days باید از {a} تا {b} باشد."),
    (re.compile(r"^(?P<field>[\w.]+): (?P<message>.+)$"), "{field}: {message}"),  # "<field>: <its message>"
]

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
        unknown = {key for texts in data.values() for key in texts} - set(EN) - set(FA) - set(FA_PHRASES)
        if unknown:
            log.warning("ERROR_MESSAGES_FILE overrides unknown message keys: %s", sorted(unknown))
        return cls(data)

    def phrase(self, english: str, language: Language, kind: str = "validation_error") -> str:
        """A service's English text in `language`: exact, by pattern, else the generic text of its kind."""
        if not english:
            return english
        if language == "en":  # an operator's override of a catalogue text, else the text as raised
            return self.text(_KEY_OF[english], language) if self._overridden_en and english in _KEY_OF else english
        override = self.texts.get(language, {}).get(english)
        if override is not None:
            return override
        if english in _KEY_OF:  # a text of the catalogue itself
            return self.text(_KEY_OF[english], language)
        if english in FA_PHRASES:
            return FA_PHRASES[english]
        for pattern, template in FA_PATTERNS:
            match = pattern.match(english)
            if match is None:
                continue
            values = match.groupdict()
            if "message" in values:  # "<field>: <its message>": the message is itself a phrase
                values["message"] = self.phrase(values["message"], language, kind)
            return template.format(**values)
        return self.text(kind, language)

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
