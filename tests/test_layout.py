"""What the layout promises: drawing needs no model stack, and each lifecycle keeps to its folder."""

from __future__ import annotations

import subprocess
import sys

from qa_core.files import REPO_ROOT


def _modules_after_import(module: str) -> set[str]:
    code = f"import sys, {module}; print(' '.join(sys.modules))"
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, check=True
    )
    return set(out.stdout.split())


def test_the_figures_import_neither_torch_nor_transformers():
    loaded = _modules_after_import("qa_core.figures")
    assert "qa_core.records" in loaded
    assert not {"torch", "transformers"} & loaded


def test_settings_and_records_import_neither_torch_nor_transformers():
    loaded = _modules_after_import("qa_core.settings, qa_core.records, qa_core.model_cache")
    assert not {"torch", "transformers"} & loaded


def test_answering_does_not_import_training_or_offline_tooling():
    loaded = _modules_after_import("qa_core.engine")
    assert not {m for m in loaded if m.startswith(("qa_core.train", "qa_core.base_models", "qa_core.bench"))}
