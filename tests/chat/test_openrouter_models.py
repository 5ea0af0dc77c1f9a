"""Reading OpenRouter's model list for the catalog sync: its real shape, and what is ignored."""

from decimal import Decimal

import pytest
from chat.openrouter_models import ListedModel, parse

from shared.errors import UpstreamFailed


def test_prices_per_token_become_prices_per_million_tokens():
    body = {"data": [{"id": "openai/gpt-4o-mini", "name": "OpenAI: GPT-4o-mini", "context_length": 128000,
                      "pricing": {"prompt": "0.00000015", "completion": "0.0000006", "request": "0"},
                      "top_provider": {"context_length": 128000, "max_completion_tokens": 16384}}]}
    assert parse(body) == [ListedModel("openai/gpt-4o-mini", "OpenAI: GPT-4o-mini", 128000, Decimal("0.15"),
                                       Decimal("0.6"), 16384)]


def test_unknown_or_junk_values_are_ignored_not_trusted():
    body = {"data": [
        {"id": "openrouter/auto", "name": "Auto", "context_length": None, "pricing": {"prompt": "-1", "completion": "x"},
         "top_provider": {"max_completion_tokens": None}},
        {"id": "no/pricing", "context_length": True},
        {"name": "no id"}, "not an object",
    ]}
    assert parse(body) == [ListedModel("openrouter/auto", "Auto", None, None, None, None),
                           ListedModel("no/pricing", None, None, None, None, None)]


@pytest.mark.parametrize("body", [[], {}, {"data": {}}, None, "text"])
def test_a_body_without_a_data_array_is_a_provider_failure(body):
    with pytest.raises(UpstreamFailed):
        parse(body)
