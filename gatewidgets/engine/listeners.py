"""The subscribers of one engine event (:class:`Listeners`); the events themselves are in :mod:`.events`."""
from __future__ import annotations

from typing import Any, Callable, Generic, Iterator, TypeVar

__all__ = ["Listeners"]

L = TypeVar("L", bound=Callable[..., Any])


class Listeners(Generic[L]):
    """The subscribers of one engine event, called in subscription order."""

    def __init__(self) -> None:
        self._listeners: tuple[L, ...] = ()  # replaced, never changed in place: read without a lock

    def subscribe(self, listener: L) -> Callable[[], None]:
        """Add ``listener`` (once); returns the function that removes it."""
        if listener not in self._listeners:
            self._listeners = (*self._listeners, listener)
        return lambda: self.unsubscribe(listener)

    def unsubscribe(self, listener: L) -> None:
        self._listeners = tuple(x for x in self._listeners if x != listener)

    def __iter__(self) -> Iterator[L]:
        return iter(self._listeners)

    def __bool__(self) -> bool:
        return bool(self._listeners)
