"""How long each "why this span" view takes on one full 384-token window.

    python -m qa_core.tooling.bench.why [--checkpoint DIR] [--runs 5] [--threads 2] [--out why_bench.json]

The window is the longest window of the long Chinese example from ``assets/examples.json`` read
with the default settings (384 tokens), so the figures are for the largest window the app draws.
Each view runs once to warm up, then ``--runs`` times; the median and the slowest run are reported.
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import torch

from qa_core.answering.engine import QAEngine
from qa_core.answering.records import Trace
from qa_core.explaining import why
from qa_core.files import REPO_ROOT
from qa_core.flags import one_style
from qa_core.models.checkpoints import default_checkpoint
from qa_core.settings import AttributionSettings
from qa_core.tooling.bench.run import cpu_description

EXAMPLE = "長段落 (3+ windows): 茶的歷史"
IG16 = AttributionSettings(method="integrated gradients", steps=16)


def views(engine: QAEngine, trace: Trace) -> dict[str, Callable[[], object]]:
    """The four computations the app runs for one span, by name, on the longest window and its best span."""
    w = max(range(len(trace.windows)), key=lambda i: sum(trace.windows[i].window.attention_mask))
    best = trace.windows[w].best
    span = (best.start_token, best.end_token)
    return {
        "layer lens": lambda: why.layer_lens(engine, trace, w),
        "attention": lambda: why.attention(engine, trace, w, span),
        "gradient x input": lambda: why.attribute(engine, trace, w, span),
        "integrated gradients (16 steps)": lambda: why.attribute(engine, trace, w, span, IG16),
    }


def measure(fn: Callable[[], object], runs: int) -> dict[str, float]:
    fn()  # warm-up: first-call allocations and kernel selection
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return {"median_s": round(statistics.median(times), 3), "max_s": round(max(times), 3)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m qa_core.tooling.bench.why", description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoint", help="Model folder (default: the shipped default checkpoint).")
    parser.add_argument("--runs", type=int, default=5, help="Timed runs of each view after one warm-up.")
    parser.add_argument("--threads", type=int, default=2, help="Torch threads (the app's machine: 2 cores).")
    parser.add_argument("--out", type=Path, help="Also write the report here as JSON.")
    args = one_style(parser).parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    torch.set_num_threads(args.threads)
    engine = QAEngine.load(args.checkpoint or default_checkpoint())
    examples = json.loads((REPO_ROOT / "assets" / "examples.json").read_text(encoding="utf-8"))
    example = next(e for e in examples if e["label"] == EXAMPLE)
    trace = engine.answer(example["question"], example["context"]).trace
    tokens = max(sum(wt.window.attention_mask) for wt in trace.windows)
    report = {
        "checkpoint": engine.name,
        "window_tokens": tokens,
        "machine": f"{cpu_description()}, {torch.get_num_threads()} torch threads",
        "views": {name: measure(fn, args.runs) for name, fn in views(engine, trace).items()},
    }
    print(report["machine"])  # two machines' figures compare only with their instruction sets beside them
    for name, timing in report["views"].items():
        print(
            f"{name:32s} median {timing['median_s']:.3f} s, slowest {timing['max_s']:.3f} s ({tokens} tokens)"
        )
    if args.out:
        args.out.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
