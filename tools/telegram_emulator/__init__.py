"""A stand-in for Telegram's Bot API (https://core.telegram.org/bots/api) for development and tests.

It speaks the real protocol under `/bot<token>/<method>` (JSON, form or multipart parameters; answers
`{"ok": true, "result": ...}` or `{"ok": false, "error_code", "description", "parameters"}`):
getMe, getUpdates (long polling), setWebhook / deleteWebhook / getWebhookInfo (updates are then POSTed
to the webhook, with `X-Telegram-Bot-Api-Secret-Token`, retried until it answers 2xx), sendMessage,
editMessageText (Telegram's "message is not modified" included), sendPhoto, answerCallbackQuery,
deleteMessage, sendChatAction, setMyCommands.

Tests drive the user's side under `/emulator/`: post a user's update (text, contact, callback query,
edited message), deliver one again, read what the bot sent and every edit of it, and inject Telegram's
429 `retry_after` for a method. `python -m telegram_emulator` serves it (127.0.0.1:8093).
"""
