"""Text files are read and written as UTF-8 whatever the machine's locale: the JSON holds Chinese."""

from __future__ import annotations

import ast

from qa_core.files import REPO_ROOT

TEXT_CALLS = ("read_text", "write_text")


def test_every_text_file_read_or_written_names_its_encoding():
    files = [*REPO_ROOT.glob("qa_core/**/*.py"), *REPO_ROOT.glob("ui/*.py"), *REPO_ROOT.glob("tools/*.py")]
    files += [*REPO_ROOT.glob("tests/*.py"), REPO_ROOT / "app.py"]
    unnamed = [
        f"{path.relative_to(REPO_ROOT)}:{node.lineno}"
        for path in files
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr in TEXT_CALLS
        and not any(k.arg == "encoding" for k in node.keywords)
    ]
    assert not unnamed, unnamed
