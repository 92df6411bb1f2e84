"""The page as a person uses it, in headless Chromium: ask, see the answer, look inside the model.

Needs the Debian ``chromium`` package (Playwright drives it; no browser download). Run with
``pytest -m browser``; skipped where /usr/bin/chromium is missing.
"""

from __future__ import annotations

import json

import pytest
from app_server import make_checkpoints_root, running_app

from qa_core.files import REPO_ROOT
from tools.app_process import CHROMIUM, CHROMIUM_ARGS

WAIT_MS = 120_000  # the first question also loads the model
EXAMPLE = json.loads((REPO_ROOT / "assets" / "examples.json").read_text(encoding="utf-8"))[0]

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not CHROMIUM.exists(), reason="needs Chromium at /usr/bin/chromium (apt-get install chromium)"
    ),
]


@pytest.fixture(scope="module")
def app_url(tmp_path_factory) -> str:
    tmp = tmp_path_factory.mktemp("browser_app")
    root = make_checkpoints_root(tmp / "checkpoints")
    with running_app(tmp / "server.log", root, QA_ALLOW_TRAINING="0") as url:
        yield url


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser, app_url):
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.set_default_timeout(WAIT_MS)
    page.goto(app_url)
    yield page
    page.close()


def test_ask_then_look_inside_the_model(page, tmp_path):
    page.locator("#paragraph textarea").fill(EXAMPLE["context"])
    page.locator("#question textarea").fill(EXAMPLE["question"])
    page.locator("#ask-button").click()

    answer = page.locator("#highlighted .highlighted").first
    answer.wait_for()
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
