"""Billing service: plans, subscriptions, the usage ledger and the Redis sliding-window limiter."""
