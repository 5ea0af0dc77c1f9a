"""The bot's Prometheus metrics (served on TELEGRAM_BOT_METRICS_PORT)."""

from prometheus_client import Counter, Histogram

UPDATES = Counter("mobix_telegram_updates_total", "Telegram updates received, by outcome", ["outcome"])
REPLIES = Counter("mobix_telegram_replies_total", "Replies shown in Telegram")
EDITS = Counter("mobix_telegram_edits_total", "editMessageText calls made for streaming replies")
EDITS_PER_REPLY = Histogram("mobix_telegram_edits_per_reply", "Edits of one reply",
                            buckets=(0, 1, 2, 4, 8, 16, 32, 64, 128))
TELEGRAM_429 = Counter("mobix_telegram_retry_after_total", "Telegram 429 answers waited out")
