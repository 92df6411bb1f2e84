"""The engine's device: CPU unless asked for or on ZeroGPU; ``gpu(fn)`` with and without ``spaces``."""

from __future__ import annotations

import importlib.machinery
import os
import subprocess
import sys
import types
from collections.abc import Callable

import pytest
import torch

from qa_core.answering.engine import QAEngine
from qa_core.files import REPO_ROOT
from qa_core.models import device
from ui.zerogpu import gpu


@pytest.fixture(autouse=True)
def plain_machine(monkeypatch) -> None:
    """No operator choice, not a ZeroGPU Space, no ``spaces`` package, and no CUDA unless a test says so."""
    monkeypatch.delenv(device.ENV, raising=False)
    monkeypatch.delenv(device.ZERO_GPU_ENV, raising=False)
    monkeypatch.setitem(sys.modules, "spaces", None)  # None: `import spaces` fails
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)


def stand_in_spaces(monkeypatch) -> list[tuple[str, int | None]]:
    """A ``spaces`` module whose ``GPU`` records what it wrapped (name and duration) and returns it as is."""
    wrapped: list[tuple[str, int | None]] = []

    def GPU(fn: Callable | None = None, duration: int | None = None):  # noqa: N802 (the package's name)
        if fn is None:
            return lambda inner: GPU(inner, duration)
        wrapped.append((fn.__name__, duration))
        return fn

    module = types.ModuleType("spaces")
    module.__spec__ = importlib.machinery.ModuleSpec("spaces", None)
    module.GPU = GPU
    monkeypatch.setitem(sys.modules, "spaces", module)
    return wrapped


def answer() -> str:
    return "42"


def explain() -> str:
    return "because"


def test_without_spaces_a_function_is_returned_unchanged() -> None:
    assert gpu(answer) is answer and gpu(explain, duration=120) is explain


def test_with_spaces_each_function_is_wrapped_once_with_its_duration(monkeypatch) -> None:
    wrapped = stand_in_spaces(monkeypatch)
    assert gpu(answer)() == "42" and gpu(explain, duration=120)() == "because"
    assert wrapped == [("answer", None), ("explain", 120)]


def test_the_cpu_is_the_default_even_where_cuda_is_there(monkeypatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert device.pick() == torch.device("cpu")


@pytest.mark.parametrize(("cuda", "expected"), [(True, "cuda"), (False, "cpu")])
def test_auto_takes_cuda_only_where_there_is_one(monkeypatch, cuda, expected) -> None:
    monkeypatch.setenv(device.ENV, "auto")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
    assert device.pick().type == expected
    assert device.pick(int8=True).type == "cpu", "int8 layers exist on the CPU only"


def test_a_zerogpu_space_runs_on_cuda_unless_the_operator_says_cpu(monkeypatch) -> None:
    monkeypatch.setenv(device.ZERO_GPU_ENV, "true")
    assert device.pick().type == "cpu", "without the spaces package no GPU is lent"
    stand_in_spaces(monkeypatch)
    assert device.pick().type == "cuda"
    monkeypatch.setenv(device.ENV, "cpu")
    assert device.pick().type == "cpu"


@pytest.mark.parametrize(
    ("value", "int8", "message"),
    [
        ("cuda", True, "int8 layers run on the CPU only: unset QA_INT8 or set QA_DEVICE=cpu."),
        ("cuda", False, "QA_DEVICE=cuda, but this machine has no CUDA GPU that torch can use: set QA_DEVICE=cpu or auto."),
        ("gpu", False, "QA_DEVICE='gpu' is not a device: use cpu, cuda, auto."),
    ],
)
def test_an_impossible_choice_is_refused_in_one_line(monkeypatch, value, int8, message) -> None:
    monkeypatch.setenv(device.ENV, value)
    with pytest.raises(ValueError) as refused:
        device.pick(int8=int8)
    assert str(refused.value) == message


def test_the_engine_loads_on_the_cpu_and_refuses_int8_on_cuda_before_loading(tiny_bert_dir) -> None:
    engine = QAEngine.load(tiny_bert_dir)
    assert next(engine.model.parameters()).device.type == "cpu"
    with pytest.raises(ValueError, match="CPU only"):
        QAEngine.load("no/such/folder/at/all", int8=True, device="cuda")


MODEL_RUNS = {
    "ask",
    "answer_api",
    "explain",
    "lecture_context",
    "lecture_arithmetic",
    "lecture_projection",
    "lecture_same_question",
    "measure",
}


@pytest.mark.integration
def test_on_a_space_the_page_lends_the_gpu_to_exactly_the_callbacks_that_run_a_model(tmp_path):
    """A fresh interpreter imports the app with a stand-in ``spaces`` that records what it wraps."""
    (tmp_path / "spaces.py").write_text(
        "WRAPPED = []\n"
        "def GPU(fn=None, duration=None):\n"
        "    def wrap(f):\n"
        "        WRAPPED.append(getattr(f, '__wrapped__', f).__name__)\n"
        "        return f\n"
        "    return wrap(fn) if fn is not None else wrap\n",
        encoding="utf-8",
    )
    code = "import app, spaces; print(' '.join(sorted(spaces.WRAPPED)))"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(REPO_ROOT)])}
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, env=env, capture_output=True, text=True, check=True)
    assert set(out.stdout.split()) == MODEL_RUNS


def test_without_spaces_the_page_runs_its_callbacks_unwrapped():
    """Locally nothing changes: the Ask button runs ``ask`` itself, in the page's language."""
    import app

    ask_event = next(d for d in app.demo.fns.values() if d.api_name == "ask")
    assert ask_event.fn.__wrapped__.__name__ == "ask"
    assert not hasattr(ask_event.fn.__wrapped__, "__wrapped__")
