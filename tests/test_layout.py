"""The layout's one contract: which lifecycle may import which, read from the code's own imports.

Answering imports no teaching, training or tooling; figures and records import no torch; the page
imports no training loop. Each rule is checked over the transitive imports of every module it covers
(imports inside functions included, since they run too), so a rule cannot be broken two modules away.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from functools import cache
from pathlib import Path

import pytest

from qa_core.files import REPO_ROOT

TRAINING_LOOP = ("qa_core.train.run", "qa_core.train.dataset", "qa_core.train.callbacks", "transformers.trainer")
FIGURES = ("trace_figures", "why_figures", "lecture_figures", "lessons_figures", "calibration_figures", "style")
RECORDS = ("answering.records", "explaining.why_records", "explaining.lecture_records", "explaining.lessons_records")
# (the modules a rule covers, what none of them may reach)
CONTRACT = {
    "answering": (("qa_core.answering",), ("qa_core.explaining", "qa_core.train", "qa_core.tooling", "ui", "gradio")),
    "models": (("qa_core.models",), ("qa_core.answering", "qa_core.explaining", "qa_core.train", "qa_core.tooling", "ui")),
    "data": (("qa_core.data",), ("qa_core.explaining", "qa_core.train", "qa_core.tooling", "ui", "gradio")),
    "explaining": (("qa_core.explaining",), ("qa_core.train", "qa_core.tooling", "ui", "gradio")),
    "training": (("qa_core.train",), ("qa_core.explaining", "ui", "gradio")),
    "figures and records": (
        tuple(f"qa_core.explaining.{m}" for m in FIGURES) + tuple(f"qa_core.{m}" for m in RECORDS),
        ("torch", "transformers"),
    ),
    "page": (("app", "ui"), TRAINING_LOOP),
}


def _module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@cache
def _sources(root: Path = REPO_ROOT) -> dict[str, Path]:
    paths = [*root.glob("qa_core/**/*.py"), *root.glob("ui/*.py"), root / "app.py"]
    return {_module_name(p, root): p for p in paths}


@cache
def _imports(module: str, root: Path = REPO_ROOT) -> frozenset[str]:
    """The names a module imports, absolute, with each ``from x import y`` also as ``x.y``."""
    path = _sources(root)[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            found |= {base} | {f"{base}.{alias.name}" for alias in node.names}
    return frozenset(found)


def _reached(module: str, root: Path = REPO_ROOT) -> set[str]:
    """Every name ``module`` imports, through every project module on the way (and their packages)."""
    seen, todo = set(), [module]
    while todo:
        current = todo.pop()
        for name in _imports(current, root):
            parts = name.split(".")
            for i in range(1, len(parts) + 1):
                prefix = ".".join(parts[:i])
                if prefix not in seen:
                    seen.add(prefix)
                    if prefix in _sources(root):
                        todo.append(prefix)
    return seen


def _covered(prefixes: tuple[str, ...]) -> list[str]:
    return sorted(m for m in _sources() if any(m == p or m.startswith(p + ".") for p in prefixes))


@pytest.mark.parametrize("rule", list(CONTRACT))
def test_each_lifecycle_keeps_to_the_imports_the_contract_allows(rule):
    covered, forbidden = CONTRACT[rule]
    modules = _covered(covered)
    assert modules, f"the rule {rule!r} covers no module: a folder was renamed"
    broken = {
        module: sorted(n for n in _reached(module) if any(n == f or n.startswith(f + ".") for f in forbidden))
        for module in modules
    }
    assert not {m: names for m, names in broken.items() if names}, broken


def test_the_contract_sees_a_broken_rule(tmp_path):
    """The checker itself: an import of the training loop two modules away is found."""
    (tmp_path / "ui").mkdir()
    (tmp_path / "ui" / "a.py").write_text("from . import b\n", encoding="utf-8")
    (tmp_path / "ui" / "b.py").write_text("from qa_core.train import run\n", encoding="utf-8")
    (tmp_path / "app.py").write_text("import ui.a\n", encoding="utf-8")
    assert "qa_core.train.run" in _reached("app", tmp_path)


@pytest.mark.integration
def test_importing_the_app_loads_no_training_loop_and_the_figures_no_torch():
    """What actually runs, in fresh interpreters: the static rules above hold at run time too."""
    code = (
        "import sys, {0}; print(' '.join(m for m in sys.modules if m.startswith({1})))"
    )
    page = subprocess.run(
        [sys.executable, "-c", code.format("app", TRAINING_LOOP)],
        cwd=REPO_ROOT, capture_output=True, text=True, check=True,
    )
    assert page.stdout.split() == []
    figures = ", ".join(f"qa_core.explaining.{m}" for m in FIGURES)
    drawn = subprocess.run(
        [sys.executable, "-c", code.format(figures, ("torch", "transformers"))],
        cwd=REPO_ROOT, capture_output=True, text=True, check=True,
    )
    assert drawn.stdout.split() == []
