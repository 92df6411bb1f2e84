"""The words the figures write on a plot, in the reader's language.

Figures write English, the words of the code, through ``say``, as gettext's ``_`` does. An app that
speaks another language hands ``speaking`` a table from each English template to its own words
(kept with the app's other texts) while it draws. Without a table, ``say`` returns the English.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from types import MappingProxyType
from typing import Any

_WORDS: ContextVar[Mapping[str, str]] = ContextVar("figure_words", default=MappingProxyType({}))


def say(english: str, **values: Any) -> str:
    """``english`` in the reader's language, its ``{placeholders}`` filled with ``values``.

    Every template is a format string, with or without values: a literal brace, such as Plotly's
    ``%{x}`` in a hover template, is written doubled (``%{{x}}``).
    """
    return _WORDS.get().get(english, english).format(**values)


def say_each(english: Iterable[str]) -> list[str]:
    """Each of ``english`` (a table's column names, a column of token roles) in the reader's language.

    Column names are declared once as constants, which tests and CSV downloads read in English.
    """
    return [say(words) for words in english]


@contextmanager
def speaking(words: Mapping[str, str]) -> Iterator[None]:
    """Draw in another language: ``words`` maps each English template to its translation."""
    token = _WORDS.set(words)
    try:
        yield
    finally:
        _WORDS.reset(token)
