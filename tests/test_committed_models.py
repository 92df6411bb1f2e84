"""The model folders committed with the project: standard, small enough, and the null-trained candidate abstains.

These load the real weights (a few seconds each), so a broken or oversized commit of a model folder fails here
rather than on a user's machine.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from transformers import AutoModelForQuestionAnswering, AutoTokenizer

from qa_core.answering.engine import QAEngine
from qa_core.files import REPO_ROOT
from qa_core.models import checkpoints

FOLDERS = REPO_ROOT / "checkpoints"
CANDIDATE = FOLDERS / "e5-small-zh-en-qa-null"
COMMITTED = [FOLDERS / name for name in checkpoints.SHIPPED] + [CANDIDATE]
LIGHTHOUSE = (
    "The Hook Head lighthouse stands at the tip of the Hook peninsula in County Wexford. It is one of the oldest "
    "operating lighthouses in the world; the tower is 36 metres tall and has walls up to 4 metres thick."
)
BAKERY = "阿明麵包店位於台北市大安區，每天早上七點開門，晚上十點打烊。店裡最受歡迎的是紅豆麵包和菠蘿麵包，週末常常大排長龍。"


@pytest.mark.parametrize("folder", COMMITTED, ids=lambda p: p.name)
def test_committed_model_is_a_plain_hugging_face_folder_under_100_mb(folder: Path) -> None:
    size = sum(f.stat().st_size for f in folder.iterdir() if f.is_file())
    assert size <= 100e6, f"{folder.name} is {size / 1e6:.0f} MB"
    model = AutoModelForQuestionAnswering.from_pretrained(folder)
    tokenizer = AutoTokenizer.from_pretrained(folder)
    assert model.config.num_labels == 2 and tokenizer("問題", "段落")["input_ids"]
    assert (folder / "README.md").read_text(encoding="utf-8").startswith(f"# {folder.name}\n")


def test_null_trained_candidate_says_not_in_the_paragraph_and_still_answers() -> None:
    engine = QAEngine.load(CANDIDATE)
    assert engine.null_threshold == pytest.approx(-1.301, abs=1e-3)
    missing = engine.answer("阿明麵包店的電話號碼是多少？", BAKERY)
    assert missing.no_answer and missing.null_margin > engine.null_threshold
    present = engine.answer("阿明麵包店幾點打烊？", BAKERY)
    assert not present.no_answer and present.text == "十點"
    assert engine.answer("What colour is the lighthouse painted?", LIGHTHOUSE).no_answer
    tall = engine.answer("How tall is the tower?", LIGHTHOUSE)
    assert not tall.no_answer and tall.text.startswith("36 metres")
