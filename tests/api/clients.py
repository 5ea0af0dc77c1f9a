"""The clients the API and security suites ask for by name, on the system of the package's `slot`."""

import pytest

from tests.api.harness import BASIC, PREMIUM, Client, new_user


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
