"""Training inputs: one window per question around its answer, plus some windows without it.

At inference a long paragraph is read as several windows and the answer sits anywhere in one of
them. Training windows are therefore placed so the answer lands at a random position (the
default) rather than in the centre as in the homework's sample code, and a share of windows that
do not contain the answer teach the model to point at the first token ([CLS]) there, which keeps
its scores comparable across windows. An unanswerable question (SQuAD 2.0's impossible ones, and
the negatives of ``negatives.py``) gives one window anywhere over its paragraph, labelled the same
way, as BERT does for SQuAD 2.0.
"""

from __future__ import annotations

import logging
import random

import torch
from transformers import PreTrainedTokenizerBase

from qa_core.answering.placement import LabelledPair, label_pairs
from qa_core.answering.windows import (
    answer_window,
    build_window,
)
from qa_core.data.squad import Example
from qa_core.settings import Placement, WindowSettings

log = logging.getLogger(__name__)



class TrainingWindows(torch.utils.data.Dataset):
    """A map-style dataset whose item i is a freshly placed window of question i (or an answerless one).

    Windows without the answer (of impossible questions, and the answerless extra windows) are labelled
    start = end = 0, the first token.

    Placement is drawn again each time an item is read, so every epoch sees the answers at new
    positions.
    """

    def __init__(
        self,
        tokenizer: PreTrainedTokenizerBase,
        examples: list[Example],
        *,
        max_length: int,
        max_question_length: int,
        placement: Placement,
        answerless_rate: float,
        seed: int,
    ):
        # Questions are cut as the engine cuts them: never more than half the window.
        limit = WindowSettings(max_length=max_length, max_question_length=max_question_length).question_limit
        self.pairs = label_pairs(tokenizer, examples, limit)
        self.max_length = max_length
        self.placement = placement
        self.pad_id = tokenizer.pad_token_id
        self.rng = random.Random(seed)
        answerable = [i for i, p in enumerate(self.pairs) if p.answer_tokens is not None]
        eligible = [i for i in answerable if self._answer_free_starts(self.pairs[i])]
        n_answerless = min(len(eligible), round(answerless_rate * len(answerable)))
        self.answerless = random.Random(seed).sample(eligible, n_answerless)

    def _room(self, pair: LabelledPair) -> int:
        return pair.encoding.room_for_context(self.max_length)

    def _answer_free_starts(self, pair: LabelledPair) -> list[range]:
        """Starts of full windows that hold no answer token: those ending before it, those starting after it.

        A paragraph only a little longer than a window may have none: every window cuts into the answer.
        """
        room, n = self._room(pair), len(pair.encoding.context_ids)
        first, last = pair.answer_tokens  # asked of answerable pairs only
        return [r for r in (range(0, first - room + 1), range(last + 1, n - room + 1)) if r]

    def __len__(self) -> int:
        return len(self.pairs) + len(self.answerless)

    def __getitem__(self, i: int) -> dict[str, list[int] | int]:
        if i >= len(self.pairs):
            return self._answerless_item(self.pairs[self.answerless[i - len(self.pairs)]])
        pair = self.pairs[i]
        return self._impossible_item(pair) if pair.answer_tokens is None else self._answer_item(pair)

    def _answer_item(self, pair: LabelledPair) -> dict[str, list[int] | int]:
        a, b = answer_window(pair.encoding, pair.answer_tokens, self.max_length, self.placement, self.rng)
        first, last = pair.answer_tokens
        window = build_window(pair.encoding, 0, a, b, pad_id=self.pad_id)
        start = window.context_start + first - a if a <= first < b else 0
        end = window.context_start + last - a if a <= last < b else 0
        return _item(window.input_ids, window.token_type_ids, start if end else 0, end if start else 0)

    def _answerless_item(self, pair: LabelledPair) -> dict[str, list[int] | int]:
        """A window that does not hold the answer; both labels point at position 0 ([CLS] / <s>)."""
        a = self.rng.choice([start for starts in self._answer_free_starts(pair) for start in starts])
        return self._first_token_item(pair, a)

    def _impossible_item(self, pair: LabelledPair) -> dict[str, list[int] | int]:
        """A window anywhere over a paragraph that lacks the answer, labelled as answerless windows are."""
        last_start = max(0, len(pair.encoding.context_ids) - self._room(pair))
        return self._first_token_item(pair, self.rng.randint(0, last_start))

    def _first_token_item(self, pair: LabelledPair, a: int) -> dict[str, list[int] | int]:
        window = build_window(pair.encoding, 0, a, a + self._room(pair), pad_id=self.pad_id)
        return _item(window.input_ids, window.token_type_ids, 0, 0)


def _item(input_ids, token_type_ids, start: int, end: int) -> dict[str, list[int] | int]:
    return {
        "input_ids": list(input_ids),
        "token_type_ids": list(token_type_ids),
        "start_positions": start,
        "end_positions": end,
    }


class PadCollator:
    """Pads a batch to its longest window (dynamic padding) and builds the attention mask."""

    def __init__(self, pad_id: int, uses_segments: bool):
        self.pad_id = pad_id
        self.uses_segments = uses_segments

    def __call__(self, items: list[dict]) -> dict[str, torch.Tensor]:
        width = max(len(it["input_ids"]) for it in items)

        def pad(key: str, fill: int) -> torch.Tensor:
            return torch.tensor([it[key] + [fill] * (width - len(it[key])) for it in items])

        batch = {
            "input_ids": pad("input_ids", self.pad_id),
            "attention_mask": torch.tensor(
                [[1] * len(it["input_ids"]) + [0] * (width - len(it["input_ids"])) for it in items]
            ),
            "start_positions": torch.tensor([it["start_positions"] for it in items]),
            "end_positions": torch.tensor([it["end_positions"] for it in items]),
        }
        if self.uses_segments:
            batch["token_type_ids"] = pad("token_type_ids", 0)
        return batch
