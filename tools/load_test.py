"""Load test: many clients ask the app's /answer API at once; every answer is checked and timed.

    python tools/load_test.py                                 # launches app.py on a free port
    python tools/load_test.py --clients 32 --questions 20 --out load.json
    python tools/load_test.py --url http://127.0.0.1:7860/    # a server already running on this machine
    QA_INT8=1 python tools/load_test.py                       # the server, and the expected answers, in int8

An answer is correct when it is the one the same checkpoint gives in-process through ``QAEngine`` with the
default settings, and its offsets cut it out of the paragraph. Those expected answers are computed before
the server starts, so the check holds for tiny random test models as well as for trained ones. A server
given by --url must read the same checkpoints folder as --checkpoints, with the same QA_INT8; its cold start
and memory are then unknown (null in the report).

Before the load the tool asks once with every shipped model, so the memory it reports is that of a server
holding all of them. Progress goes to stderr; the report (JSON) is printed last and written to --out. The
exit code is 1 when any question failed or was answered wrongly, 2 when the test could not run.

Only loopback URLs are accepted: a load test floods the server it aims at, so it is for one on this machine.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import logging
import sys
import tempfile
import time
import urllib.parse
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path

import numpy as np
from gradio_client import Client

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from qa_core.answering.engine import QAEngine  # noqa: E402
from qa_core.files import REPO_ROOT  # noqa: E402
from qa_core.models import (
    checkpoints,  # noqa: E402
    int8,  # noqa: E402
)
from tools.app_process import AppProcess, launched_app  # noqa: E402

log = logging.getLogger(__name__)

EXAMPLES_FILE = REPO_ROOT / "assets" / "examples.json"
KIB_PER_MB = 1024


@dataclass(frozen=True)
class Question:
    question: str
    context: str


@dataclass(frozen=True)
class Expected:
    answer: str
    start: int
    end: int


@dataclass(frozen=True)
class Reference:
    """The questions, the models to ask (the load's first) and what each model answers them in-process."""

    questions: tuple[Question, ...]
    models: tuple[str, ...]
    answers: dict[tuple[str, int], Expected]  # (model, question index) -> answer


@dataclass(frozen=True)
class LoadPlan:
    clients: int = 16
    questions: int = 10  # per client
    model: str = checkpoints.DEFAULT_NAME
    timeout_s: float = 600.0  # for all the questions, the models' first ones included


@dataclass(frozen=True)
class Outcome:
    latency_s: float | None = None  # None: no answer came back
    error: str | None = None  # why no answer came back
    wrong: str | None = None  # how the answer differs from the expected one


@dataclass(frozen=True)
class LoadReport:
    model: str
    clients: int
    questions_per_client: int
    questions: int
    answered: int
    errors: int  # of every question asked, the first one per model included
    wrong_answers: int
    latency_median_s: float | None
    latency_p95_s: float | None
    latency_max_s: float | None
    questions_per_second: float
    load_seconds: float
    cold_start_s: float | None  # process start -> first correct answer; None for a server given by URL
    models_loaded: tuple[str, ...]
    int8: bool  # the server ran its models in int8 (QA_INT8)
    server_rss_mb: float | None  # after the load, with every model in models_loaded held
    server_hwm_mb: float | None  # the server's peak resident memory


def load_questions(path: Path = EXAMPLES_FILE) -> tuple[Question, ...]:
    return tuple(Question(e["question"], e["context"]) for e in json.loads(path.read_text(encoding="utf-8")))


def require_loopback(url: str) -> None:
    host = urllib.parse.urlsplit(url).hostname or ""
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise ValueError(
            f"{url} is not on this machine: the load test only aims at loopback servers "
            "(127.0.0.1, ::1 or localhost). Run it on the machine that serves the app."
        )


def models_to_ask(plan: LoadPlan, root: Path) -> tuple[str, ...]:
    """The load's model first (its first answer ends the cold start), then the other shipped ones."""
    available = checkpoints.available(root)
    if plan.model not in available:
        raise ValueError(
            f"There is no model called {plan.model!r} in {root}; "
            f"choose one of: {', '.join(available) or 'none (the folder holds no models)'}."
        )
    return (plan.model, *(n for n in checkpoints.SHIPPED if n in available and n != plan.model))


def reference(plan: LoadPlan, root: Path, questions: tuple[Question, ...]) -> Reference:
    """Answer every question with every model in-process, with the default settings the API uses."""
    models = models_to_ask(plan, root)
    found = checkpoints.available(root)
    answers = {}
    for name in models:
        log.info("Expected answers from %s, in-process", name)
        engine = QAEngine.load(found[name], int8=int8.requested())
        for index, q in enumerate(questions):
            answer = engine.answer(q.question, q.context)
            answers[name, index] = Expected(answer.text, answer.start, answer.end)
    return Reference(questions, models, answers)


def connect(url: str) -> Client:
    """A client that talks to the server alone: no telemetry, no downloads, no proxy from the environment."""
    return Client(
        url, verbose=False, analytics_enabled=False, download_files=False, httpx_kwargs={"trust_env": False}
    )


def check(result: dict, expected: Expected, context: str, model: str) -> str | None:
    """How an /answer result differs from the expected answer, or None when it is right."""
    got = Expected(result["answer"], result["start"], result["end"])
    if result["model"] != model:
        return f"answered by {result['model']!r}, not {model!r}"
    if context[got.start : got.end] != got.answer:
        return f"context[{got.start}:{got.end}] is {context[got.start : got.end]!r}, not the answer {got.answer!r}"
    if got != expected:
        return f"got {got}, but {model} answers {expected} in-process"
    return None


def ask(client: Client, ref: Reference, model: str, index: int, deadline: float) -> Outcome:
    """One /answer call, timed and checked; waits no longer than the deadline."""
    q = ref.questions[index]
    start = time.monotonic()
    if start >= deadline:
        return Outcome(error="not asked: the time limit was reached")
    try:
        job = client.submit(question=q.question, context=q.context, model=model, api_name="/answer")
        result = job.result(timeout=deadline - start)
    except Exception as error:  # any failure of the call is what the load test counts
        return Outcome(error=f"{type(error).__name__}: {error}")
    return Outcome(time.monotonic() - start, wrong=check(result, ref.answers[model, index], q.context, model))


def server_memory_mb(pid: int) -> tuple[float, float]:
    """VmRSS and VmHWM (resident now, and at its peak) of a process on this machine, in MB."""
    status = Path(f"/proc/{pid}/status").read_text(encoding="utf-8").splitlines()
    fields = dict(line.split(":", 1) for line in status if ":" in line)
    rss, hwm = (int(fields[key].split()[0]) / KIB_PER_MB for key in ("VmRSS", "VmHWM"))
    return rss, hwm


def try_connect(url: str) -> Client | str:
    """A client, or why it could not connect (a client that cannot connect fails all of its questions)."""
    try:
        return connect(url)
    except Exception as error:  # whatever stops a client is what the load test reports
        return f"could not connect: {type(error).__name__}: {error}"


def ask_in_turn(
    client: Client | str, asks: Sequence[tuple[str, int]], ref: Reference, deadline: float
) -> list[Outcome]:
    """One client asking (model, question index) pairs one after another."""
    if isinstance(client, str):
        return [Outcome(error=client)] * len(asks)
    return [ask(client, ref, model, index, deadline) for model, index in asks]


def run_load_test(url: str, plan: LoadPlan, ref: Reference, process: AppProcess | None = None) -> LoadReport:
    """Ask once per model (the first answer ends the cold start of a fresh ``process``), then the load.

    Client ``c`` asks questions ``c, c+1, ...`` (cycling), so the clients ask different questions at once.
    The load's time starts once every client has connected.
    """
    require_loopback(url)
    deadline = time.monotonic() + plan.timeout_s
    first = try_connect(url)
    warm = ask_in_turn(first, [(plan.model, 0)], ref, deadline)
    cold_start = None
    if process is not None and warm[0].latency_s is not None and warm[0].wrong is None:
        cold_start = time.monotonic() - process.started_at
        log.info("Cold start: %.1f s from process start to the first correct answer", cold_start)
    n = len(ref.questions)
    warm += ask_in_turn(first, [(m, i % n) for i, m in enumerate(ref.models[1:], 1)], ref, deadline)

    log.info("Load: %d clients x %d questions to %s", plan.clients, plan.questions, plan.model)
    asks = [[(plan.model, (c + q) % n) for q in range(plan.questions)] for c in range(plan.clients)]
    with ThreadPoolExecutor(plan.clients) as pool:
        clients = [first, *pool.map(try_connect, [url] * plan.clients)]
        started = time.monotonic()
        runs = pool.map(partial(ask_in_turn, ref=ref, deadline=deadline), clients[1:], asks)
        load = [outcome for run in runs for outcome in run]
        load_seconds = time.monotonic() - started
    for client in clients:
        if isinstance(client, Client):
            client.close()
    for number, outcome in enumerate(warm + load, 1):
        if outcome.error or outcome.wrong:
            log.warning("Question %d: %s", number, outcome.error or outcome.wrong)
    memory = server_memory_mb(process.pid) if process is not None else (None, None)
    return summarise(plan, ref, warm, load, load_seconds, cold_start, memory)


def summarise(
    plan: LoadPlan,
    ref: Reference,
    warm: list[Outcome],
    load: list[Outcome],
    load_seconds: float,
    cold_start: float | None,
    memory: tuple[float | None, float | None],
) -> LoadReport:
    latencies = [o.latency_s for o in load if o.latency_s is not None]

    def rounded(value: float | None, digits: int = 3) -> float | None:
        return None if value is None else round(float(value), digits)

    def latency(statistic) -> float | None:
        return rounded(statistic(latencies)) if latencies else None

    return LoadReport(
        model=plan.model,
        clients=plan.clients,
        questions_per_client=plan.questions,
        questions=len(load),
        answered=len(latencies),
        errors=sum(o.error is not None for o in warm + load),
        wrong_answers=sum(o.wrong is not None for o in warm + load),
        latency_median_s=latency(np.median),
        latency_p95_s=latency(lambda x: np.percentile(x, 95)),
        latency_max_s=latency(max),
        questions_per_second=round(len(latencies) / load_seconds, 2),
        load_seconds=round(load_seconds, 2),
        cold_start_s=rounded(cold_start, 2),
        models_loaded=ref.models,
        int8=int8.requested(),
        server_rss_mb=rounded(memory[0], 1),
        server_hwm_mb=rounded(memory[1], 1),
    )


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--url", help="a running server on this machine (default: launch app.py)")
    parser.add_argument("--clients", type=int, default=LoadPlan.clients, help="clients asking at once")
    parser.add_argument("--questions", type=int, default=LoadPlan.questions, help="questions per client")
    parser.add_argument("--model", default=LoadPlan.model, help="the model the load asks")
    parser.add_argument("--timeout", type=float, default=LoadPlan.timeout_s, help="seconds for all questions")
    parser.add_argument(
        "--checkpoints", type=Path, default=checkpoints.ROOT, help="the server's checkpoints folder"
    )
    parser.add_argument("--out", type=Path, help="also write the report (JSON) here")
    args = parser.parse_args(argv)
    if args.clients < 1 or args.questions < 1 or args.timeout <= 0:
        parser.error("--clients and --questions must be at least 1 and --timeout above 0")
    return args


def measure(args: argparse.Namespace) -> LoadReport:
    plan = LoadPlan(args.clients, args.questions, args.model, args.timeout)
    if args.url:
        require_loopback(args.url)
    ref = reference(plan, args.checkpoints, load_questions())  # before the server competes for the CPU
    if args.url:
        return run_load_test(args.url, plan, ref)
    with tempfile.TemporaryDirectory() as tmp:
        log.info("Starting app.py with the checkpoints in %s", args.checkpoints)
        with launched_app(Path(tmp) / "server.log", args.checkpoints) as process:
            return run_load_test(process.url, plan, ref, process)


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s", stream=sys.stderr)
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per request otherwise
    args = parse_args(argv)
    try:
        report = measure(args)
    except (ValueError, RuntimeError) as error:
        log.error("%s", error)
        return 2
    text = json.dumps(asdict(report), indent=2, ensure_ascii=False)
    if args.out:
        args.out.write_text(text + "\n", encoding="utf-8")
    print(text)
    return 1 if report.errors or report.wrong_answers else 0


if __name__ == "__main__":
    sys.exit(main())
