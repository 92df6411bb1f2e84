"""The page as a person uses it, in headless Chromium: ask, see the answer, look inside the model.

Needs the Debian ``chromium`` package (Playwright drives it; no browser download) and, for Chinese
text, ``fonts-noto-cjk``. Run with ``pytest -m browser``; skipped, with the command that installs it,
where /usr/bin/chromium is missing.
"""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path

import pytest

from qa_core.explaining.trace_figures import NBEST_COLUMNS, TOKEN_COLUMNS
from qa_core.files import REPO_ROOT
from tools.app_process import CHROMIUM, CHROMIUM_ARGS

WAIT_MS = 120_000  # the first question also loads the model
EXAMPLES = json.loads((REPO_ROOT / "assets" / "examples.json").read_text(encoding="utf-8"))
EXAMPLE = EXAMPLES[0]
LONG_EXAMPLE = next(e for e in EXAMPLES if "windows" in e["label"])  # several windows, several score rows
PHONE = {"width": 420, "height": 900}
SKIP_REASON = (
    f"browser tests need Chromium at {CHROMIUM}: apt-get update && apt-get install -y chromium "
    "(and fonts-noto-cjk, or Chinese text shows as boxes)"
)

PLAYWRIGHT = importlib.util.find_spec("playwright") is not None
pytestmark = [
    pytest.mark.browser,
    pytest.mark.integration,
    pytest.mark.skipif(not CHROMIUM.exists(), reason=SKIP_REASON),
    pytest.mark.skipif(not PLAYWRIGHT, reason="browser tests need Playwright: pip install -r requirements-dev.txt"),
]

# Every piece of text plotly draws (titles, subplot titles, labels, legend entries) that leaves its
# plot's box, or that lies under the label Gradio draws over the plot's top-left corner.
MISPLACED_TEXT = """() => {
  const inside = (b, box) => b.left >= box.left - 1 && b.right <= box.right + 1
    && b.top >= box.top - 1 && b.bottom <= box.bottom + 1;
  const overlap = (a, b) => a.left < b.right && b.left < a.right && a.top < b.bottom && b.top < a.bottom;
  const found = [];
  let titles = 0;
  for (const plot of document.querySelectorAll('.js-plotly-plot')) {
    const box = plot.querySelector('.main-svg').getBoundingClientRect();
    const label = plot.closest('.block')?.querySelector('[data-testid="block-label"]')?.getBoundingClientRect();
    const texts = plot.querySelectorAll('.gtitle, .gtitle-subtitle, .annotation-text, .legendtext');
    for (const el of texts) {
      const b = el.getBoundingClientRect();
      if (b.width === 0) continue;  // on a hidden tab
      if (el.matches('.gtitle')) titles += 1;
      if (!inside(b, box) || (label && el.matches('.gtitle, .gtitle-subtitle') && overlap(b, label)))
        found.push(`${plot.closest('[id]')?.id}: "${el.textContent}"`);
    }
    if (box.right > window.innerWidth) found.push(`${plot.closest('[id]')?.id} is wider than the page`);
  }
  return {titles, found};
}"""


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def open_page(browser, url: str, viewport: dict[str, int]):
    page = browser.new_page(viewport=viewport)
    page.set_default_timeout(WAIT_MS)
    page.goto(url)
    return page


@pytest.fixture
def page(browser, app_url):
    page = open_page(browser, app_url, {"width": 1280, "height": 900})
    yield page
    page.close()


@pytest.fixture
def phone(browser, app_url):
    page = open_page(browser, app_url, PHONE)
    yield page
    page.close()


def ask(page, example: dict) -> None:
    page.locator("#paragraph textarea").fill(example["context"])
    page.locator("#question textarea").fill(example["question"])
    page.locator("#ask-button").click()
    page.locator("#highlighted .highlighted").first.wait_for()


def test_ask_then_look_inside_the_model(page, tmp_path):
    ask(page, EXAMPLE)
    answer = page.locator("#highlighted .highlighted").first
    answer_text = answer.locator(".text").inner_text()
    assert answer_text and answer_text in EXAMPLE["context"]
    assert answer_text in page.locator("#answer-summary").inner_text()
    page.locator("#ask-scores .js-plotly-plot").wait_for()
    assert page.locator("#nbest [role=row]").count() == 1 + 10  # header and the n-best (10 by default)
    page.screenshot(path=tmp_path / "ask.png", full_page=True)

    page.get_by_role("tab", name="Inside the model").click()
    table = page.locator("#token-table [role=grid]")
    table.wait_for()
    tokens = table.inner_text()
    assert "<s>" in tokens and "</s>" in tokens  # the default model is XLM-R style
    for column in ("input_id", "token_type_id", "attention_mask", "start_logit"):
        assert column in tokens
    for plot in ("windows-plot", "scores-plot", "matrix-plot", "playground-plot"):
        page.locator(f"#{plot} .js-plotly-plot").wait_for()
    assert "1 window(s) of at most 384 tokens" in page.locator("body").inner_text()
    page.screenshot(path=tmp_path / "inside.png", full_page=True)
    assert (tmp_path / "inside.png").stat().st_size > 10_000


def test_playground_redraws_the_windows_without_asking(page):
    page.locator("#paragraph textarea").fill(EXAMPLE["context"])
    page.locator("#question textarea").fill(EXAMPLE["question"])
    page.get_by_role("tab", name="Inside the model").click()
    note = page.locator("#playground-note")
    note.get_by_text("1 window(s) of at most 384 tokens").wait_for()
    for slider, value in (("#playground-stride", "16"), ("#playground-length", "64")):
        box = page.locator(f"{slider} input[type=number]")
        box.fill(value)
        box.press("Enter")
    note.get_by_text("of at most 64 tokens").wait_for()
    assert "neighbouring windows share 16 tokens" in note.inner_text()
    assert int(note.inner_text().split(" window(s)")[0]) > 1


def test_blank_question_shows_the_reason(page):
    page.locator("#paragraph textarea").fill(EXAMPLE["context"])
    page.locator("#ask-button").click()
    page.get_by_text("The question is empty: type a question about the paragraph.").first.wait_for()


def test_fine_tune_controls_are_off_when_training_is_switched_off(page):
    page.get_by_role("tab", name="Fine-tune").click()
    page.get_by_text("Training is turned off on this server").wait_for()
    assert page.get_by_role("button", name="Start").is_disabled()


def header_cells(page, table: str) -> list[str]:
    return [cell.strip() for cell in page.locator(f"#{table} [role=columnheader]").all_inner_texts()]


def test_empty_tables_show_their_column_names(page):
    """Before any question the tables are empty, and their headers name the columns (not "1 | 2 | 3")."""
    page.locator("#nbest [role=columnheader]").first.wait_for()
    assert header_cells(page, "nbest") == list(NBEST_COLUMNS)
    page.get_by_role("tab", name="Inside the model").click()
    page.locator("#token-table [role=columnheader]").first.wait_for()
    assert header_cells(page, "token-table") == list(TOKEN_COLUMNS)


def test_a_phone_wide_page_keeps_every_plot_title_on_its_plot(phone, tmp_path):
    """At 420 px the titles wrap, legends sit below and rows stack: no text leaves its plot."""
    ask(phone, LONG_EXAMPLE)
    phone.locator("#ask-scores .js-plotly-plot").wait_for()
    phone.screenshot(path=tmp_path / "ask-phone.png", full_page=True)  # to look at when it fails
    assert phone.evaluate(MISPLACED_TEXT) == {"titles": 1, "found": []}
    flow = "s => getComputedStyle(document.querySelector('#highlighted ' + s)).display"
    assert [phone.evaluate(flow, part) for part in (".textfield", ".token-container")] == ["block", "inline"], (
        "the answer flows with its sentence instead of taking a line of its own"
    )

    phone.get_by_role("tab", name="Inside the model").click()
    for plot in ("windows-plot", "scores-plot", "matrix-plot", "playground-plot"):
        phone.locator(f"#{plot} .js-plotly-plot").wait_for()
    phone.screenshot(path=tmp_path / "inside-phone.png", full_page=True)
    assert phone.evaluate(MISPLACED_TEXT) == {"titles": 4, "found": []}
    length, stride = (phone.locator(f"#playground-{s}").bounding_box() for s in ("length", "stride"))
    assert stride["y"] >= length["y"] + length["height"] - 1, "the two sliders stack on a phone"


def test_a_phone_wide_page_puts_the_language_picker_under_the_introduction(phone):
    """The introduction keeps the page's width, and every tab is in sight: the tab bar wraps, no "more" menu."""
    intro, picker = phone.locator("#intro").bounding_box(), phone.locator("#language").bounding_box()
    assert intro["width"] >= 0.7 * PHONE["width"], "the introduction is not squeezed beside the picker"
    assert picker["y"] >= intro["y"] + intro["height"] - 1
    choices = [phone.get_by_label(name).bounding_box() for name in ("English", "繁體中文")]
    assert abs(choices[0]["y"] - choices[1]["y"]) < 4, "both languages on one line"
    tabs = phone.get_by_role("tab")
    assert tabs.count() == 6 and all(tabs.nth(i).is_visible() for i in range(6))
    assert not phone.locator(".overflow-menu button").first.is_visible()
    phone.get_by_role("tab", name="Lessons").click()
    phone.locator("#lessons-button").wait_for()  # visible: the Lessons tab is open


# Width of every drawn plot on the open tab; a plot squeezed beside another in a row is about half the screen.
PLOT_WIDTHS = """() => Array.from(document.querySelectorAll('.js-plotly-plot'))
  .filter(plot => plot.offsetParent).map(plot => [plot.closest('[id]')?.id, plot.getBoundingClientRect().width])"""


@pytest.mark.parametrize(
    "tab, button, last_plot",
    [
        ("Why this span", "#why-button", "#why-attribution-text .score-token"),
        ("Lecture", "#same-button", "#same-second"),
        ("Lessons", "#lessons-button", "#lessons-histogram"),
    ],
)
def test_on_a_phone_every_plot_of_a_tab_takes_the_screens_width(phone, tab, button, last_plot):
    """Below 600 px rows stack: the two attribution plots, the two languages' span matrices and the Lessons
    plots each get the whole width instead of ~140 px with cut titles."""
    ask(phone, EXAMPLE)
    phone.get_by_role("tab", name=tab).click()
    phone.locator(button).click()
    phone.locator(last_plot if " " in last_plot else f"{last_plot} .js-plotly-plot").first.wait_for()
    widths = phone.evaluate(PLOT_WIDTHS)
    assert len(widths) >= 2
    narrow = [(name, width) for name, width in widths if width < 0.8 * PHONE["width"]]
    assert not narrow, f"plots narrower than the screen allows: {narrow}"


def test_why_this_span_explains_the_answer_and_a_picked_nbest_row(page):
    ask(page, EXAMPLE)
    why_tab, span = page.get_by_role("tab", name="Why this span"), page.locator("#why-span input")
    why_tab.click()
    page.wait_for_function("() => document.querySelector('#why-span input')?.value.startsWith('1. ')")
    page.get_by_role("tab", name="Ask").click()
    page.locator("#nbest [role=row]").nth(2).locator("[role=gridcell]").nth(
        1
    ).click()  # the n-best's second row
    why_tab.click()
    page.wait_for_function("() => document.querySelector('#why-span input')?.value.startsWith('2. ')")
    assert span.input_value().startswith("2. “"), "the row clicked in the n-best table is the span picked"
    assert "Explain above" in page.locator("#why-lens").inner_text(), "the empty frame says how to fill it"
    page.locator("#why-button").click()
    page.locator("#why-attribution-text .score-token").first.wait_for()  # the plots were there before: wait for the text
    for plot in ("why-lens", "why-attribution", "why-overview", "why-attention"):
        page.locator(f"#{plot} .js-plotly-plot").wait_for()
    assert page.locator("#why-attribution-text .score-token").count() > 5
    assert "after every layer" in page.locator("#why-lens").inner_text()
    page.locator("#why-lens .js-plotly-plot").hover()
    with page.expect_download() as download:
        page.locator("#why-lens .modebar-btn[data-title*='PNG']").click()
    assert Path(download.value.path()).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", "the plot downloads as PNG"
    with page.expect_download() as download:
        page.get_by_role("button", name="Attribution (CSV)").click()
    header = Path(download.value.path()).read_text(encoding="utf-8-sig").splitlines()[0]
    assert header == "position,token,role,contribution"


def test_the_lecture_tab_draws_how_similar_a_shared_word_is_layer_by_layer(page):
    page.get_by_role("tab", name="Lecture").click()
    page.get_by_text("bank: of a river or of money (English)").click()  # the tiny models know no Chinese
    page.wait_for_function("() => document.querySelector('#lecture-target textarea')?.value === 'bank'")
    page.locator("#lecture-button").click()
    heatmap = page.locator("#lecture-heatmap")
    heatmap.locator(".js-plotly-plot").wait_for()
    assert "“bank” at input embeddings" in heatmap.inner_text()
    page.locator("#lecture-separation .js-plotly-plot").wait_for()
    box = page.locator("#lecture-layer input[type=number]")
    box.fill("2")
    box.press("Enter")
    heatmap.get_by_text("“bank” at layer 2").wait_for()
    assert "10 sentences" in page.locator("#lecture-note").inner_text()


def compute_word_pairs(page, button: str) -> None:
    """Type pairs of words the tiny models know into the Lecture tab and press a word-pairs view's button."""
    from test_lecture_arithmetic import PAIRS

    page.get_by_role("tab", name="Lecture").click()
    page.locator("#arithmetic-pairs textarea").fill("\n".join(f"{c} {e}" for c, e in PAIRS))
    page.locator(button).click()


def test_the_lecture_tab_draws_how_well_one_difference_translates_held_out_words(page):
    compute_word_pairs(page, "#arithmetic-button")
    chart = page.locator("#arithmetic-accuracy")
    chart.locator(".js-plotly-plot").wait_for()
    assert "Translation at input embeddings" in chart.inner_text()
    assert "English → Chinese" in page.locator("#arithmetic-table").inner_text()
    box = page.locator("#arithmetic-layer input[type=number]")
    box.fill("2")
    box.press("Enter")
    chart.get_by_text("Translation at layer 2").wait_for()
    assert "held out" in page.locator("#arithmetic-note").inner_text()
    assert page.evaluate(MISPLACED_TEXT)["found"] == []


def test_the_lecture_tab_projects_the_word_pairs_in_two_colours(page):
    compute_word_pairs(page, "#projection-button")
    plot = page.locator("#projection-plot")
    plot.locator(".js-plotly-plot").wait_for()
    assert "Word pairs at input embeddings" in plot.inner_text()
    assert "台北" in plot.inner_text() and "paris" in plot.inner_text()
    box = page.locator("#projection-layer input[type=number]")
    box.fill("2")
    box.press("Enter")
    plot.get_by_text("Word pairs at layer 2").wait_for()
    assert "24 pairs" in page.locator("#projection-note").inner_text()
    assert page.evaluate(MISPLACED_TEXT)["found"] == []


def test_the_lessons_tab_shows_the_reference_runs_and_cuts_training_windows(page):
    page.get_by_role("tab", name="Lessons").click()
    page.locator("#lessons-position .js-plotly-plot").wait_for()
    assert "EM by where the answer sits" in page.locator("#lessons-position").inner_text()
    page.locator("#lessons-button").click()
    page.locator("#lessons-windows .js-plotly-plot").wait_for()
    assert "centred" in page.locator("#lessons-windows").inner_text()
    page.locator("#lessons-histogram .js-plotly-plot").wait_for()
    assert "Question 1 of 39" in page.locator("#lessons-note").inner_text()
    page.locator("#compare-button").click()
    page.locator("#compare-plot .js-plotly-plot").wait_for()
    assert "Learning curves" in page.locator("#compare-plot").inner_text()


WORDS = {
    code: json.loads((REPO_ROOT / "assets" / "text" / f"{code}.json").read_text(encoding="utf-8"))
    for code in ("en", "zh-Hant")
}
TABS = ("ask", "inside", "why", "lecture", "lessons", "fine_tune")
CHINESE_PAGE = "\n".join(WORDS["zh-Hant"].values())


def _fragment(value: str, code: str) -> str | None:
    """The longest plain stretch of a text (no Markdown, code or placeholder), as it reads on the page.

    A Chinese text's stretch must hold Chinese, and an English one must not be a term a Chinese text names
    in brackets ("integrated gradients"): such a term names the same thing in both.
    """
    parts = [p.strip() for p in re.split(r"[*`#\[\]\n{}_|()（）「」“”]", value)]
    own = [p for p in parts if len(p) >= 12 and (re.search(r"[\u4e00-\u9fff]", p) or p not in CHINESE_PAGE)]
    return max(own, key=len, default=None)


def _texts_on_every_tab(page, language: str) -> dict[str, set[str]]:
    """Keys of each language whose words the page shows, visiting every tab (tabs render when opened)."""
    seen: dict[str, set[str]] = {code: set() for code in WORDS}
    for tab in TABS:
        page.get_by_role("tab", name=WORDS[language][f"tab.{tab}"]).click()
        page.wait_for_timeout(500)
        body = page.evaluate("document.body.innerText")
        for code, words in WORDS.items():
            seen[code] |= {k for k, v in words.items() if (f := _fragment(v, code)) and f in body}
    return seen


def test_switching_to_chinese_leaves_no_english_text_and_the_page_still_answers(page):
    before = _texts_on_every_tab(page, "en")
    assert len(before["en"]) > 80 and not before["zh-Hant"]
    page.locator("#language").get_by_text("繁體中文").click()
    page.get_by_role("tab", name=WORDS["zh-Hant"]["tab.ask"]).wait_for()
    after = _texts_on_every_tab(page, "zh-Hant")
    assert after["en"] == set(), "every declared text follows the switch"
    assert len(after["zh-Hant"]) > 50
    page.get_by_role("tab", name=WORDS["zh-Hant"]["tab.ask"]).click()
    ask(page, EXAMPLE)
    summary = page.locator("#answer-summary").inner_text()
    assert "機率" in summary, "text made after the switch speaks the chosen language too"
    _tables_and_choices_speak_chinese(page)


def _tables_and_choices_speak_chinese(page) -> None:
    """The tables, radios and plots computed after a switch name their columns and choices in Chinese."""
    chinese = {k.removeprefix("figure:"): v for k, v in WORDS["zh-Hant"].items() if k.startswith("figure:")}
    page.locator("#nbest [role=columnheader]").first.wait_for()
    assert header_cells(page, "nbest") == [chinese[c] for c in NBEST_COLUMNS]
    page.get_by_role("tab", name=WORDS["zh-Hant"]["tab.inside"]).click()
    page.get_by_text(chinese["token_type_id"], exact=True).first.wait_for()
    assert header_cells(page, "token-table") == [chinese[c] for c in TOKEN_COLUMNS]
    page.get_by_role("tab", name=WORDS["zh-Hant"]["tab.why"]).click()
    for method in ("gradient x input", "integrated gradients"):
        page.get_by_role("radio", name=WORDS["zh-Hant"][f"choice.{method}"]).wait_for()
    page.get_by_role("tab", name=WORDS["zh-Hant"]["tab.fine_tune"]).click()
    for setting in ("random", "centre", "linear", "constant"):
        assert page.get_by_role("radio", name=WORDS["zh-Hant"][f"choice.{setting}"]).count() == 1
    page.get_by_role("tab", name=WORDS["zh-Hant"]["tab.lessons"]).click()
    page.locator("#compare-button").click()
    page.locator("#compare-plot .js-plotly-plot").wait_for()
    assert chinese["Learning curves"] in page.locator("#compare-plot").inner_text()


def test_a_chinese_browser_gets_the_chinese_page(browser, app_url):
    page = browser.new_page(locale="zh-TW")
    page.goto(app_url)
    page.get_by_role("tab", name=WORDS["zh-Hant"]["tab.lessons"]).wait_for()
    assert page.locator("#language input:checked").get_attribute("value") == "zh-Hant"
    page.close()


def test_the_lecture_tab_asks_one_question_in_two_languages_side_by_side(page):
    page.get_by_role("tab", name="Lecture").click()
    page.locator("#same-button").click()
    page.locator("#same-second .js-plotly-plot").wait_for()
    page.locator("#same-first .js-plotly-plot").wait_for()
    first, second = (page.locator(f"#same-{side}").bounding_box() for side in ("first", "second"))
    assert abs(first["y"] - second["y"]) < 2 and second["x"] > first["x"], "the two matrices side by side"
    assert "model" in page.locator("#same-note").inner_text()
