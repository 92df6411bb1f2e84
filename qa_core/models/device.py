"""Where the engine's models run: the one place that picks CPU or CUDA.

CPU by default, so a laptop, a CPU Space and the tests give the same answers at the same speed as before.
CUDA only when asked for (``QA_DEVICE=cuda``, or ``auto`` on a machine that has it) or on a ZeroGPU Space,
where the ``spaces`` package lends a GPU to the functions wrapped in ``spaces.GPU`` and moving the model
to CUDA at start-up is the documented pattern. int8 layers exist for the CPU only.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
from typing import Literal, get_args

import torch

ENV = "QA_DEVICE"  # a server's operator sets it to cpu, cuda or auto
ZERO_GPU_ENV = "SPACES_ZERO_GPU"  # set to true by Hugging Face on ZeroGPU hardware
Choice = Literal["cpu", "cuda", "auto"]


def requested() -> Choice | None:
    """The operator's choice from QA_DEVICE, or None when unset; a misspelling is refused in one line."""
    value = os.environ.get(ENV, "").strip().lower()
    if not value:
        return None
    if value not in get_args(Choice):
        raise ValueError(f"{ENV}={value!r} is not a device: use {', '.join(get_args(Choice))}.")
    return value  # type: ignore[return-value]


def on_zerogpu() -> bool:
    """True on a ZeroGPU Space: the Space says so and the ``spaces`` package is there to lend the GPU."""
    said = os.environ.get(ZERO_GPU_ENV, "").strip().lower() in {"1", "t", "true"}
    return said and importlib.util.find_spec("spaces") is not None


def pick(choice: Choice | None = None, *, int8: bool = False) -> torch.device:
    """The device to load a model on: ``choice``, else QA_DEVICE, else CUDA on ZeroGPU and CPU elsewhere.

    ``auto`` means the fastest that works, so with int8 it is the CPU; an explicit ``cuda`` with int8 is
    a contradiction and is refused rather than silently run on the CPU.
    """
    choice = choice or requested() or ("auto" if on_zerogpu() else "cpu")
    if choice == "cpu" or (choice == "auto" and int8):
        return torch.device("cpu")
    if int8:
        raise ValueError("int8 layers run on the CPU only: unset QA_INT8 or set QA_DEVICE=cpu.")
    if on_zerogpu():
        importlib.import_module("spaces")  # before any CUDA call: it stands in for the GPU it lends later
        return torch.device("cuda")
    if torch.cuda.is_available():
        return torch.device("cuda")
    if choice == "auto":
        return torch.device("cpu")
    raise ValueError(f"{ENV}=cuda, but this machine has no CUDA GPU that torch can use: set {ENV}=cpu or auto.")
