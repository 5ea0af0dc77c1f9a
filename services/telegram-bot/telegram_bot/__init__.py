"""The Telegram bot (issue 15): MobixAI where its users already are.

A real client of the public REST API: each Telegram user's requests carry that user's own API token
(issued by `POST /api/auth/telegram/link/` once they shared their own contact); the bot keeps no
password. Webhook mode in production (any number of replicas behind the webhook), long polling in
development; conversation state in Redis.
"""
