"""What the Space upload takes from the working tree, and how it fails without a token or network."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import huggingface_hub
import pytest
import yaml
from packaging.requirements import Requirement

from qa_core.files import REPO_ROOT
from qa_core.models.checkpoints import SHIPPED
from qa_core.tooling import deploy

TREE = {
    # the Space's files
    "app.py": True,
    "ui/__init__.py": True,
    "ui/ask.py": True,
    "qa_core/engine.py": True,
    "qa_core/train/run.py": True,
    "assets/ask.png": True,
    "assets/text/en.json": True,
    "checkpoints/shipped-model/config.json": True,
    "checkpoints/shipped-model/model.safetensors": True,
    "requirements.txt": True,
    "README.md": True,
    "pyproject.toml": True,
    # everything else
    "ui/__pycache__/ask.cpython-311.pyc": False,
    "qa_core/__pycache__/engine.cpython-311.pyc": False,
    "qa_core/stray.pyc": False,
    "qa_core/.engine.py.123.tmp": False,
    "assets/.DS_Store": False,
    "checkpoints/shipped-model/checkpoint-500/model.safetensors": False,
    "checkpoints/shipped-model/.model.safetensors.9.tmp": False,
    "checkpoints/candidate/model.safetensors": False,
    "checkpoints/user/mine/model.safetensors": False,
    "tests/test_engine.py": False,
    "tools/screenshots.py": False,
    "requirements-dev.txt": False,
    ".git/HEAD": False,
    ".gitattributes": False,
    ".cache/base_models/x/config.json": False,
    "runs/finetune/job/log.txt": False,
    "server.log": False,
}
TEN_MB = 10 * 10**6


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    for number, name in enumerate(TREE):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"x" * number)
    return tmp_path


def test_the_selection_is_the_app_its_code_assets_and_shipped_models_only(tree) -> None:
    uploads = deploy.selection(tree, shipped=("shipped-model",))
    assert [u.path for u in uploads] == sorted(name for name, kept in TREE.items() if kept)
    sizes = {name: number for number, name in enumerate(TREE)}
    assert all(u.size == sizes[u.path] for u in uploads)


def test_a_tree_without_the_ui_package_or_a_model_still_lists_the_rest(tree) -> None:
    for name in ("ui/__init__.py", "ui/ask.py"):
        (tree / name).unlink()
    paths = [u.path for u in deploy.selection(tree, shipped=("shipped-model", "not-trained-yet"))]
    assert "app.py" in paths and not any(p.startswith("ui/") for p in paths)


def test_sizes_read_as_the_hub_shows_them() -> None:
    assert [deploy.shown_size(n) for n in (512, 12_345, 80_600_000, 2 * 10**9)] == [
        "512 B",
        "12.3 kB",
        "80.6 MB",
        "2.0 GB",
    ]


def test_a_dry_run_lists_files_total_and_largest_without_the_hub_client(monkeypatch, capsys) -> None:
    monkeypatch.setitem(sys.modules, "huggingface_hub", None)  # importing it would fail
    assert deploy.main(["someone/qa-demo", "--dry-run"]) == 0
    lines = capsys.readouterr().out.splitlines()
    total, largest = lines[-2], lines[-1]
    assert total.endswith("in all, for the Space someone/qa-demo")
    first = largest.removeprefix("largest: ").split(" (")[0]
    assert first in {f"checkpoints/{name}/model.safetensors" for name in SHIPPED}
    assert any(line.endswith("  app.py") for line in lines)


def test_without_a_token_one_line_says_what_to_do(monkeypatch, capsys) -> None:
    monkeypatch.setattr(huggingface_hub, "get_token", lambda: None)
    with pytest.raises(SystemExit) as stop:
        deploy.main(["someone/qa-demo"])
    assert stop.value.code == 1
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "hf auth login" in error and "HF_TOKEN" in error


def test_without_network_one_line_and_no_traceback(monkeypatch, capsys) -> None:
    def unreachable(*args, **kwargs):
        raise ConnectionError("[Errno 111] Connection refused")

    monkeypatch.setattr(huggingface_hub.HfApi, "create_repo", unreachable)
    with pytest.raises(SystemExit) as stop:
        deploy.main(["someone/qa-demo", "--token", "hf_x"])
    assert stop.value.code == 1
    error = capsys.readouterr().err
    assert error == "error: Could not reach the Hugging Face Hub (ConnectionError): check the network and retry.\n"


def test_a_refused_token_is_told_apart_from_other_refusals() -> None:
    class Refused(Exception):
        def __init__(self, status: int):
            super().__init__(f"{status} Client Error\nmore detail")
            self.response = type("Response", (), {"status_code": status})()

    assert "write access" in deploy._http_advice("a/b", Refused(401))
    assert deploy._http_advice("a/b", Refused(409)) == "The Hub refused the upload to a/b: 409 Client Error"


def test_the_upload_creates_a_gradio_space_and_sends_exactly_the_selection(monkeypatch, tree) -> None:
    calls: dict[str, dict] = {}
    monkeypatch.setattr(huggingface_hub.HfApi, "create_repo", lambda self, *a, **k: calls.setdefault("create", k))
    monkeypatch.setattr(huggingface_hub.HfApi, "upload_folder", lambda self, **k: calls.setdefault("upload", k))
    uploads = deploy.selection(tree, shipped=("shipped-model",))
    assert deploy.upload("someone/qa-demo", uploads, tree, "hf_x") == "https://huggingface.co/spaces/someone/qa-demo"
    assert calls["create"] == {"repo_type": "space", "space_sdk": "gradio", "exist_ok": True}
    assert calls["upload"]["allow_patterns"] == [u.path for u in uploads]
    assert calls["upload"]["repo_type"] == "space" and calls["upload"]["folder_path"] == tree


def test_a_malformed_space_id_is_refused(capsys) -> None:
    with pytest.raises(SystemExit) as stop:
        deploy.main(["qa-demo", "--dry-run"])
    assert stop.value.code == 2
    assert "OWNER/NAME" in capsys.readouterr().err


def test_every_uploaded_file_fits_the_space_and_only_model_weights_are_large() -> None:
    uploads = deploy.selection()
    assert {u.path for u in uploads} >= {"app.py", "README.md", "requirements.txt"}
    assert all(u.size < deploy.HUB_FILE_LIMIT for u in uploads)
    large = sorted(u.path for u in uploads if u.size > TEN_MB)
    assert large == sorted(f"checkpoints/{name}/model.safetensors" for name in SHIPPED)


def test_no_tracked_file_outside_checkpoints_is_over_5_mb() -> None:
    listed = subprocess.run(["git", "ls-files", "-z"], cwd=REPO_ROOT, capture_output=True, text=True)
    if listed.returncode != 0:
        pytest.skip("not a git checkout")
    paths = [REPO_ROOT / name for name in listed.stdout.split("\0") if name]
    too_big = [
        p.relative_to(REPO_ROOT).as_posix()
        for p in paths
        if p.is_file() and p.relative_to(REPO_ROOT).parts[0] != "checkpoints" and p.stat().st_size > 5 * 10**6
    ]
    assert too_big == []


def test_the_readme_header_configures_a_gradio_space_with_the_gradio_of_the_requirements() -> None:
    text = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    assert text.startswith("---\n"), "Spaces read their configuration from a YAML block at the very top"
    header = yaml.safe_load(text.split("---\n")[1])
    assert header["sdk"] == "gradio" and header["app_file"] == "app.py"
    assert {"title", "license", "short_description"} <= header.keys()
    assert len(header["short_description"]) <= 60, "the Hub refuses a longer short description"
    requirements = (REPO_ROOT / "requirements.txt").read_text(encoding="utf-8").splitlines()
    (gradio,) = [Requirement(line) for line in requirements if line.startswith("gradio")]
    assert str(header["sdk_version"]) in gradio.specifier
