"""A local stand-in for OpenRouter's chat API, for development, tests and benchmarks (no network).

Run it with `python -m openrouter_emulator` (127.0.0.1:8090; EMULATOR_HOST, EMULATOR_PORT,
EMULATOR_CHUNK_DELAY_SECONDS, EMULATOR_FIRST_TOKEN_DELAY_SECONDS, EMULATOR_PRICE_PER_TOKEN_USD).

Routes (base `/api/v1`, `Authorization: Bearer <anything>` required):

- `POST /chat/completions` – streaming (SSE `data:` chunks, `: OPENROUTER PROCESSING` comments,
  a usage chunk when `usage.include` is true, `data: [DONE]`) or one JSON answer. The reply is
  derived from the last user message ("You said: «…»" plus filler, Persian filler for Persian
  input), never longer than `max_tokens` (tiktoken). `modalities` with "image" adds a real PNG as
  a data URL in `delta.images` / `message.images`. A `models` list is a fallback chain: any slug
  containing "unavailable" is skipped and `model` names the one that answered. A system prompt
  that asks for a "title" gets a short quoted title instead of the usual reply.
- `GET /generation?id=…` – stats of a past generation (`total_cost`, token counts, model).
- `GET /models` – a small model list.

Directives, written anywhere in the last user message (several may be combined):

- `[[fault:http_500]]`, `[[fault:http_429 retry_after=1]]` – answer with that HTTP status (an
  OpenRouter-style `{"error": {...}}` body), with a `Retry-After` header when given.
- `[[fault:fail_times=2 status=503]]` – the first 2 requests with these same messages fail with
  that status (default 503; `retry_after=` too), later ones succeed: retry tests.
- `[[fault:cut_after=5]]` – the connection drops after 5 content chunks (no `[DONE]`).
- `[[fault:stall_after=5]]` – after 5 content chunks nothing more is sent (timeout tests).
- `[[fault:slow_first_token=3]]` – 3 extra seconds before the first content chunk, while
  `: OPENROUTER PROCESSING` comments keep arriving.
- `[[fault:error_chunk after=2 code=502]]` – an in-stream `{"error": {...}}` chunk after 2 content
  chunks (defaults shown), then the stream ends.
- `[[fault:no_usage lag=1]]` – no usage chunk; `/generation` for it answers 404 `lag` times first.
- `[[fault:no_cost]]` – the usage chunk has token counts but no `cost`.
- `[[reply:words=200 delay=0.02]]` – reply length in words (chunks) and pause between chunks.

Admin API (for tests): `POST /_emulator/faults` with `{"faults": ["http_500", ["cut_after=3",
"no_usage"]]}` queues faults for the next requests, one entry per request, in order;
`DELETE /_emulator/faults` clears the queue and the `fail_times` counters; `GET /_emulator/stats`
returns request counts (by status and model, streams completed / cut / disconnected by the client,
generation lookups) and the last request's headers and body; `DELETE /_emulator/stats` zeroes them.
"""
