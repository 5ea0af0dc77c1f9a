"""Admin contracts built without validation, for the owners' own checks (defence in depth)."""

from typing import Any, TypeVar

import pytest
from pydantic import BaseModel

from shared.contracts.admin_fields import AdminBody

C = TypeVar("C", bound=BaseModel)
# The owner dumps what it was sent; an unchecked value of another type ("lots" for a count) is dumped as
# it is, with pydantic's warning.
unchecked_values = pytest.mark.filterwarnings("ignore:Pydantic serializer warnings:UserWarning")


def unchecked(contract: type[C], body: type[AdminBody], fields: dict[str, Any], **values: Any) -> C:
    """`contract` carrying `fields` as set, unvalidated: what the owner would get from a sender that
    checked nothing (the contract refuses such values when it is built or received)."""
    return contract.model_construct(fields=body.model_construct(_fields_set=set(fields), **fields), **values)
