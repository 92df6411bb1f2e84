"""Writing files and folders so that a crash, a cancel or a full disk never leaves half of one.

Everything is written beside its target under a hidden name and renamed into place: a rename is
atomic on one file system, so readers see the old file or the new one, never a mix.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

# assets/, checkpoints/, runs/ and .cache/ live in the checkout. Installed with `pip install .` the code sits in
# site-packages without them, so the commands then read them from the folder they are started in.
_CODE_ROOT = Path(__file__).resolve().parent.parent
REPO_ROOT = _CODE_ROOT if (_CODE_ROOT / "assets").is_dir() else Path.cwd()
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"  # the data sets live beside the repository, never inside it


def write_bytes_atomically(path: str | Path, payload: bytes) -> Path:
    """Write ``payload`` to a hidden temporary file beside ``path``, then rename it over ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(payload)
        os.chmod(temp, 0o644)  # mkstemp makes 0600; a written file reads like any other
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    return path


def write_text_atomically(path: str | Path, text: str) -> Path:
    return write_bytes_atomically(path, text.encode("utf-8"))


def readable_by_all(folder: Path) -> None:
    """Folders 0755, files 0644, like a checkout: mkdtemp makes the folder 0700, and safetensors writes its
    weights through a temporary file that stays 0600, so a model saved by one user would be unreadable to
    the server or another user (and differ from the shipped checkpoints)."""
    folder.chmod(0o755)
    for path in folder.rglob("*"):
        if not path.is_symlink():
            path.chmod(0o755 if path.is_dir() else 0o644)


def write_folder_atomically(target: str | Path, write: Callable[[Path], None]) -> Path:
    """Let ``write`` fill a hidden sibling folder, then swap it in for ``target`` (replacing an older one).

    The older folder is moved aside only once the new one is complete, and removed after the swap.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    try:
        write(staging)
        readable_by_all(staging)
        old = target.with_name(f".{target.name}.old")
        shutil.rmtree(old, ignore_errors=True)
        if target.exists():
            target.rename(old)
        staging.rename(target)
        shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return target
