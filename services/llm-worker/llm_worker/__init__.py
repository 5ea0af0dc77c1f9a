"""MobixAI llm-worker: turns generate commands into OpenRouter calls and reply events."""
