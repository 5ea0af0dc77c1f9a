"""The security suite runs against the whole system as real processes (tests/api/harness.py), in the
same virtual host and Redis database as the API suite, one system at a time."""

import pytest

from tests.api.clients import admin, premium, system, user  # noqa: F401 - fixtures, over the slot below
from tests.api.harness import SystemSlot


@pytest.fixture(scope="package")
def slot(infra, tmp_path_factory):
    slot = SystemSlot(infra, tmp_path_factory)
    yield slot
    slot.discard()
