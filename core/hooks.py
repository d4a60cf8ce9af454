"""Hooks: how a lower package reaches what the packages above it provide, without importing them.

A hook is a named list in `app.extensions`. The lower package declares it with a register
function; create_app registers the upper packages' entries; the lower package runs them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, TypeVar

from flask import Flask, current_app

T = TypeVar("T")


@dataclass(frozen=True)
class Hook(Generic[T]):
    """What the packages above registered for one purpose (callbacks, resolvers), in order."""

    key: str

    def register(self, app: Flask, entry: T) -> None:
        """Add an entry to the app's list (at start-up, from create_app)."""
        app.extensions.setdefault(self.key, []).append(entry)

    def entries(self, app: Flask | None = None) -> list[T]:
        """The app's entries (by default the current app's), in the order they were registered."""
        return list((app or current_app).extensions.get(self.key, ()))
