"""The page's words live in assets/text/<language>.json: every key the app uses is there, the lessons intact."""

from __future__ import annotations

import ast
import json
import re
import string

from qa_core.files import REPO_ROOT

TEXT = json.loads((REPO_ROOT / "assets" / "text" / "en.json").read_text(encoding="utf-8"))
USED = re.compile(r"""(?:text|key)\(\s*f?["']([a-z_.{}]+)["']""")
PAGE = [REPO_ROOT / "app.py", *sorted((REPO_ROOT / "ui").glob("*.py"))]


def test_every_key_the_app_asks_for_is_written():
    used = {k for path in PAGE for k in USED.findall(path.read_text(encoding="utf-8"))}
    expanded = {key for key in used if "{" not in key}
    for key in used - expanded:  # text(f"explain.{key}") over the token topics
        prefix = key.split("{")[0]
        assert any(k.startswith(prefix) for k in TEXT), key
    assert len(used) > 40, "the pattern should find the app's text() calls"
    assert expanded <= set(TEXT), sorted(expanded - set(TEXT))


def test_every_text_is_a_valid_format_string():
    for key, value in TEXT.items():
        list(string.Formatter().parse(value))  # raises on a stray brace
        assert value.strip(), key


def test_explanations_cover_the_teaching_view():
    topics = {
        "input_ids",
        "token_type_ids",
        "attention_mask",
        "special_tokens",
        "windows",
        "scores",
        "span_matrix",
    }
    explanations = {k.removeprefix("explain."): v for k, v in TEXT.items() if k.startswith("explain.")}
    views = ("lens", "attribution", "attention", "contextual", "arithmetic", "projection")
    assert topics | {"answer", "n_best", "loss", *views} == set(explanations)
    assert "character offsets" in explanations["answer"]
    assert "`doc_stride` is the overlap between consecutive windows" in explanations["windows"]
    assert "</s></s>" in explanations["special_tokens"] and "all 0" in explanations["special_tokens"]
    assert "start > end" in explanations["span_matrix"]
    assert "max_answer_length" in explanations["span_matrix"]
    for view in views:  # what it computes, how to read it, what it does not prove
        assert "*What it does not prove:*" in explanations[view], view
    assert "position embedding" in explanations["contextual"], "layer 0 is not 1 for the same character"
    assert "among the list's own words only" in explanations["arithmetic"]


TRANSLATIONS = {
    path.stem: json.loads(path.read_text(encoding="utf-8"))
    for path in (REPO_ROOT / "assets" / "text").glob("*.json")
}
CODE = re.compile(r"`[^`]*`|\{[^}]*\}|\*\*[A-Za-z_]+\*\*")  # code spans, placeholders, bold identifiers
LATIN_WORDS = re.compile(r"\b[A-Za-z]{4,}(?:\s+[A-Za-z]{3,}){3,}")  # four English words in a row


def _placeholders(value: str) -> list[tuple[str, str]]:
    return sorted((name, spec) for _, name, spec, _ in string.Formatter().parse(value) if name is not None)


def test_the_course_language_has_every_text_with_the_same_placeholders():
    assert set(TRANSLATIONS) == {"en", "zh-Hant"}
    chinese = {k: v for k, v in TRANSLATIONS["zh-Hant"].items() if not k.startswith(FIGURE)}
    assert list(chinese) == list(TEXT), "the same keys, in the same order, so a missing one stands out"
    for key, english in TEXT.items():
        assert _placeholders(chinese[key]) == _placeholders(english), key
        assert chinese[key].count("`") == english.count("`"), key
        assert chinese[key].count("\n## ") == english.count("\n## "), key


def test_no_explanation_is_left_in_english_in_the_chinese_file():
    chinese = TRANSLATIONS["zh-Hant"]
    for key, value in chinese.items():
        prose = CODE.sub(" ", value)
        assert not LATIN_WORDS.search(prose.replace("(none: word boundary)", "")), (
            key,
            LATIN_WORDS.search(prose),
        )
    teaching = [k for k in TEXT if k.startswith(("explain.", "lessons.")) or k.endswith("intro")]
    assert len(teaching) > 30
    for key in teaching:
        assert re.search(r"[\u4e00-\u9fff]", chinese[key]), key


FIGURE = "figure:"  # the words a figure writes, keyed by the English the code writes
FIGURE_MODULES = ("trace_figures", "why_figures", "lecture_figures", "lessons_figures", "calibration_figures", "style")


def _said() -> set[str]:
    """Every template the figure modules hand to ``say`` (always a plain string literal), and the column
    names they hand to ``say_each`` (a module's tuple constant)."""
    said = set()
    for module in FIGURE_MODULES:
        tree = ast.parse((REPO_ROOT / "qa_core" / "explaining" / f"{module}.py").read_text(encoding="utf-8"))
        constants = {
            node.targets[0].id: [element.value for element in node.value.elts]
            for node in tree.body
            if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "").endswith("_COLUMNS")
        }
        for node in ast.walk(tree):
            name = getattr(node.func, "id", None) if isinstance(node, ast.Call) else None
            if name == "say":
                assert isinstance(node.args[0], ast.Constant), (module, ast.unparse(node))
                said.add(node.args[0].value)
            elif name == "say_each" and isinstance(node.args[0], ast.Name) and node.args[0].id in constants:
                said |= set(constants[node.args[0].id])
    return said


def test_every_word_a_figure_writes_is_in_chinese_with_the_same_placeholders():
    figure_words = {
        k.removeprefix(FIGURE): v for k, v in TRANSLATIONS["zh-Hant"].items() if k.startswith(FIGURE)
    }
    said = _said()
    assert len(said) > 100
    assert set(figure_words) == said, (sorted(said - set(figure_words)), sorted(set(figure_words) - said))
    for english, chinese in figure_words.items():
        assert _placeholders(chinese) == _placeholders(english), english
        chinese.format(**{name: 1 for name, _ in _placeholders(chinese)})  # a valid template either way


def test_every_emphasis_renders_in_both_languages():
    """CommonMark closes no emphasis right after "：" before a letter: a Chinese text must not leave stars."""
    from markdown_it import MarkdownIt

    markdown = MarkdownIt()
    for code, words in TRANSLATIONS.items():
        for key, value in words.items():
            html = re.sub(r"<code>.*?</code>", "", markdown.render(value), flags=re.S)
            assert "*" not in html, (code, key)


PAGE_TAGS = {"p", "strong", "em", "code", "a", "ul", "ol", "li", "h1", "h2", "h3", "br", "pre", "blockquote"}


def test_no_page_text_is_read_as_html_in_either_language():
    """A bare token name such as ``<s>`` in a text would strike through everything after it."""
    from markdown_it import MarkdownIt

    markdown = MarkdownIt()
    for code, words in TRANSLATIONS.items():
        for key, value in words.items():
            if key.startswith(FIGURE):  # Plotly's own markup (<b>, <br>), never read as Markdown
                continue
            tags = set(re.findall(r"</?([A-Za-z][\w-]*)", markdown.render(value))) - PAGE_TAGS
            assert not tags, (code, key, tags)


def test_a_token_or_an_answer_shown_in_markdown_stays_as_written():
    from markdown_it import MarkdownIt

    from ui.words import verbatim

    html = MarkdownIt().render(f"**{verbatim('<s> a *b* [c](d) </s>')}**")
    assert html == "<p><strong>&lt;s&gt; a *b* [c](d) &lt;/s&gt;</strong></p>\n"


def test_a_switch_relabels_every_radio_and_keeps_the_values_the_api_takes():
    import gradio as gr

    from qa_core.settings import AttributionMethod, choices
    from ui.words import setting_choices, switch_language, worded, worded_in

    with gr.Blocks() as page:
        radio = worded(gr.Radio, choices=setting_choices(choices(AttributionMethod)), value="integrated gradients")
    assert radio.choices == [(value, value) for value in choices(AttributionMethod)]
    language, update = switch_language(worded_in(page.blocks), "zh-Hant")
    assert language == "zh-Hant"
    assert update["choices"] == [
        (TRANSLATIONS["zh-Hant"][f"choice.{value}"], value) for value in choices(AttributionMethod)
    ]


def test_the_lessons_tables_and_run_names_follow_the_language():
    from qa_core.explaining import lessons_figures
    from qa_core.words import speaking
    from ui import lessons
    from ui.words import FIGURE_WORDS, LANGUAGE

    token = LANGUAGE.set("zh-Hant")
    try:
        with speaking(FIGURE_WORDS["zh-Hant"]):
            post_processing, runs = lessons.reference_tables()
            labels = lessons.run_choices(lessons.run_curves())
    finally:
        LANGUAGE.reset(token)
    chinese = FIGURE_WORDS["zh-Hant"]
    assert list(post_processing.columns) == [chinese[c] for c in lessons_figures.POST_PROCESSING_COLUMNS]
    assert list(runs.columns) == [chinese[c] for c in lessons_figures.RUNS_COLUMNS]
    reference = [(label, name) for label, name in labels if name.startswith("reference: ")]
    assert reference and all(label.startswith("參考組") for label, _ in reference)
