"""The benchmark: its report's structure and summary, with the engine itself standing in for the pipeline."""

from __future__ import annotations

import json
import time
from dataclasses import asdict
from pathlib import Path

import pytest

from qa_core.answering.engine import QAEngine
from qa_core.data.squad import Example, GoldAnswer, write_squad
from qa_core.settings import AnswerSettings
from qa_core.tooling.bench import run as bench

DRCD = [
    ("台北是臺灣的首都，位於島嶼北部。", "臺灣的首都是什麼？", "台北"),
    ("上海東方明珠塔很好。", "東方明珠塔在哪裡？", "上海"),
    ("天氣很好。台北人口很多。", "哪裡人口很多？", "台北"),
]
SQUAD = [
    ("the eiffel tower is in paris.", "where is the eiffel tower?", "paris"),
    ("the seine flows through paris, france.", "what flows through paris?", "seine"),
]
LATENCY_KEYS = {"median_s", "p95_s", "runs"}
SCORE_KEYS = {"seconds", "questions_per_s", "exact_match", "f1", "accuracy", "n"}


class EngineBaseline:
    """Stands in for bench.Baseline (the pipeline in another venv): same interface, the engine's answers."""

    version = "engine-as-baseline"

    def __init__(self, checkpoint: str, settings: AnswerSettings, threads: int):
        self.engine, self.settings, self.threads = QAEngine.load(checkpoint), settings, threads
        self.calls: list[int] = []
        self.closed = False

    def answer(self, pairs: list[tuple[str, str]]) -> tuple[list[dict], float, float]:
        self.calls.append(len(pairs))
        started = time.perf_counter()
        answers = self.engine.answer_many(pairs, self.settings)
        seconds = time.perf_counter() - started
        return [{"text": a.text, "start": a.start, "end": a.end} for a in answers], seconds, 123.0

    def close(self) -> None:
        self.closed = True


def _write(rows: list[tuple[str, str, str]], prefix: str, path: Path) -> Path:
    path.parent.mkdir(parents=True)
    examples = [
        Example(f"{prefix}-{i}", question, context, (GoldAnswer(answer, context.index(answer)),))
        for i, (context, question, answer) in enumerate(rows)
    ]
    return write_squad(examples, path)


@pytest.fixture
def data_dir(tmp_path) -> Path:
    for name, rows, prefix in (("drcd_dev", DRCD, "zh"), ("squad_dev", SQUAD, "en")):
        _write(rows, prefix, tmp_path / bench.SETS[name])
    return tmp_path


@pytest.mark.integration
def test_run_reports_latency_throughput_and_memory_for_every_variant(tiny_bert_dir, data_dir) -> None:
    started = time.perf_counter()
    baselines: list[EngineBaseline] = []

    def start_baseline(checkpoint: str, settings: AnswerSettings, threads: int) -> EngineBaseline:
        baselines.append(EngineBaseline(checkpoint, settings, threads))
        return baselines[-1]

    report = bench.run(str(tiny_bert_dir), True, 2, data_dir, start_baseline)
    elapsed = time.perf_counter() - started

    assert set(report) == {
        "checkpoint", "machine", "baseline", "settings", "load_s",
        "short_latency", "long_chinese_paragraph", "long_chinese_latency", "throughput", "peak_rss_mb",
    }  # fmt: skip
    long = report["long_chinese_paragraph"]
    assert long["windows"] >= 1 and long["tokens"] > long["windows"]
    assert report["checkpoint"] == str(tiny_bert_dir)
    assert report["baseline"] == "transformers engine-as-baseline question-answering pipeline, batch_size 1"
    assert report["settings"] == asdict(bench.PIPELINE_RULES)
    spans = report["settings"]["spans"]
    assert spans["window_scores"] == "softmax" and not spans["use_max_context"]
    assert set(report["load_s"]) == {"fp32", "int8"}
    for key, runs in (("short_latency", 20), ("long_chinese_latency", 5)):
        assert set(report[key]) == {"fp32", "int8", "pipeline"}
        for latency in report[key].values():
            assert set(latency) == LATENCY_KEYS and latency["runs"] == runs
            assert 0 < latency["median_s"] <= latency["p95_s"]
    assert set(report["throughput"]) == {"drcd_dev", "squad_dev"}
    for variants in report["throughput"].values():
        assert set(variants) == {"pipeline", "fp32", "int8", "fp32_default_rules"}
        assert set(variants["pipeline"]) == SCORE_KEYS and variants["pipeline"]["n"] == 2
        for name in ("fp32", "int8", "fp32_default_rules"):
            assert set(variants[name]) == SCORE_KEYS | {"same_answer_as_pipeline", "speedup_vs_pipeline"}
            assert variants[name]["n"] == 2 and variants[name]["speedup_vs_pipeline"] > 0
        assert variants["fp32"]["same_answer_as_pipeline"] == 1.0, "the stand-in is the same fp32 engine"
    assert report["peak_rss_mb"]["pipeline_process"] == 123.0
    assert report["peak_rss_mb"]["engine_process"] > 0
    json.dumps(report)  # the report is written as JSON

    (baseline,) = baselines
    assert baseline.closed and baseline.settings == bench.PIPELINE_RULES
    assert baseline.calls[-3:-1] == [2, 2], "throughput asks the baseline for each set's questions at once"

    text = bench.summary(report)
    assert text.startswith(f"checkpoint {tiny_bert_dir} on ")
    assert len(text.splitlines()) == 1 + 1 + 2 * 3 + 2 * 4 + 2
    assert "fp32*" in text
    assert "vs pipeline, same answer 100.0%" in text
    assert elapsed < 30, "the benchmark of a tiny model on tiny files takes seconds"


def test_long_chinese_pair_joins_distinct_paragraphs_up_to_the_limit() -> None:
    examples = [
        Example(str(i), f"q{i}", c, ()) for i, c in enumerate(["甲" * 2000, "甲" * 2000, "乙" * 2000])
    ]
    question, context = bench.long_chinese_pair(examples)
    assert question == "q0"
    assert context == "甲" * 2000 + "乙" * 1000
    assert len(context) == bench.LONG_CHARS


def test_latency_summarises_median_and_95th_percentile() -> None:
    times = [float(t) for t in range(1, 21)]
    assert bench.latency(times) == bench.Latency(median_s=10.5, p95_s=19.0, runs=20)
    assert bench.percentile([3.0], 0.95) == 3.0


def test_the_pipeline_worker_is_started_as_an_isolated_script_and_answers_on_its_protocol(tmp_path) -> None:
    """A stand-in for the baseline's Python: it checks how it was started, then answers as the worker does."""
    python = tmp_path / "python"
    python.write_text(
        "#!/bin/sh\n"
        '[ "$1" = "-I" ] && [ -f "$2" ] || exit 3\n'
        "read -r request\n"
        'echo \'{"ready": true, "transformers": "4.57.6"}\'\n'
    , encoding="utf-8")
    python.chmod(0o755)
    baseline = bench.Baseline(python, "checkpoint", bench.PIPELINE_RULES, threads=1)
    assert baseline.version == "4.57.6"
    assert Path(baseline.process.args[2]) == bench.WORKER and bench.WORKER.name == "pipeline_worker.py"
    baseline.close()
    assert baseline.process.returncode == 0


def test_the_lecture_benchmark_times_every_lecture_view_on_the_apps_examples(tiny_bert_dir, capsys) -> None:
    from qa_core.tooling.bench import lecture as lecture_bench

    assert lecture_bench.main(["--checkpoint", str(tiny_bert_dir), "--runs", "1", "--threads", "1"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(" (")[0].split("  ")[0] for line in lines[1:]] == [
        "same character",
        "embedding arithmetic",
        "projection",
        "same question, two languages",
    ]
    assert "median" in lines[1] and "median" in lines[4]
    assert "skipped: tiny_bert0 cannot run this view on these words" in lines[2], (
        "no Chinese in its vocabulary"
    )
    assert "10 sentences" in lines[1], "the tiny model knows the English example: ten bank sentences"
