"""The API contract suite runs against the whole system as real processes (tests/api/harness.py)."""

import pytest

from tests.api.harness import BASIC, PREMIUM, Client, SystemSlot, new_user


@pytest.fixture(scope="package")
def slot(infra, tmp_path_factory):
    slot = SystemSlot(infra, tmp_path_factory)
    yield slot
    slot.discard()


@pytest.fixture
def system(slot):
    return slot.get()


@pytest.fixture
def admin(slot, system):
    return slot.admin()


@pytest.fixture
def user(system) -> Client:
    """A new user on the default (Free) plan."""
    return new_user(system)


@pytest.fixture
def basic(system, admin) -> Client:
    return new_user(system, BASIC, admin)


@pytest.fixture
def premium(system, admin) -> Client:
    return new_user(system, PREMIUM, admin)
