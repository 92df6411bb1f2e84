"""Take the README screenshots: start the app, ask its examples, and save every teaching view in English and in
Traditional Chinese on a desktop (ask.png, ask-zh.png, inside.png, ... lecture-zh.png), and the Ask and Lecture tabs
on a 420 px phone (ask-phone.png, ask-phone-zh.png, lecture-phone-zh.png).

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
from collections.abc import Callable
from pathlib import Path

from playwright.sync_api import Page, sync_playwright

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import app  # noqa: E402
from tools.app_process import CHROMIUM, CHROMIUM_ARGS  # noqa: E402
from ui.ask import EXAMPLES  # noqa: E402
from ui.screen import CSS  # noqa: E402
from ui.words import LANGUAGES, TEXTS  # noqa: E402

log = logging.getLogger(__name__)

ASK_EXAMPLE = "繁體中文: 臺北101"
INSIDE_EXAMPLE = "長段落 (3+ windows): 茶的歷史"  # several windows: the point of the teaching view
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 420, "height": 900}
WAIT_MS = 120_000


def tab(page: Page, name: str) -> None:
    """Open a tab by its key (``ask``, ``why``...), in whichever language the page speaks."""
    language = page.locator("#language input:checked").get_attribute("value")
    page.get_by_role("tab", name=TEXTS[language][f"tab.{name}"]).click()


def ask(page: Page, label: str) -> str:
    """Ask an example on the Ask tab and wait for its answer; returns the question."""
    example = next(e for e in EXAMPLES if e["label"] == label)
    tab(page, "ask")
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
        "width": page.viewport_size["width"],
        "height": bottom["y"] + bottom["height"] - top["y"] + 32,
    }


def shoot_ask(page: Page, path: Path) -> None:
    ask(page, ASK_EXAMPLE)
    page.screenshot(path=path, full_page=True, clip=clip(page, "body", "#ask-scores"))


def shoot_inside(page: Page, path: Path) -> None:
    question = ask(page, INSIDE_EXAMPLE)
    tab(page, "inside")
    page.locator("#trace-note").get_by_text(question).wait_for()
    for plot in ("windows-plot", "scores-plot"):
        page.locator(f"#{plot} .js-plotly-plot").wait_for()
    page.screenshot(path=path, full_page=True, clip=clip(page, "#trace-note", "#scores-plot"))


def shoot_why(page: Page, path: Path) -> None:
    ask(page, ASK_EXAMPLE)
    tab(page, "why")
    page.locator("#why-button").click()
    page.locator("#why-attribution-text .score-token").first.wait_for()  # the frames show a hint before
    page.locator("#why-attention .js-plotly-plot").wait_for()
    page.screenshot(path=path, full_page=True, clip=clip(page, "#why-lens", "#why-attribution"))


def shoot_lessons(page: Page, path: Path) -> None:
    """The training windows of the first sample question, and the reference runs' position bias."""
    tab(page, "lessons")
    page.locator("#lessons-button").click()
    page.locator("#lessons-histogram .js-plotly-plot").wait_for()
    page.screenshot(path=path, full_page=True, clip=clip(page, "#lessons-note", "#lessons-histogram"))


def shoot_lecture(page: Page, path: Path) -> None:
    """One question in Chinese and in English over one paragraph: the two span matrices side by side."""
    tab(page, "lecture")
    before = page.locator("#same-note").inner_text()
    page.locator("#same-button").click()
    page.wait_for_function(
        "before => { const s = document.querySelector('#same-note')?.innerText; return s && s !== before; }",
        arg=before,
    )
    page.locator("#same-second .js-plotly-plot").wait_for()
    page.screenshot(path=path, full_page=True, clip=clip(page, "#same-intro", "#same-second"))


SHOTS: dict[str, Callable[[Page, Path], None]] = {
    "ask": shoot_ask,
    "inside": shoot_inside,
    "why": shoot_why,
    "lessons": shoot_lessons,
    "lecture": shoot_lecture,
}
# (language, screen, shots): every view in both languages on a desktop; the first tab and a wide view on a phone
TOURS = (
    ("en", DESKTOP, tuple(SHOTS)),
    ("zh-Hant", DESKTOP, tuple(SHOTS)),
    ("en", PHONE, ("ask",)),
    ("zh-Hant", PHONE, ("ask", "lecture")),
)


def file_name(shot: str, language: str, screen: dict[str, int]) -> str:
    return f"{shot}{'-phone' if screen is PHONE else ''}{'' if language == 'en' else '-zh'}.png"


def take(url: str, out: Path, chromium: str) -> list[Path]:
    written = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        for language, screen, shots in TOURS:
            page = browser.new_page(viewport=screen, locale="en-US")
            page.set_default_timeout(WAIT_MS)
            page.goto(url)
            page.locator("#language").get_by_text(LANGUAGES[language]).click()
            page.wait_for_timeout(1000)  # the switch redraws the page's words
            for shot in shots:
                SHOTS[shot](page, out / file_name(shot, language, screen))
                written.append(out / file_name(shot, language, screen))
            page.close()
        browser.close()
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--out", type=Path, default=Path(app.__file__).parent / "assets", help="folder for the PNGs"
    )
    parser.add_argument("--chromium", default=str(CHROMIUM), help="the Chromium executable")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    args.out.mkdir(parents=True, exist_ok=True)
    _, url, _ = app.demo.launch(prevent_thread_lock=True, quiet=True, css=CSS)
    try:
        for path in take(url, args.out, args.chromium):
            log.info("wrote %s", path)
    finally:
        app.demo.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
