"""Take the README screenshots: start the app, ask its examples, save ask.png, inside.png, why.png, lessons.png,
and the lecture's two-language view in English and in Traditional Chinese (lecture.png, lecture-zh.png).

    python tools/screenshots.py                 # the shipped checkpoints, into assets/
    python tools/screenshots.py --out shots/    # somewhere else

Run it with the real checkpoints: tiny test models give meaningless answers. It needs Chromium
(``apt-get install chromium``) and CJK fonts (``apt-get install fonts-noto-cjk``), or the Chinese text
shows as empty boxes.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from playwright.sync_api import Page, sync_playwright

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import app  # noqa: E402
from tools.app_process import CHROMIUM, CHROMIUM_ARGS  # noqa: E402
from ui.ask import EXAMPLES  # noqa: E402
from ui.words import LANGUAGES, TEXTS  # noqa: E402

log = logging.getLogger(__name__)

ASK_EXAMPLE = "繁體中文: 臺北101"
INSIDE_EXAMPLE = "長段落 (3+ windows): 茶的歷史"  # several windows: the point of the teaching view
VIEWPORT = {"width": 1280, "height": 900}
WAIT_MS = 120_000


def ask(page: Page, label: str) -> str:
    """Ask an example on the Ask tab and wait for its answer; returns the question."""
    example = next(e for e in EXAMPLES if e["label"] == label)
    page.get_by_role("tab", name="Ask").click()
    before = page.locator("#answer-summary").inner_text()
    page.locator("#paragraph textarea").fill(example["context"])
    page.locator("#question textarea").fill(example["question"])
    page.locator("#ask-button").click()
    page.wait_for_function(
        "before => { const s = document.querySelector('#answer-summary')?.innerText; return s && s !== before; }",
        arg=before,
    )
    page.locator("#ask-scores .js-plotly-plot").wait_for()
    return example["question"]


def clip(page: Page, first: str, last: str) -> dict[str, float]:
    """The page area from the top of element ``first`` to the bottom of element ``last``, full width."""
    top = page.locator(first).bounding_box()  # relative to the viewport, which a click may have scrolled
    bottom = page.locator(last).bounding_box()
    scrolled = page.evaluate("window.scrollY")
    return {
        "x": 0,
        "y": top["y"] + scrolled - 16,
        "width": VIEWPORT["width"],
        "height": bottom["y"] + bottom["height"] - top["y"] + 32,
    }


def take(url: str, out: Path, chromium: str) -> list[Path]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport=VIEWPORT)
        page.set_default_timeout(WAIT_MS)
        page.goto(url)

        ask(page, ASK_EXAMPLE)
        page.screenshot(path=out / "ask.png", full_page=True, clip=clip(page, "body", "#ask-scores"))

        question = ask(page, INSIDE_EXAMPLE)
        page.get_by_role("tab", name="Inside the model").click()
        page.locator("#trace-note").get_by_text(question).wait_for()
        for plot in ("windows-plot", "scores-plot"):
            page.locator(f"#{plot} .js-plotly-plot").wait_for()
        page.screenshot(
            path=out / "inside.png", full_page=True, clip=clip(page, "#trace-note", "#scores-plot")
        )

        ask(page, ASK_EXAMPLE)
        page.get_by_role("tab", name="Why this span").click()
        page.locator("#why-button").click()
        page.locator("#why-attribution-text .score-token").first.wait_for()  # the frames show a hint before
        page.locator("#why-attention .js-plotly-plot").wait_for()
        page.screenshot(
            path=out / "why.png", full_page=True, clip=clip(page, "#why-lens", "#why-attribution")
        )
        lessons(page, out / "lessons.png")
        lecture(page, out / "lecture.png", "Lecture")
        page.locator("#language").get_by_text(LANGUAGES["zh-Hant"]).click()
        lecture(page, out / "lecture-zh.png", TEXTS["zh-Hant"]["tab.lecture"])
        browser.close()
    return [out / f"{name}.png" for name in ("ask", "inside", "why", "lessons", "lecture", "lecture-zh")]


def lessons(page: Page, path: Path) -> None:
    """The training windows of the first sample question, and the reference runs' position bias."""
    page.get_by_role("tab", name="Lessons").click()
    page.locator("#lessons-button").click()
    page.locator("#lessons-histogram .js-plotly-plot").wait_for()
    page.screenshot(path=path, full_page=True, clip=clip(page, "#lessons-note", "#lessons-histogram"))


def lecture(page: Page, path: Path, tab: str) -> None:
    """One question in Chinese and in English over one paragraph: the two span matrices side by side."""
    page.get_by_role("tab", name=tab).click()
    before = page.locator("#same-note").inner_text()
    page.locator("#same-button").click()
    page.wait_for_function(
        "before => { const s = document.querySelector('#same-note')?.innerText; return s && s !== before; }",
        arg=before,
    )
    page.locator("#same-second .js-plotly-plot").wait_for()
    page.screenshot(path=path, full_page=True, clip=clip(page, "#same-intro", "#same-second"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--out", type=Path, default=Path(app.__file__).parent / "assets", help="folder for the PNGs"
    )
    parser.add_argument("--chromium", default=str(CHROMIUM), help="the Chromium executable")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    args.out.mkdir(parents=True, exist_ok=True)
    _, url, _ = app.demo.launch(prevent_thread_lock=True, quiet=True)
    try:
        for path in take(url, args.out, args.chromium):
            log.info("wrote %s", path)
    finally:
        app.demo.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
