"""Where models live: the shipped checkpoints and the user's fine-tuned ones, by display name.

A checkpoint is a plain Hugging Face folder. Folders are written through ``files.write_folder_atomically``,
so names starting with "." are writes in progress and never listed.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from qa_core.files import REPO_ROOT
from qa_core.settings import described

# QA_CHECKPOINTS_DIR points the app and the CLI at another checkpoints folder (tests, a mounted volume).
NULL_THRESHOLD_KEY = "qa_null_threshold"  # in config.json: the checkpoint was trained for "no answer"
ROOT = Path(os.environ.get("QA_CHECKPOINTS_DIR", REPO_ROOT / "checkpoints"))
USER_DIR_NAME = "user"
DEFAULT_NAME = "e5-small-zh-en-qa"
ENGLISH_NAME = "minilm-l6-en-qa"
ABSTAINING_NAME = "e5-small-zh-en-qa-null"  # the default continued with unanswerable questions: it may abstain
SHIPPED = (DEFAULT_NAME, ENGLISH_NAME, ABSTAINING_NAME)
_SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


def is_model_dir(path: Path) -> bool:
    return (path / "config.json").is_file() and (path / "model.safetensors").is_file()


def default_checkpoint(root: Path = ROOT) -> Path:
    """The shipped default model, or a clear error saying how to get one."""
    path = root / DEFAULT_NAME
    if not is_model_dir(path):
        raise FileNotFoundError(
            f"No default checkpoint in {path}. Clone the repository with its checkpoints "
            "(on a Space, upload them with `python -m qa_core.tooling.deploy`), train one with `python -m qa_core.train`, "
            "or choose another model folder or hub id (--checkpoint on the command line)."
        )
    return path


def available(root: Path = ROOT) -> dict[str, Path]:
    """Every loadable checkpoint by display name: shipped ones first, then any other model folder in the
    checkpoints folder (a candidate such as ``e5-small-zh-en-qa-null``), then the user's own."""
    found = {name: root / name for name in SHIPPED if is_model_dir(root / name)}
    found |= {path.name: path for path in _model_folders(root) if path.name not in SHIPPED}
    found |= {f"{USER_DIR_NAME}/{path.name}": path for path in _model_folders(root / USER_DIR_NAME)}
    return found


def _model_folders(folder: Path) -> list[Path]:
    """The model folders directly in ``folder``, by name; .tmp/.old folders are writes in progress."""
    if not folder.is_dir():
        return []
    return [path for path in sorted(folder.iterdir()) if not path.name.startswith(".") and is_model_dir(path)]


def user_checkpoint_path(name: str, root: Path = ROOT) -> Path:
    """Folder for a user's checkpoint; refuses names that could escape the folder or hide files."""
    if not _SAFE_NAME.fullmatch(name or ""):
        raise ValueError(
            f"Checkpoint name {name!r} is not allowed: use 1-64 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit."
        )
    return root / USER_DIR_NAME / name


def looks_like_a_path(value: str) -> bool:
    """Whether a model name can only mean a local folder, so it must never be sent to the model hub.

    A hub id is a bare name or ``owner/name``: one slash at most, not starting with a path marker.
    Anything else, or a name whose first part is a folder here (``checkpoints/e5-small-typo``), is a
    path: looking it up on the hub would cost a minute of retries and end in a traceback.
    """
    if value.startswith(("/", "./", "../", "~")) or value in (".", "..") or value.count("/") > 1:
        return True
    return "/" in value and Path(value).parent.is_dir()


HUB_EXAMPLE = "a Hugging Face hub id such as deepset/roberta-base-squad2"


def check_exists(value: str | Path, root: Path = ROOT, alternatives: str = HUB_EXAMPLE) -> None:
    """Refuse, in one line, a path-like model name that names no folder, listing the checkpoints there are.

    A hub id passes untouched: only the hub can tell whether it exists.
    """
    hub_id = isinstance(value, str) and not looks_like_a_path(value)
    if hub_id or Path(value).is_dir():
        return
    what = "is a file, not a model folder" if Path(value).exists() else "does not exist"
    found = ", ".join(shown_path(path) for path in available(root).values()) or "none"
    raise ValueError(f"The folder {value} {what}; available checkpoints: {found} (or {alternatives}).")


def shown_path(path: Path) -> str:
    """A folder as a person would type it here: relative to the current folder when inside it."""
    try:
        return str(path.absolute().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def resolve(name: str | None, root: Path = ROOT) -> tuple[str, Path]:
    """The display name and folder behind a model picker's name; blank means the default model."""
    if name is not None and not isinstance(name, str):  # an API client may send any JSON value
        raise ValueError(f"The model must be a name from the model list (text), got {described(name)}.")
    models = available(root)
    if not models:
        default_checkpoint(root)  # raises the error that says how to get a model
    name = name or (DEFAULT_NAME if DEFAULT_NAME in models else next(iter(models)))
    if name not in models:
        raise ValueError(f"There is no model called {name!r}; choose one of: {', '.join(models)}.")
    return name, models[name]
