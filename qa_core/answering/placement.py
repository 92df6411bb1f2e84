"""Where the answer sits in a training window: every example tokenised once with its answer's tokens.

Training (``train.dataset``) and the Lessons tab's placement views (``explaining.lessons``) both place
windows from these pairs, so the lesson shows exactly what training does.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from transformers import PreTrainedTokenizerBase

from qa_core.answering.windows import PairEncoding, char_span_to_tokens, encode_pairs
from qa_core.data.squad import Example

log = logging.getLogger(__name__)

ENCODE_CHUNK = 512  # pairs per tokenizer call: large enough for the fast tokenizer's batching


@dataclass(frozen=True)
class LabelledPair:
    """An example tokenised once, with its first gold answer as paragraph token positions."""

    encoding: PairEncoding
    answer_tokens: tuple[int, int] | None  # None: an impossible question, its paragraph lacks the answer


def label_pairs(
    tokenizer: PreTrainedTokenizerBase, examples: list[Example], max_question_length: int
) -> list[LabelledPair]:
    """Tokenise every example once and find its first gold answer's tokens (skipping the few that map to none).

    An impossible question gets no answer tokens; one without answers that is not marked impossible
    (a test file's) is refused, since training it as unanswerable would teach the model a falsehood.
    """
    _check_labelled(examples)
    pairs, skipped = [], 0
    for c in range(0, len(examples), ENCODE_CHUNK):
        chunk = examples[c : c + ENCODE_CHUNK]
        encodings = encode_pairs(
            tokenizer, [e.question for e in chunk], [e.context for e in chunk], max_question_length
        )
        for example, encoding in zip(chunk, encodings, strict=True):
            if example.impossible:
                pairs.append(LabelledPair(encoding, None))
                continue
            gold = example.answers[0]
            tokens = char_span_to_tokens(encoding.context_offsets, gold.start, gold.start + len(gold.text))
            if tokens is None:
                skipped += 1
                continue
            pairs.append(LabelledPair(encoding, tokens))
    if skipped:
        log.warning("%d of %d questions skipped: their answer covers no token", skipped, len(examples))
    return pairs


def _check_labelled(examples: list[Example]) -> None:
    if unlabelled := [e.id for e in examples if not e.answers and not e.impossible]:
        shown = ", ".join(unlabelled[:5]) + (
            f" and {len(unlabelled) - 5} more" if len(unlabelled) > 5 else ""
        )
        raise ValueError(
            f"{len(unlabelled)} question(s) have no answer and are not marked impossible (ids {shown}): "
            "give them their answers, or mark them is_impossible if the paragraph does not hold one."
        )
