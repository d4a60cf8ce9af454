"""Typed service inputs: what a partial update leaves out, and reading one.

A service's input is a frozen dataclass beside the service, loaded by its API schema and built
by the pages and commands that call the same service. A partial update (PATCH: only the fields
given) is a dataclass whose optional fields default to UNSET, so "not given" stays apart from
None ("clear it").
"""

from __future__ import annotations

from dataclasses import fields, replace
from enum import Enum
from typing import Any, Final, TypeVar

T = TypeVar("T")


class Unset(Enum):
    """The type of UNSET (one member, so `value is not UNSET` narrows the type)."""

    UNSET = "UNSET"

    def __repr__(self) -> str:
        return "UNSET"


#: A field of a partial update that was not given (None, where allowed, clears the value).
UNSET: Final = Unset.UNSET


def given(changes: Any) -> dict[str, Any]:
    """The optional fields (those defaulting to UNSET) of a partial update that were given."""
    return {
        field.name: value
        for field in fields(changes)
        if field.default is UNSET and (value := getattr(changes, field.name)) is not UNSET
    }


def whole(changes: T) -> T:
    """The changes with every field not given set to None (a blank field of a whole form clears)."""
    cleared = {
        field.name: None for field in fields(changes) if getattr(changes, field.name) is UNSET
    }
    return replace(changes, **cleared)
