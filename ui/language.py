"""The page's header and its language switch: the browser's language first, then the reader's choice.

The switch sets every worded component's text in the chosen language, then redraws what the parts
asked to have redrawn (``Page.after_switch``): figures and notes whose words were computed.
"""

from __future__ import annotations

import functools
from typing import Any

import gradio as gr

from ui.page import NARROW_MIN_WIDTH, Page
from ui.words import (
    BROWSER_LANGUAGE,
    DEFAULT_LANGUAGE,
    LANGUAGES,
    in_page_language,
    key,
    switch_language,
    worded,
    worded_in,
)


def render_header() -> Any:
    """The introduction and the language picker beside it (below it on a phone)."""
    with gr.Row():
        with gr.Column(scale=1, min_width=NARROW_MIN_WIDTH):
            worded(gr.Markdown, value=key("page.intro"), elem_id="intro")
        return gr.Radio(
            [(name, code) for code, name in LANGUAGES.items()],
            value=DEFAULT_LANGUAGE,
            show_label=False,
            container=False,
            scale=0,
            min_width=240,  # both languages on one line
            elem_id="language",
        )


def wire(page: Page, picker: Any) -> None:
    """Once every part is declared: follow the browser's language, and switch the whole page on a pick."""
    page.blocks.load(None, None, picker, js=BROWSER_LANGUAGE)
    shown = worded_in(page.blocks.blocks)
    switched = picker.change(
        functools.partial(switch_language, shown),
        picker,
        [page.language, *(component for component, _ in shown)],
        api_visibility="private",
        show_progress="hidden",
    )
    for callback, inputs, outputs in page.after_switch:
        switched.then(
            in_page_language(callback),
            [*inputs, page.language],
            outputs,
            api_visibility="private",
            show_progress="hidden",
        )
