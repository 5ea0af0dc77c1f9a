"""Everything the bot says, in English and Persian. The language is the user's choice (/lang), else
Telegram's `language_code` (fa → Persian). Errors from the API come already localized (the bot sends
`Accept-Language`), so only the bot's own words are here."""

EN = {
    "share_contact": "Welcome to MobixAI! To link your account, share your phone number with the button below.",
    "share_button": "📱 Share my phone number",
    "not_own_contact": "Please share your own contact with the button below, not someone else's.",
    "linked": "Your MobixAI account is linked. Just write to chat; /new starts a chat, /chats switches, "
              "/usage shows your limits, /plan your plan, /lang the language.",
    "link_first": "Please link your account first: send /start.",
    "stop": "⏹ Stop",
    "regenerate": "🔄 Regenerate",
    "thinking": "…",
    "stopped": "Stopped.",
    "nothing_to_stop": "Nothing is being written now.",
    "reply_failed": "The reply failed: {error}",
    "choose_chatbot": "Choose a chatbot:",
    "choose_model": "Choose a model:",
    "no_chatbots": "Your plan allows no chatbot.",
    "no_models": "Your plan allows no model for this chatbot.",
    "new_chat": "New chat with {chatbot} ({model}). Write your message.",
    "no_chats": "You have no chats yet; just write to start one.",
    "your_chats": "Your recent chats (tap to switch):",
    "switched": "Switched to “{title}”.",
    "usage_title": "Your limits:",
    "usage_line": "{name}: {used} / {limit}",
    "usage_resets": " (resets in {minutes} min)",
    "plan": "Your plan: {name}{until}\nTo buy or change a plan: {url}",
    "plan_until": " until {date}",
    "no_plan": "You have no active plan.\nTo buy one: {url}",
    "choose_lang": "Choose your language:",
    "lang_set": "Language: English.",
    "edit_not_found": "That message cannot be edited here any more.",
    "error": "Something went wrong; please try again.",
}

FA = {
    "share_contact": "به MobixAI خوش آمدید! برای اتصال حساب، شماره تلفن خود را با دکمهٔ زیر به اشتراک بگذارید.",
    "share_button": "📱 اشتراک شمارهٔ من",
    "not_own_contact": "لطفاً مخاطب خودتان را با دکمهٔ زیر بفرستید، نه مخاطب شخص دیگری را.",
    "linked": "حساب MobixAI شما متصل شد. کافی است بنویسید؛ /new گفتگوی تازه، /chats تغییر گفتگو، "
              "/usage محدودیت‌ها، /plan طرح شما، /lang زبان.",
    "link_first": "لطفاً ابتدا حساب خود را متصل کنید: /start را بفرستید.",
    "stop": "⏹ توقف",
    "regenerate": "🔄 تولید دوباره",
    "thinking": "…",
    "stopped": "متوقف شد.",
    "nothing_to_stop": "اکنون پاسخی در حال نوشتن نیست.",
    "reply_failed": "پاسخ ناموفق بود: {error}",
    "choose_chatbot": "یک چت‌بات انتخاب کنید:",
    "choose_model": "یک مدل انتخاب کنید:",
    "no_chatbots": "طرح شما هیچ چت‌باتی را مجاز نمی‌کند.",
    "no_models": "طرح شما هیچ مدلی را برای این چت‌بات مجاز نمی‌کند.",
    "new_chat": "گفتگوی تازه با {chatbot} ({model}). پیام خود را بنویسید.",
    "no_chats": "هنوز گفتگویی ندارید؛ کافی است بنویسید.",
    "your_chats": "گفتگوهای اخیر شما (برای تغییر لمس کنید):",
    "switched": "به «{title}» رفتید.",
    "usage_title": "محدودیت‌های شما:",
    "usage_line": "{name}: {used} / {limit}",
    "usage_resets": " (بازنشانی تا {minutes} دقیقهٔ دیگر)",
    "plan": "طرح شما: {name}{until}\nبرای خرید یا تغییر طرح: {url}",
    "plan_until": " تا {date}",
    "no_plan": "طرح فعالی ندارید.\nبرای خرید: {url}",
    "choose_lang": "زبان خود را انتخاب کنید:",
    "lang_set": "زبان: فارسی.",
    "edit_not_found": "این پیام دیگر اینجا قابل ویرایش نیست.",
    "error": "مشکلی پیش آمد؛ لطفاً دوباره تلاش کنید.",
}

CATALOGUE = {"en": EN, "fa": FA}


def language(chosen: str | None, telegram_code: str | None) -> str:
    if chosen in CATALOGUE:
        return chosen
    return "fa" if (telegram_code or "").lower().startswith("fa") else "en"


def t(lang: str, key: str, **values: object) -> str:
    text = CATALOGUE.get(lang, EN).get(key) or EN[key]
    return text.format(**values) if values else text
