"""Every bound two services must agree on, defined once (api.md §5).

The admin API accepts exactly what the services can serve: a value the gateway lets an operator
store is a value chat can put into an exchange and billing can admit. Billing's limiter does its
arithmetic in Lua doubles, exact only below 2^53: the token, multiplier and price bounds keep every
product it forms (tokens x multiplier x price in nano-USD) inside that range. Plan limits and ids are
32-bit integer columns on PostgreSQL.
"""

from decimal import Decimal

# --- ids and counts stored in 32-bit integer columns ----------------------------------------------
MAX_ID = 2**31 - 1
MAX_PLAN_COUNT = 2**31 - 1  # every per-window limit of a plan; 0 = unlimited

# --- AI models ------------------------------------------------------------------------------------
MIN_MODEL_TOKENS = 16
MAX_MODEL_TOKENS = 10_000_000  # context window, reply cap and a prompt's token count
MAX_TOKEN_COST_MULTIPLIER = Decimal(10000)
MULTIPLIER_PLACES = 2  # "1.50" (api.md §1)
MAX_PRICE_USD_PER_MTOK = Decimal(10000)
PRICE_PLACES = 6
MAX_FALLBACK_MODELS = 10
MAX_LINKED_PLANS = 1_000

# --- plans ----------------------------------------------------------------------------------------
MAX_PLAN_PRICE = Decimal("999999999999.99")  # numeric(14, 2)
MAX_PLAN_COST_USD = Decimal(1000000)  # max_openrouter_cost_usd
MONEY_PLACES = 2
MIN_DURATION_DAYS = 1
MAX_DURATION_DAYS = 36_500

# --- text lengths (characters) --------------------------------------------------------------------
MAX_MESSAGE_CHARS = 32_000  # a message or an edit, after trimming
MAX_TITLE_CHARS = 200
MAX_NAME_CHARS = 200  # names of AI models and chatbots
MAX_PLAN_NAME_CHARS = 100
MAX_SKU_CHARS = 100
MAX_MODEL_SLUG_CHARS = 200  # an OpenRouter model id
MAX_DESCRIPTION_CHARS = 5_000
MAX_SYSTEM_PROMPT_CHARS = 32_000
MAX_IMAGE_URL_CHARS = 500
MAX_USER_NAME_CHARS = 150  # the gateway's user.name column


def decimal_within(value: Decimal, top: Decimal, places: int) -> bool:
    """0 <= value <= top with at most `places` decimals (the one check every service applies)."""
    return value.is_finite() and 0 <= value <= top and value.as_tuple().exponent >= -places

# --- the message broker ---------------------------------------------------------------------------
MAX_BROKER_MESSAGE_BYTES = 64 * 1024  # no command or event body above this (issue 20's bounded broker)
