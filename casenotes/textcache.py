"""Memoising pure per-text work that every engine call would otherwise redo.

Each engine call re-reads a case's kept history and notes, so normalising, cleaning, splitting
and tokenising the same texts again was most of the per-message cost of a long case. These
caches keep the results for short texts only: a text longer than ``max_chars`` is computed
each time, so the caches stay small (entries x max_chars bounds each one: 4,096 x 2,000
characters, ~8 MB of keys) whatever the input sizes.
"""
from __future__ import annotations

import functools
from typing import Any, Callable, TypeVar

F = TypeVar("F", bound=Callable[..., Any])

MAXSIZE = 4096
MAX_CHARS = 2000


def _size(first: Any) -> int:
    return len(first) if isinstance(first, str) else len(getattr(first, "text", ""))


def per_text(maxsize: int = MAXSIZE, max_chars: int = MAX_CHARS) -> Callable[[F], F]:
    """``functools.lru_cache`` for a pure function whose first argument is a text (or has a
    ``.text``); other arguments must be hashable."""
    def decorate(fn: F) -> F:
        cached = functools.lru_cache(maxsize=maxsize)(fn)

        @functools.wraps(fn)
        def wrapper(first: Any, *args: Any) -> Any:
            if _size(first) > max_chars:
                return fn(first, *args)
            return cached(first, *args)
        wrapper.cache_info = cached.cache_info  # type: ignore[attr-defined]
        wrapper.cache_clear = cached.cache_clear  # type: ignore[attr-defined]
        return wrapper  # type: ignore[return-value]
    return decorate
