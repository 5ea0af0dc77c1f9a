"""The security suite runs against the whole system as real processes (tests/api/harness.py), in the
same virtual host and Redis database as the API suite, one system at a time."""

import pytest

from tests.api.harness import PREMIUM, Client, SystemSlot, new_user


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
def premium(system, admin) -> Client:
    return new_user(system, PREMIUM, admin)
