"""Engine against the transformers question-answering pipeline: same checkpoint, same inputs, one run.

Measured, interleaved so that machine noise hits both sides alike: (a) latency on a short
paragraph, (b) latency on a long Chinese paragraph (many windows), (c) throughput over the first
N questions of DRCD dev and of SQuAD dev, with how often both give the same answer. With
``--int8`` the engine is measured in float32 and int8, and EM/F1 of every variant is reported.

The pipeline has no max-context rule and compares windows by per-window probabilities, so the
engine is measured with those same rules (``PIPELINE_RULES``): "same answer" then checks that both
compute the same thing. The engine's own defaults are scored once more, as ``fp32_default_rules``.
"""

from __future__ import annotations

import json
import logging
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from qa_core.answering.engine import QAEngine
from qa_core.data.metrics import score
from qa_core.data.squad import Example, load_examples
from qa_core.files import REPO_ROOT
from qa_core.settings import AnswerSettings, SpanRules

log = logging.getLogger(__name__)

BASELINE_VENV = REPO_ROOT / ".cache" / "pipeline-venv"
BASELINE_PACKAGES = ["torch==2.13.0", "transformers==4.57.6"]
WORKER = Path(__file__).with_name("pipeline_worker.py")
SETS = {"drcd_dev": Path("drcd/DRCD_dev.json"), "squad_dev": Path("squad/dev-v1.1-no-xquad.json")}
SHORT_CONTEXT = (
    "The Thames Barrier is a movable flood defence across the River Thames, east of central London. It was "
    "completed in 1982 after a long design competition and cost about 535 million pounds. Ten steel gates, "
    "each as heavy as a small ship, lie flat on the river bed so that boats can pass. When a storm surge is "
    "forecast, the gates rotate upwards to form a continuous wall that holds back the rising sea. The barrier "
    "was first used in anger in 1983, and by 2020 it had been closed more than two hundred times. Engineers "
    "expect it to protect the city until about 2070, when a new barrier may be needed."
)
SHORT_QUESTION = "When was the Thames Barrier completed?"
LONG_CHARS = 3000
PIPELINE_RULES = AnswerSettings(spans=SpanRules(use_max_context=False, window_scores="softmax"))


@dataclass(frozen=True)
class Latency:
    median_s: float
    p95_s: float
    runs: int


def percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def latency(times: Sequence[float]) -> Latency:
    return Latency(statistics.median(times), percentile(times, 0.95), len(times))


class Baseline:
    """The pipeline in a worker process under the baseline virtual environment.

    The worker runs as a script in isolated mode (``-I``): neither its own folder (this package) nor
    PYTHONPATH, which may point at the app's transformers 5, comes before the venv's transformers 4.57.
    """

    def __init__(self, python: Path, checkpoint: str, settings: AnswerSettings, threads: int):
        self.settings = settings
        self.process = subprocess.Popen(
            [str(python), "-I", str(WORKER)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            encoding="utf-8",
        )
        self.version = self._send({"checkpoint": checkpoint, "threads": threads})["transformers"]

    def _send(self, message: dict) -> dict:
        self.process.stdin.write(json.dumps(message, ensure_ascii=False) + "\n")
        self.process.stdin.flush()
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError("the pipeline worker stopped; run it by hand to see why")
        return json.loads(line)

    def answer(self, pairs: list[tuple[str, str]]) -> tuple[list[dict], float, float]:
        windows, spans = self.settings.windows, self.settings.spans
        reply = self._send(
            {
                "pairs": pairs,
                "batch_size": 1,
                "max_length": windows.max_length,
                "doc_stride": windows.doc_stride,
                "max_answer_length": spans.max_answer_length,
                "max_question_length": windows.question_limit,
            }
        )
        return reply["answers"], reply["seconds"], reply["peak_rss_mb"]

    def close(self) -> None:
        self.process.stdin.close()
        self.process.wait(timeout=30)


def setup_baseline(venv: Path = BASELINE_VENV) -> Path:
    """Create the baseline's virtual environment once (the app's own requirements stay on transformers 5)."""
    python = venv / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "--quiet", *BASELINE_PACKAGES], check=True)
    return python


def long_chinese_pair(examples: list[Example]) -> tuple[str, str]:
    """A ~3,000-character Chinese paragraph: consecutive DRCD dev paragraphs joined, asked the first one's question."""
    paragraphs: list[str] = []
    for e in examples:
        if not paragraphs or paragraphs[-1] != e.context:
            paragraphs.append(e.context)
        if sum(map(len, paragraphs)) >= LONG_CHARS:
            break
    return examples[0].question, "".join(paragraphs)[:LONG_CHARS]


def cpu_description() -> str:
    """The CPU model, torch's vector level and the int8/bf16 dot-product instructions present: int8's gain
    over float32 depends above all on VNNI, so figures from two machines compare only with this beside them."""
    cpuinfo = Path("/proc/cpuinfo")
    text = cpuinfo.read_text(encoding="utf-8") if cpuinfo.exists() else ""
    pairs = (line.split(":", 1) for line in text.splitlines() if ":" in line)
    fields = {key.strip(): value.strip() for key, value in pairs}
    flags = set(fields.get("flags", "").split())
    present = [f for f in ("avx512_vnni", "avx_vnni", "avx512_bf16", "amx_int8") if f in flags]
    model = fields.get("model name") or platform.processor() or platform.machine()
    return f"{model} ({torch.backends.cpu.get_cpu_capability()}{''.join(', ' + f for f in present)})"


def timed(fn: Callable[[], object]) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def interleaved_latency(engines: dict[str, QAEngine], baseline: Baseline, pair, settings, runs: int) -> dict:
    """Alternate engine variants and the pipeline on one pair; each gets the same number of warm runs."""
    times: dict[str, list[float]] = {name: [] for name in [*engines, "pipeline"]}
    for run in range(runs + 1):  # run 0 warms caches and is dropped
        for name, engine in engines.items():
            t = timed(lambda engine=engine: engine.answer(*pair, settings))
            if run:
                times[name].append(t)
        seconds = baseline.answer([pair])[1]
        if run:
            times["pipeline"].append(seconds)
    return {name: asdict(latency(t)) for name, t in times.items()}


def throughput(
    variants: dict[str, tuple[QAEngine, AnswerSettings]], baseline: Baseline, examples: list[Example]
) -> dict:
    """Questions per second, agreement with the pipeline, EM/F1, for every variant on one data set."""
    pairs = [(e.question, e.context) for e in examples]
    result: dict[str, dict] = {}
    baseline_answers, seconds, _ = baseline.answer(pairs)
    result["pipeline"] = _scored(examples, [a["text"] for a in baseline_answers], seconds)
    for name, (engine, settings) in variants.items():
        started = time.perf_counter()
        answers = engine.answer_many(pairs, settings)
        result[name] = _scored(examples, [a.text for a in answers], time.perf_counter() - started)
        same = sum(
            (a.start, a.end) == (b["start"], b["end"]) for a, b in zip(answers, baseline_answers, strict=True)
        )
        result[name]["same_answer_as_pipeline"] = same / len(examples)
        result[name]["speedup_vs_pipeline"] = seconds / result[name]["seconds"]
    return result


def _scored(examples: list[Example], texts: list[str], seconds: float) -> dict:
    scores = score({e.id: t for e, t in zip(examples, texts, strict=True)}, examples)
    return {"seconds": seconds, "questions_per_s": len(examples) / seconds, **asdict(scores)}


def run(
    checkpoint: str,
    int8: bool,
    questions: int,
    data_dir: Path,
    start_baseline: Callable[[str, AnswerSettings, int], Baseline],
) -> dict:
    threads = torch.get_num_threads()
    settings = PIPELINE_RULES
    loads = {"fp32": lambda: QAEngine.load(checkpoint)}
    if int8:
        loads["int8"] = lambda: QAEngine.load(checkpoint, int8=True)
    engines, load_s = {}, {}
    for name, load in loads.items():
        started = time.perf_counter()
        engines[name] = load()
        load_s[name] = time.perf_counter() - started
    baseline = start_baseline(checkpoint, settings, threads)
    variants = {name: (engine, settings) for name, engine in engines.items()}
    variants["fp32_default_rules"] = (engines["fp32"], AnswerSettings())
    data = {name: load_examples(data_dir / path)[:questions] for name, path in SETS.items()}
    long_pair = long_chinese_pair(data["drcd_dev"])
    long_windows = engines["fp32"].preview_windows(*long_pair, settings)
    report = {
        "checkpoint": checkpoint,
        "machine": f"{cpu_description()}, {os.cpu_count()} cores, torch threads {threads}",
        "baseline": f"transformers {baseline.version} question-answering pipeline, batch_size 1",
        "settings": asdict(settings),
        "load_s": load_s,
        "short_latency": interleaved_latency(
            engines, baseline, (SHORT_QUESTION, SHORT_CONTEXT), settings, 20
        ),
        "long_chinese_paragraph": {
            "characters": len(long_pair[1]),
            "windows": len(long_windows),
            "tokens": sum(sum(w.attention_mask) for w in long_windows),
        },
        "long_chinese_latency": interleaved_latency(engines, baseline, long_pair, settings, 5),
        "throughput": {name: throughput(variants, baseline, examples) for name, examples in data.items()},
    }
    report["peak_rss_mb"] = {
        "engine_process": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "pipeline_process": baseline.answer([(SHORT_QUESTION, SHORT_CONTEXT)])[2],
    }
    baseline.close()
    return report


def summary(report: dict) -> str:
    lines = [f"checkpoint {report['checkpoint']} on {report['machine']}; baseline: {report['baseline']}"]
    long = report["long_chinese_paragraph"]
    lines.append(
        f"long Chinese paragraph: {long['characters']} characters, {long['windows']} windows, {long['tokens']} tokens"
    )
    for key in ("short_latency", "long_chinese_latency"):
        for name, lat in report[key].items():
            lines.append(
                f"{key:22} {name:9} median {lat['median_s'] * 1000:7.1f} ms  p95 {lat['p95_s'] * 1000:7.1f} ms"
            )
    for data_name, variants in report["throughput"].items():
        for name, r in variants.items():
            name = name.replace("_default_rules", "*")
            extra = (
                f"  x{r['speedup_vs_pipeline']:.2f} vs pipeline, same answer {100 * r['same_answer_as_pipeline']:.1f}%"
                if "speedup_vs_pipeline" in r
                else ""
            )
            lines.append(
                f"{data_name:10} {name:9} {r['questions_per_s']:6.2f} q/s  EM {r['exact_match']:5.1f} "
                f"F1 {r['f1']:5.1f}{extra}"
            )
    lines.append("fp32* = the engine's default rules (max-context on, raw scores compared across windows)")
    lines.append(f"peak memory (MB): {json.dumps(report['peak_rss_mb'])}")
    return "\n".join(lines)
