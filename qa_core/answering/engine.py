"""The question-answering engine: text -> windows -> scores -> spans -> answer, with a full trace.

``QAEngine.answer`` returns the answer *and* every intermediate value (tokens, ids, offsets, logits,
candidate masks, the winning window's span-score matrix), so a UI can draw how BERT got there
without recomputing anything.
"""

from __future__ import annotations

import itertools
import logging
import math
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from transformers import AutoModelForQuestionAnswering, AutoTokenizer, PreTrainedTokenizerBase

from qa_core.answering.answer_check import AnswerCheck, features, gather_evidence, load_check, unsure
from qa_core.answering.postprocess import (
    best_spans,
    end_blocks,
    null_decision,
    probabilities,
    span_score_matrix,
    start_blocks,
    unblocked,
    window_spans,
)
from qa_core.answering.records import Answer, Candidate, NullDecision, Trace, Window, WindowTrace
from qa_core.answering.windows import PairEncoding, encode_pairs, make_windows, max_context_mask
from qa_core.models.checkpoints import NULL_THRESHOLD_KEY, check_exists
from qa_core.models.device import Choice
from qa_core.models.device import pick as pick_device
from qa_core.models.int8 import CALIBRATION_PAIRS
from qa_core.models.int8 import quantize as int8_quantize
from qa_core.models.model_cache import weights_version
from qa_core.models.model_lock import ModelLock
from qa_core.settings import AnswerSettings, RequestLimits, WindowSettings, bound_of, require_text

log = logging.getLogger(__name__)
NO_CANDIDATE = Candidate("", 0, 0, -math.inf, 0.0, -1, -1, -1)


def validate_pair(question: str, context: str, limits: RequestLimits | None = None) -> None:
    """Refuse input that cannot be answered, with a message a person can act on.

    API clients may send any JSON value, so the types are checked first: a number where text belongs
    would otherwise fail deep inside with an AttributeError that tells the client nothing.
    """
    for name, value in (("question", question), ("paragraph", context)):
        if value is not None:  # None reads as empty, below
            require_text(f"The {name}", value)
    if not question or not question.strip():
        raise ValueError("The question is empty: type a question about the paragraph.")
    if not context or not context.strip():
        raise ValueError("The paragraph is empty: paste the text the answer should come from.")
    for name, text in (("question", question), ("paragraph", context)):
        _check_encodable(name, text)
    if limits is not None and len(context) > limits.max_chars:
        raise ValueError(
            f"The paragraph has {len(context):,} characters; the limit is {limits.max_chars:,}. "
            "Paste the part that contains the answer."
        )


def fewer_windows_advice(windows: WindowSettings) -> str:
    """Only the changes that can still reduce the windows: a stride of 0 cannot go lower, 512 not higher."""
    ways = ["shorten the paragraph"]
    if windows.doc_stride > 0:
        ways.append("lower doc_stride")
    longest = bound_of(WindowSettings, "max_length").high
    if windows.max_length < longest:
        ways.append(f"raise max_length (up to {longest:g})")
    said = ", ".join(ways[:-1]) + f" or {ways[-1]}" if len(ways) > 1 else ways[0]
    return said[0].upper() + said[1:]


def _check_safetensors(folder: Path) -> None:
    """Refuse a local folder whose weights are only a pickle (pytorch_model.bin): loading one can run code."""
    if folder.is_dir() and not any(folder.glob("*.safetensors")):
        found = ", ".join(sorted(p.name for p in folder.glob("*.bin"))) or "no weights file"
        raise FileNotFoundError(
            f"{folder} has no model.safetensors (found: {found}). The engine loads safetensors weights only, "
            "because .bin weights are pickles that can run code when loaded. Convert the folder once with "
            "AutoModelForQuestionAnswering.from_pretrained(folder).save_pretrained(folder) if you trust it."
        )


def _check_encodable(name: str, text: str) -> None:
    """A lone surrogate (JSON can carry one) is not text; the tokenizer would fail on it with a TypeError."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as error:
        raise ValueError(
            f"The {name} contains U+{ord(text[error.start]):04X} at character {error.start}, half of a "
            "broken character pair that is not valid text: remove it or paste the text again."
        ) from None

_UNSAVED = itertools.count()  # tells apart models made in memory, which no weights file names


class QAEngine:
    """A question-answering model and its tokenizer, loaded once and kept warm."""

    def __init__(self, model: torch.nn.Module, tokenizer: PreTrainedTokenizerBase, source: str = "model"):
        if not tokenizer.is_fast:
            raise ValueError(
                f"{source}: the engine needs a fast tokenizer (tokenizer.json) for character offsets."
            )
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.source = source  # the folder or hub id it came from
        self.name = Path(source).name
        self._uses_segments = "token_type_ids" in tokenizer.model_input_names
        self.int8 = False  # set by load(int8=True)
        self.check: AnswerCheck | None = None  # the folder's answer_check.json, set by load
        self.lock = ModelLock()  # forward passes share it; switching the attention kernel takes it alone
        # what a result computed with these weights is kept under: a folder retrained in place is another,
        # and a model that is no folder's is only ever itself
        version = weights_version(Path(source))
        self.identity = (source, version if version is not None else next(_UNSAVED))

    @property
    def null_threshold(self) -> float | None:
        """The threshold tuned when the checkpoint was trained with unanswerable questions, or None.

        Such a checkpoint records it in its config.json as ``qa_null_threshold``; one without it was not
        trained for questions without an answer, and answers every question with its best span.
        """
        value = getattr(self.model.config, NULL_THRESHOLD_KEY, None)
        return None if value is None else float(value)

    @classmethod
    def load(cls, path: str | Path, *, int8: bool = False, device: Choice | None = None) -> QAEngine:
        """Load a Hugging Face question-answering folder or hub id (safetensors weights only).

        The model always computes in float32, also from a checkpoint saved in float16: half precision on a
        CPU is slow and loses accuracy, while the smaller file is all that float16 saving is for. The
        device comes from ``device.pick`` (the CPU unless asked otherwise); scores come back to the CPU.
        """
        where = pick_device(device, int8=int8)  # a contradiction (int8 on CUDA) fails before any loading
        check_exists(path)  # a mistyped folder: one line, not a minute of hub retries
        _check_safetensors(Path(path))
        tokenizer = AutoTokenizer.from_pretrained(str(path))
        model = AutoModelForQuestionAnswering.from_pretrained(
            str(path), use_safetensors=True, dtype=torch.float32
        ).to(where)
        engine = cls(model, tokenizer, source=str(path))
        engine.check = load_check(path) if Path(path).is_dir() else None
        if int8:
            engine.model = int8_quantize(model, lambda: engine.answer_many(CALIBRATION_PAIRS))
            engine.int8 = True
        return engine

    def answer(
        self,
        question: str,
        context: str,
        settings: AnswerSettings | None = None,
        limits: RequestLimits | None = None,
    ) -> Answer:
        """Answer one question, with the full trace."""
        return self.answer_many([(question, context)], settings, limits=limits, with_trace=True)[0]

    def preview_windows(
        self,
        question: str,
        context: str,
        settings: AnswerSettings | None = None,
        limits: RequestLimits | None = None,
    ) -> list[Window]:
        """The windows a question would be read in, without running the model (for the windowing playground)."""
        settings = settings or AnswerSettings()
        validate_pair(question, context, limits)
        (encoding,) = encode_pairs(self.tokenizer, [question], [context], settings.windows.question_limit)
        return self._windows(encoding, settings, limits)

    def answer_many(
        self,
        pairs: Sequence[tuple[str, str]],
        settings: AnswerSettings | None = None,
        *,
        limits: RequestLimits | None = None,
        batch_windows: int = 32,
        with_trace: bool = False,
    ) -> list[Answer]:
        """Answer many (question, paragraph) pairs: tokenised in one call, windows batched by length.

        ``limits`` is a server's policy on request size; batch prediction and evaluation pass none.
        """
        settings = settings or AnswerSettings()
        if not pairs:  # the tokenizer fails on an empty batch
            return []
        for question, context in pairs:
            validate_pair(question, context, limits)
        encodings = encode_pairs(
            self.tokenizer, [q for q, _ in pairs], [c for _, c in pairs], settings.windows.question_limit
        )
        windows = [self._windows(e, settings, limits) for e in encodings]
        logits = self._score([w for ws in windows for w in ws], batch_windows)
        answers, at = [], 0
        for (question, context), encoding, ws in zip(pairs, encodings, windows, strict=True):
            traces = self._window_traces(context, ws, logits[at : at + len(ws)], settings)
            answers.append(self._decide(question, context, encoding, traces, settings, with_trace))
            at += len(ws)
        return answers

    def _windows(
        self, encoding: PairEncoding, settings: AnswerSettings, limits: RequestLimits | None
    ) -> list[Window]:
        windows = make_windows(encoding, settings.windows, self.tokenizer.pad_token_id)
        if limits is not None and len(windows) > limits.max_windows:
            raise ValueError(
                f"The paragraph needs {len(windows)} windows at max_length {settings.windows.max_length} and "
                f"doc_stride {settings.windows.doc_stride}; the limit is {limits.max_windows}. "
                f"{fewer_windows_advice(settings.windows)}."
            )
        return windows

    @torch.inference_mode()
    def _score(self, windows: list[Window], batch_windows: int) -> list[tuple[np.ndarray, np.ndarray]]:
        """Start and end logits of every window, batched by similar length (dynamic padding)."""
        order = sorted(range(len(windows)), key=lambda i: sum(windows[i].attention_mask))
        out: list[tuple[np.ndarray, np.ndarray]] = [None] * len(windows)  # type: ignore[list-item]
        for b in range(0, len(order), batch_windows):
            batch = [windows[i] for i in order[b : b + batch_windows]]
            start, end = self._forward(batch)
            for i, s, e, w in zip(order[b : b + batch_windows], start, end, batch, strict=True):
                n = len(w.input_ids)
                out[i] = (s[:n], e[:n])
        return out

    def _forward(self, batch: list[Window]) -> tuple[np.ndarray, np.ndarray]:
        width = max(sum(w.attention_mask) for w in batch)  # trim padding shared by the whole batch
        pad = self.tokenizer.pad_token_id

        def column(rows: list[tuple[int, ...]], fill: int) -> torch.Tensor:
            return torch.tensor([list(r[:width]) + [fill] * (width - len(r[:width])) for r in rows])

        inputs = {
            "input_ids": column([w.input_ids for w in batch], pad),
            "attention_mask": column([w.attention_mask for w in batch], 0),
        }
        if self._uses_segments:
            inputs["token_type_ids"] = column([w.token_type_ids for w in batch], 0)
        # a model being trained on a GPU is also measured with this engine (the training's evaluation)
        device = next(self.model.parameters()).device
        with self.lock.shared():
            output = self.model(**{name: tensor.to(device) for name, tensor in inputs.items()})
        start = np.full((len(batch), max(len(w.input_ids) for w in batch)), -1e4, dtype=np.float32)
        end = start.copy()
        start[:, :width] = output.start_logits.float().cpu().numpy()
        end[:, :width] = output.end_logits.float().cpu().numpy()
        return start, end

    def _window_traces(
        self,
        context: str,
        windows: list[Window],
        logits: list[tuple[np.ndarray, np.ndarray]],
        settings: AnswerSettings,
    ) -> list[WindowTrace]:
        """Each window's scores, which tokens may start and end an answer (and why not), and its best span.

        Tokens are left empty here: only a traced answer converts ids to token strings.
        """
        rules = settings.spans
        masks = max_context_mask(windows) if rules.use_max_context else [None] * len(windows)
        traces = []
        for window, (start, end), max_context in zip(windows, logits, masks, strict=True):
            starts = start_blocks(window, context, max_context)
            ends = end_blocks(window, context)
            found = window_spans(window, start, end, unblocked(starts), unblocked(ends), rules)
            traces.append(WindowTrace(window, (), start, end, starts, ends, max_context, tuple(found)))
        return traces

    def _decide(
        self,
        question: str,
        context: str,
        encoding: PairEncoding,
        traces: list[WindowTrace],
        settings: AnswerSettings,
        with_trace: bool,
    ) -> Answer:
        """Candidate spans of every window -> the n best over all windows -> the answer."""
        ranked = best_spans([s for t in traces for s in t.candidates], settings.spans.n_best)
        n_best = tuple(
            Candidate(
                text=context[s.start_char : s.end_char],
                start=s.start_char,
                end=s.end_char,
                score=s.score,
                probability=float(p),
                window=s.window,
                start_token=s.start_token,
                end_token=s.end_token,
            )
            for s, p in zip(ranked, probabilities(ranked), strict=True)
        )
        top = n_best[0] if n_best else NO_CANDIDATE
        null = null_decision(
            [(float(t.start_logits[0]), float(t.end_logits[0])) for t in traces],
            ranked[0] if ranked else None,
            self.null_threshold if settings.spans.null_threshold is None else settings.spans.null_threshold,
        )
        p_correct, no_answer = self._check(question, context, traces, n_best, settings, null)
        trace = self._trace(question, context, encoding, traces, top, settings, null) if with_trace else None
        return Answer(
            text=top.text,
            start=top.start,
            end=top.end,
            score=top.score,
            probability=top.probability,
            n_best=n_best,
            question_truncated=encoding.question_truncated,
            trace=trace,
            null_margin=null.margin,
            no_answer=no_answer,
            p_correct=p_correct,
        )

    def _check(
        self,
        question: str,
        context: str,
        traces: list[WindowTrace],
        n_best: tuple[Candidate, ...],
        settings: AnswerSettings,
        null: NullDecision,
    ) -> tuple[float | None, bool]:
        """The answer check's probability that the best span is right, and whether to say "no answer".

        Without a check the null rule decides, as it always did; with one, the check does (the null margin
        is one of its features), at the request's threshold or the check's stored default.
        """
        if self.check is None:
            return None, null.no_answer
        if not n_best:
            return 0.0, True
        p_correct = self.check.probability(features(gather_evidence(traces, n_best), question, context))
        threshold = settings.spans.answer_threshold
        return p_correct, unsure(p_correct, self.check.threshold if threshold is None else threshold)

    def _trace(
        self,
        question: str,
        context: str,
        encoding: PairEncoding,
        traces: list[WindowTrace],
        top: Candidate,
        settings: AnswerSettings,
        null: NullDecision,
    ) -> Trace:
        window_traces = tuple(
            replace(t, tokens=tuple(self.tokenizer.convert_ids_to_tokens(list(t.window.input_ids))))
            for t in traces
        )
        winner = top.window if top.window >= 0 else None
        matrix = np.full((0, 0), np.nan)
        if winner is not None:
            wt = window_traces[winner]
            matrix = span_score_matrix(
                wt.start_logits,
                wt.end_logits,
                wt.allowed_starts,
                wt.allowed_ends,
                settings.spans.max_answer_length,
            )
        return Trace(
            question=question,
            context=context,
            settings=settings,
            question_tokens=encoding.question_tokens,
            question_truncated=encoding.question_truncated,
            question_offsets=encoding.question_offsets,
            paragraph_tokens=len(encoding.context_ids),
            windows=window_traces,
            winning_window=winner,
            span_matrix=matrix,
            null=null,
        )
