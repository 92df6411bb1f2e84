"""Where models live: the shipped checkpoints and the user's fine-tuned ones, by display name.

A checkpoint is a plain Hugging Face folder. Folders are written through ``files.write_folder_atomically``,
so names starting with "." are writes in progress and never listed.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from .files import REPO_ROOT

# QA_CHECKPOINTS_DIR points the app and the CLI at another checkpoints folder (tests, a mounted volume).
ROOT = Path(os.environ.get("QA_CHECKPOINTS_DIR", REPO_ROOT / "checkpoints"))
USER_DIR_NAME = "user"
DEFAULT_NAME = "e5-small-zh-en-qa"
ENGLISH_NAME = "minilm-l6-en-qa"
SHIPPED = (DEFAULT_NAME, ENGLISH_NAME)
_SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


def is_model_dir(path: Path) -> bool:
    return (path / "config.json").is_file() and (path / "model.safetensors").is_file()


def default_checkpoint(root: Path = ROOT) -> Path:
    """The shipped default model, or a clear error saying how to get one."""
    path = root / DEFAULT_NAME
    if not is_model_dir(path):
        raise FileNotFoundError(
            f"No default checkpoint in {path}. Clone the repository with its checkpoints "
            "(git lfs pull on a Hugging Face Space), train one with `python -m qa_core.train`, "
            "or choose another model folder or hub id (--checkpoint on the command line)."
        )
    return path


def available(root: Path = ROOT) -> dict[str, Path]:
    """Every loadable checkpoint by display name: shipped ones first, then the user's own."""
    found = {name: root / name for name in SHIPPED if is_model_dir(root / name)}
    user = root / USER_DIR_NAME
    if user.is_dir():
        for path in sorted(user.iterdir()):
            if not path.name.startswith(".") and is_model_dir(path):  # .tmp/.old: writes in progress
                found[f"{USER_DIR_NAME}/{path.name}"] = path
    return found


def user_checkpoint_path(name: str, root: Path = ROOT) -> Path:
    """Folder for a user's checkpoint; refuses names that could escape the folder or hide files."""
    if not _SAFE_NAME.fullmatch(name or ""):
        raise ValueError(
            f"Checkpoint name {name!r} is not allowed: use 1-64 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit."
        )
    return root / USER_DIR_NAME / name


def resolve(name: str | None, root: Path = ROOT) -> tuple[str, Path]:
    """The display name and folder behind a model picker's name; blank means the default model."""
    models = available(root)
    if not models:
        default_checkpoint(root)  # raises the error that says how to get a model
    name = name or (DEFAULT_NAME if DEFAULT_NAME in models else next(iter(models)))
    if name not in models:
        raise ValueError(f"There is no model called {name!r}; choose one of: {', '.join(models)}.")
    return name, models[name]
