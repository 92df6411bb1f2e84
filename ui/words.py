"""Every word on the page, by key, in the reader's language (``assets/text/<language>.json``).

A component's text is declared by key (``worded(gr.Button, value=key("ask.button"))``) and the page
keeps, for each component, which key each of its properties shows. Switching the language looks the
keys up again; it never searches for a component by its English text, which two keys may share (the
tab "Ask" and the button "Ask").
"""

from __future__ import annotations

import functools
import inspect
import json
import re
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any, NamedTuple

import gradio as gr

from qa_core.files import REPO_ROOT
from qa_core.words import speaking

TEXT_DIR = REPO_ROOT / "assets" / "text"
LANGUAGES = {"en": "English", "zh-Hant": "繁體中文"}  # assets/text/<code>.json, and the name a reader looks for
DEFAULT_LANGUAGE = "en"  # what API clients get, and the page until the browser says otherwise
if not TEXT_DIR.is_dir():  # the code installed with a plain `pip install .`, started outside the checkout
    raise SystemExit("The page's texts (assets/text/) are not here: start the app from the project's folder.")
TEXTS: dict[str, dict[str, str]] = {
    code: json.loads((TEXT_DIR / f"{code}.json").read_text(encoding="utf-8")) for code in LANGUAGES
}
FIGURE = "figure:"  # keys of the words figures write on plots: FIGURE + the English the code writes
FIGURE_WORDS = {
    code: {k.removeprefix(FIGURE): v for k, v in words.items() if k.startswith(FIGURE)}
    for code, words in TEXTS.items()
}
LANGUAGE: ContextVar[str] = ContextVar("language", default=DEFAULT_LANGUAGE)  # of the request being answered
# the browser's first language picks the page's: any Chinese one gets the course's Traditional Chinese
BROWSER_LANGUAGE = "() => (navigator.language || '').toLowerCase().startsWith('zh') ? 'zh-Hant' : 'en'"


class Key(NamedTuple):
    """A text of the page by key, with the values its placeholders take."""

    name: str
    values: dict[str, Any]

    def english(self) -> str:
        return _filled(TEXTS[DEFAULT_LANGUAGE][self.name], self.values)

    def spoken(self) -> str:
        """The text in the language of the request being answered."""
        return text(self.name, **self.values)


class Choices(NamedTuple):
    """The choices of a radio or dropdown: labels by key, values that never change with the language.

    A client of the API sends the value (an English setting such as "integrated gradients"), whichever
    language the page shows its label in.
    """

    labelled: tuple[tuple[Key, Any], ...]

    def english(self) -> list[tuple[str, Any]]:
        return [(label.english(), value) for label, value in self.labelled]

    def spoken(self) -> list[tuple[str, Any]]:
        return [(label.spoken(), value) for label, value in self.labelled]


def setting_choices(values: tuple[str, ...]) -> Choices:
    """The values of a setting (``settings.choices``), each labelled by its key ``choice.<value>``."""
    return Choices(tuple((key(f"choice.{value}"), value) for value in values))


WORDED: dict[int, tuple[Any, dict[str, Key | Choices]]] = {}  # id(component) -> the component and its keyed properties


def key(which: str, /, **values: Any) -> Key:
    """The text ``which`` (its placeholders filled with ``values``), for a property of ``worded``."""
    if which not in TEXTS[DEFAULT_LANGUAGE]:
        raise KeyError(f"no text {which!r} in assets/text/{DEFAULT_LANGUAGE}.json")
    return Key(which, values)


def worded(factory: Callable[..., Any], *args: Any, **properties: Any) -> Any:
    """``factory(*args, **properties)`` with each ``Key`` property shown in English and kept for a switch."""
    keyed = {name: value for name, value in properties.items() if isinstance(value, (Key, Choices))}
    component = factory(*args, **{**properties, **{name: k.english() for name, k in keyed.items()}})
    shown = getattr(component, "dataset", component)  # gr.Examples shows its label on its Dataset
    WORDED[id(shown)] = (shown, keyed)
    return component


def text(which: str, /, **values: Any) -> str:
    """The page's words for ``which`` in the language of the request being answered."""
    return _filled(TEXTS[LANGUAGE.get()][which], values)


MARKDOWN_PUNCTUATION = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~&])")  # what Markdown or HTML could read as syntax


def verbatim(words: str) -> str:
    """``words`` (a paragraph's text, a token such as ``<s>``) shown as written inside a Markdown text.

    Without the backslashes a token ``<s>`` opens a struck-through HTML element and ``*`` starts emphasis.
    """
    return MARKDOWN_PUNCTUATION.sub(r"\\\1", words)


def _filled(words: str, values: dict[str, Any]) -> str:
    """A template with its placeholders filled; one without values may hold literal braces."""
    return words.format(**values) if values else words


def worded_in(blocks: dict[int, Any]) -> list[tuple[Any, dict[str, Key | Choices]]]:
    """The worded components of one page (``Blocks.blocks``), each with its keyed properties."""
    page = {id(block) for block in blocks.values()}
    return [entry for ident, entry in WORDED.items() if ident in page]


def switch_language(worded_components: list[tuple[Any, dict[str, Key | Choices]]], language: str) -> list:
    """The chosen language, then every worded component's text in it."""
    code = language if language in TEXTS else DEFAULT_LANGUAGE
    token = LANGUAGE.set(code)
    try:
        updates = (
            gr.update(**{name: k.spoken() for name, k in keyed.items()})
            for _, keyed in worded_components
        )
        return [code, *updates]
    finally:
        LANGUAGE.reset(token)


def in_page_language(callback: Callable) -> Callable:
    """``callback`` with the page's language as one more, last input, in which every text() inside it speaks.

    The language is a ``gr.State``, so API clients never see the extra input and get English.
    """

    @functools.wraps(callback)
    def localised(*inputs: Any) -> Any:
        *values, language = inputs
        code = language if language in TEXTS else DEFAULT_LANGUAGE
        token = LANGUAGE.set(code)
        try:
            with speaking(FIGURE_WORDS[code]):
                return callback(*values)
        finally:
            LANGUAGE.reset(token)

    signature = inspect.signature(callback)
    language = inspect.Parameter(
        "language", inspect.Parameter.POSITIONAL_OR_KEYWORD, default=DEFAULT_LANGUAGE, annotation=str
    )
    localised.__signature__ = signature.replace(parameters=[*signature.parameters.values(), language])
    return localised
