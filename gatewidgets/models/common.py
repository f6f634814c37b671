"""Sorting, as in ``flytekit.models.admin.common``: ``Sort("created_at", Sort.Direction.DESCENDING)``."""
from __future__ import annotations

import enum
import re

__all__ = ["SortOrdering", "Sort"]


class SortOrdering(enum.Enum):
    """Direction of a sort."""

    DESCENDING = 0
    ASCENDING = 1


_SORT = re.compile(r"\s*(asc|desc)\s*\(\s*([^()\s]+)\s*\)\s*", re.IGNORECASE)


class Sort:
    """Sort by ``key`` in ``direction``; ``Sort.from_python_std("desc(created_at)")``."""

    Direction = SortOrdering

    def __init__(self, key: str, direction: SortOrdering = SortOrdering.ASCENDING) -> None:
        if not isinstance(key, str) or not key.strip():
            raise ValueError(f"sort key must be a non-empty string, got {key!r}")
        if not isinstance(direction, SortOrdering):
            raise ValueError(f"sort direction must be a SortOrdering, got {direction!r}")
        self.key = key.strip()
        self.direction = direction

    @classmethod
    def from_python_std(cls, text: str) -> Sort:
        """Parse ``"asc(key)"`` or ``"desc(key)"``; raises ``ValueError`` otherwise."""
        m = _SORT.fullmatch(text) if isinstance(text, str) else None
        if m is None:
            raise ValueError(f"{text!r} could not be parsed into a sort: expected 'asc(key)' or 'desc(key)'")
        direction = SortOrdering.ASCENDING if m.group(1).lower() == "asc" else SortOrdering.DESCENDING
        return cls(m.group(2), direction)

    def __str__(self) -> str:
        return f"{'asc' if self.direction is SortOrdering.ASCENDING else 'desc'}({self.key})"

    def __repr__(self) -> str:
        return f"Sort.from_python_std({str(self)!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Sort) and (self.key, self.direction) == (other.key, other.direction)

    def __hash__(self) -> int:
        return hash((self.key, self.direction))
