"""Why this span: the layer lens, span attribution and question-paragraph attention of one window.

Each view reruns the model on one window of a traced answer (the window exactly as the engine read
it, without its padding) and returns a record from ``records``; the figures draw the records.

- **Layer lens**: the QA output layer (``qa_outputs``, hidden -> start/end) applied to the hidden state
  after every layer, so a student sees at which layer the answer's start and end stand out. The last
  layer is the model's own output, so its row equals the logits.
- **Span attribution**: the contribution of every token's input embedding to ``log p(start) + log
  p(end)`` of one span, by gradient x input (one backward pass) or integrated gradients (Sundararajan
  et al. 2017: the path from a baseline where every non-special token is the padding token, in batched
  midpoint steps; the contributions then add up to ``f(input) - f(baseline)``).
- **Attention**: the attention weights of the answer tokens' rows (and of the first token's row), per
  layer and head. Attention says where a head looks, not why the model decided: the explanations in
  the app say so.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TypeVar

import numpy as np
import torch

from qa_core.answering.engine import QAEngine
from qa_core.answering.postprocess import best_spans, window_spans
from qa_core.answering.records import Trace, WindowTrace
from qa_core.explaining.why_records import AttentionMap, Attribution, Explanation, LayerLens
from qa_core.settings import AttributionSettings

T = TypeVar("T")
Progress = Callable[[int, int], None]  # (integration steps done, steps planned)
IG_CHUNK = 8  # integration steps per batch: progress every few seconds, memory bounded for 64 steps


def _silent(done: int, planned: int) -> None:
    """No one is watching: a script or a test."""


class PassClock:
    """Seconds one forward and backward pass took per token, by model: the estimate shown before a run.

    An integration step is one such pass, so ``steps x tokens x rate`` estimates integrated gradients
    before it starts; the rate is the last one measured on this server for that model.
    """

    def __init__(self) -> None:
        self._rates: dict[Hashable, float] = {}
        self._lock = threading.Lock()

    def record(self, model: Hashable, tokens: int, seconds: float) -> None:
        with self._lock:
            self._rates[model] = seconds / max(tokens, 1)

    def estimate(self, model: Hashable, tokens: int, passes: int) -> float | None:
        """Seconds for ``passes`` passes over ``tokens`` tokens; None before the first measurement."""
        with self._lock:
            rate = self._rates.get(model)
        return None if rate is None else rate * tokens * passes


@dataclass(frozen=True)
class Pace:
    """How an explanation reports its integration steps, and how long a shared server lets it run.

    With ``seconds`` set, the pass at the input is timed first and integrated gradients plans no more
    steps than fit in the time left (at least 2), so a 64-step request cannot hold a model for minutes.
    """

    progress: Progress = _silent
    seconds: float | None = None
    clock: PassClock = field(default_factory=PassClock)


def planned_steps(asked: int, seconds_per_step: float, seconds: float | None) -> int:
    """The steps asked for, or the even number (at least 2) that fits in ``seconds``."""
    if seconds is None:
        return asked
    fits = int(seconds / max(seconds_per_step, 1e-9))
    return max(2, min(asked, fits - fits % 2))


def layer_lens(engine: QAEngine, trace: Trace, window: int) -> LayerLens:
    """The start and end scores the QA head would give after each layer, and the best span at each."""
    wt = _window(trace, window)
    head = _qa_head(engine)
    with engine.lock.shared(), torch.inference_mode():
        output = engine.model(**_inputs(engine, wt), output_hidden_states=True)
        # (layers + 1, n, 2): the same linear layer on every hidden state; the last one is the model's output
        scores = torch.stack([head(h[0]) for h in output.hidden_states]).float().cpu().numpy()
    start, end = _padded(scores[..., 0], wt), _padded(scores[..., 1], wt)
    rules = trace.settings.spans
    best = tuple(
        next(
            iter(best_spans(window_spans(wt.window, s, e, wt.allowed_starts, wt.allowed_ends, rules), 1)),
            None,
        )
        for s, e in zip(start, end, strict=True)
    )
    return LayerLens(wt.window.index, wt.tokens, wt.window.roles, start, end, best)


def attribute(
    engine: QAEngine,
    trace: Trace,
    window: int,
    span: tuple[int, int],
    settings: AttributionSettings | None = None,
    pace: Pace | None = None,
) -> Attribution:
    """Each token's contribution to ``log p(start) + log p(end)`` of the span (start, end) of one window."""
    settings, pace = settings or AttributionSettings(), pace or Pace()
    wt = _window(trace, window)
    start, end = span
    n = _attributable(engine, wt, span)
    inputs = _inputs(engine, wt)
    embed = engine.model.get_input_embeddings()
    with torch.no_grad():
        x = embed(inputs["input_ids"])  # (1, n, hidden)
    began = time.perf_counter()
    target, grad = _target_and_grad(engine, inputs, x, start, end)  # also the clock for the steps to come
    one_pass = time.perf_counter() - began
    pace.clock.record(engine.identity, n, one_pass)
    if settings.method == "gradient x input":
        scores, baseline, used = (grad * x)[0].sum(-1), None, 1
    else:
        left = None if pace.seconds is None else pace.seconds - 2 * one_pass  # this pass and the baseline's
        used = planned_steps(settings.steps, one_pass, left)
        scores, baseline = _integrated_gradients(engine, wt, inputs, x, (start, end), used, pace.progress)
    offsets = wt.window.offsets
    return Attribution(
        window=wt.window.index,
        start_token=start,
        end_token=end,
        text=trace.context[offsets[start][0] : offsets[end][1]] if offsets[start] else "",
        method=settings.method,
        tokens=wt.tokens,
        roles=wt.window.roles,
        scores=_padded(scores.detach().float().cpu().numpy()[None], wt)[0],
        target=float(target[0]),
        baseline_target=baseline,
        steps=used,
        asked_steps=settings.steps if settings.method == "integrated gradients" else 1,
        seconds=time.perf_counter() - began,
    )


def _attributable(engine: QAEngine, wt: WindowTrace, span: tuple[int, int]) -> int:
    """The window's token count, once the span is known to lie inside it and the model can give gradients."""
    n = sum(wt.window.attention_mask)
    if not 0 <= span[0] <= span[1] < n:
        raise ValueError(
            f"The span {span[0]}–{span[1]} is not inside window {wt.window.index + 1}'s {n} tokens."
        )
    if engine.int8:
        raise ValueError(
            "Attribution needs gradients, which int8 layers do not give: run the app without QA_INT8."
        )
    return n


def attention(engine: QAEngine, trace: Trace, window: int, span: tuple[int, int]) -> AttentionMap:
    """Per layer and head, how the span's tokens and the first token spread their attention over the window."""
    wt = _window(trace, window)
    start, end = span
    with _eager_attention(engine), torch.inference_mode():
        output = engine.model(**_inputs(engine, wt), output_attentions=True)
    # each (1, heads, n, n) -> (layers, heads, n, n): row i is where token i looks
    weights = torch.stack([a[0] for a in output.attentions]).float().cpu().numpy()
    from_answer = weights[:, :, start : end + 1, :].mean(axis=2)
    width = len(wt.window.input_ids)
    pad = [(0, 0), (0, 0), (0, width - weights.shape[-1])]
    return AttentionMap(
        window=wt.window.index,
        tokens=wt.tokens,
        roles=wt.window.roles,
        answer_tokens=(start, end),
        from_answer=np.pad(from_answer, pad),
        from_first=np.pad(weights[:, :, 0, :], pad),
    )


Span = tuple[int, int, int]  # window, start token, end token


def explain(
    engine: QAEngine,
    trace: Trace,
    span: Span,
    contrast: Span | None,
    settings: AttributionSettings,
    memo: Memo,
    pace: Pace | None = None,
) -> Explanation:
    """All the views of one span (and of a span to contrast it with), each from ``memo`` when computed before.

    The memo's keys hold the engine's identity (its folder and weights version), so two models, or one
    model retrained under the same name, never share a result. Attribution is left out for an int8
    model, which gives no gradients; the lens and attention need none.
    """
    question = (engine.identity, trace.question, trace.context, trace.settings)
    window, start, end = span

    def attribution_of(target: Span | None) -> Attribution | None:
        if target is None or engine.int8:
            return None
        w, s, e = target
        key = (*question, "attribution", target, settings)
        return memo.get(key, lambda: attribute(engine, trace, w, (s, e), settings, pace))

    return Explanation(
        key=hashlib.sha1(repr((*question, span, contrast, settings)).encode("utf-8")).hexdigest()[:16],
        span=span,
        lens=memo.get((*question, "lens", window), lambda: layer_lens(engine, trace, window)),
        attention=memo.get(
            (*question, "attention", span), lambda: attention(engine, trace, window, (start, end))
        ),
        attribution=attribution_of(span),
        contrast=attribution_of(contrast),
    )


def _window(trace: Trace, window: int) -> WindowTrace:
    if not 0 <= window < len(trace.windows):
        raise ValueError(
            f"There is no window {window + 1}: this answer was read in {len(trace.windows)} window(s)."
        )
    return trace.windows[window]


def _qa_head(engine: QAEngine) -> torch.nn.Module:
    head = getattr(engine.model, "qa_outputs", None)
    if head is None:
        raise ValueError(
            f"{engine.name} has no qa_outputs layer (the start/end head of BERT-style QA models), "
            "so its layers cannot be read through it."
        )
    return head


def _inputs(engine: QAEngine, wt: WindowTrace) -> dict[str, torch.Tensor]:
    """The window as the model read it, without padding: (1, n) tensors on the model's device."""
    n = sum(wt.window.attention_mask)
    device = next(engine.model.parameters()).device
    inputs = {"input_ids": torch.tensor([wt.window.input_ids[:n]], device=device)}
    if "token_type_ids" in engine.tokenizer.model_input_names:
        inputs["token_type_ids"] = torch.tensor([wt.window.token_type_ids[:n]], device=device)
    return inputs


def _padded(rows: np.ndarray, wt: WindowTrace) -> np.ndarray:
    """(k, n) -> (k, L): one value per window position, 0 on the padding the model did not read."""
    return np.pad(rows, [(0, 0), (0, len(wt.window.input_ids) - rows.shape[-1])])


def _span_log_prob(output, start: int, end: int) -> torch.Tensor:
    """(batch,) log p(start) + log p(end), softmax over the window's tokens as in training."""
    return output.start_logits.log_softmax(-1)[:, start] + output.end_logits.log_softmax(-1)[:, end]


def _target_and_grad(
    engine: QAEngine, inputs: dict[str, torch.Tensor], embeddings: torch.Tensor, start: int, end: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """f at the given (batch, n, hidden) embeddings and its gradient with respect to them."""
    embeddings = embeddings.detach().requires_grad_(True)
    batch = embeddings.shape[0]
    others = {k: v.expand(batch, -1) for k, v in inputs.items() if k != "input_ids"}
    with engine.lock.shared(), torch.enable_grad():
        target = _span_log_prob(engine.model(inputs_embeds=embeddings, **others), start, end)
        (grad,) = torch.autograd.grad(target.sum(), embeddings)
    return target.detach(), grad


def _integrated_gradients(
    engine: QAEngine,
    wt: WindowTrace,
    inputs: dict[str, torch.Tensor],
    x: torch.Tensor,
    span: tuple[int, int],
    steps: int,
    progress: Progress,
) -> tuple[torch.Tensor, float]:
    """Midpoint-rule integrated gradients from the padding baseline, in batches of ``IG_CHUNK`` steps."""
    n = x.shape[1]
    keep = torch.tensor([r == "special" for r in wt.window.roles[:n]], device=x.device)[None, :, None]
    with torch.no_grad():
        pad = engine.model.get_input_embeddings()(
            torch.tensor([[engine.tokenizer.pad_token_id]], device=x.device)
        )
        baseline = torch.where(keep, x, pad.expand_as(x))  # (1, n, hidden)
    total = torch.zeros_like(x[0])
    for first in range(0, steps, IG_CHUNK):
        alphas = ((torch.arange(first, min(first + IG_CHUNK, steps), device=x.device) + 0.5) / steps)[:, None, None]
        _, grads = _target_and_grad(engine, inputs, baseline + alphas * (x - baseline), *span)
        total += grads.sum(0)
        progress(first + len(alphas), steps)
    baseline_target, _ = _target_and_grad(engine, inputs, baseline, *span)
    scores = (total / steps * (x - baseline)[0]).sum(-1)
    return scores, float(baseline_target[0])


@contextmanager
def _eager_attention(engine: QAEngine) -> Iterator[None]:
    """Run with the eager attention kernel, the one that returns its weights, then switch back.

    The weights are the same with every kernel; the fused ones only do not hand them out. The kernel is
    the shared model's, so the switch waits for the passes of other requests and holds new ones back.
    """
    model = engine.model
    with engine.lock.exclusive():
        before = model.config._attn_implementation
        model.set_attn_implementation("eager")
        try:
            yield
        finally:
            model.set_attn_implementation(before)


class Memo:
    """The views computed for recent questions, kept so that switching spans, views or tabs does not recompute.

    Keys are whatever identifies a result (model, question, paragraph, settings, window, span, method);
    the least recently used result is dropped first. Two requests computing the same key at once both
    compute it: rare, harmless, and no request waits for another's model run.
    """

    def __init__(self, capacity: int) -> None:
        self._results: OrderedDict[Hashable, object] = OrderedDict()
        self._capacity = capacity
        self._lock = threading.Lock()

    def get(self, key: Hashable, compute: Callable[[], T]) -> T:
        with self._lock:
            if key in self._results:
                self._results.move_to_end(key)
                return self._results[key]  # type: ignore[return-value]
        result = compute()
        with self._lock:
            self._results[key] = result
            while len(self._results) > self._capacity:
                self._results.popitem(last=False)
        return result
