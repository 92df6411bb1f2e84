"""Shrink a multilingual Unigram encoder to the pieces Chinese and English text actually needs.

multilingual-e5-small spends 96 M of its 118 M parameters on 250k word embeddings, most of them for
languages this project never sees. Keeping only the pieces the data uses, plus every single CJK or
Latin character as a fallback, cuts the checkpoint to a fraction while tokenising the kept texts
exactly as before: Unigram picks the best segmentation among the pieces it has, and every piece of
the old best segmentation is still there, so removing the others changes nothing for those texts.
"""

from __future__ import annotations

import json
import logging
import shutil
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import torch
import transformers
from tokenizers import Tokenizer
from transformers import AutoConfig, AutoModel, AutoTokenizer

from qa_core.data.squad import load_examples
from qa_core.files import write_folder_atomically

log = logging.getLogger(__name__)

BATCH = 2000
METASPACE = "▁"
TOKENIZER_SIDE_FILES = ("tokenizer_config.json", "special_tokens_map.json")
# Han (unified, extension A, compatibility, supplementary planes), Bopomofo, CJK punctuation, full width.
CJK_RANGES = (
    (0x4E00, 0x9FFF),
    (0x3400, 0x4DBF),
    (0xF900, 0xFAFF),
    (0x20000, 0x2FA1F),
    (0x3100, 0x312F),
    (0x31A0, 0x31BF),
    (0x3000, 0x303F),
    (0xFF00, 0xFFEF),
)
# Basic Latin, Latin-1, Latin Extended-A and -B, Latin Extended Additional.
LATIN_RANGES = ((0x0020, 0x024F), (0x1E00, 0x1EFF))


class VocabTrimError(ValueError):
    """The folder cannot be trimmed as asked; the message names the file and what to do instead."""


class TokenisationMismatchError(VocabTrimError):
    """Trimming changed how some text tokenises: the trimmed folder must not be used."""


@dataclass(frozen=True)
class TrimReport:
    pieces_before: int
    pieces_after: int
    parameters_before: int
    parameters_after: int

    def summary(self) -> str:
        mb = self.parameters_after * 4 / 1e6
        return (
            f"pieces {self.pieces_before:,} -> {self.pieces_after:,}; "
            f"parameters {self.parameters_before:,} -> {self.parameters_after:,} ({mb:.1f} MB in float32)"
        )


def is_script_character(piece: str) -> bool:
    """One CJK or Latin character, optionally word-initial: the fallback that keeps unseen text readable."""
    char = piece[1:] if piece.startswith(METASPACE) and len(piece) == 2 else piece
    if len(char) != 1:
        return False
    code = ord(char)
    return any(low <= code <= high for low, high in CJK_RANGES + LATIN_RANGES)


def _batches(texts: Iterable[str]) -> Iterator[list[str]]:
    unique = list(dict.fromkeys(texts))
    for start in range(0, len(unique), BATCH):
        yield unique[start : start + BATCH]


def used_piece_ids(tokenizer: Tokenizer, texts: Iterable[str]) -> set[int]:
    used: set[int] = set()
    for batch in _batches(texts):
        for encoding in tokenizer.encode_batch(batch, add_special_tokens=False):
            used.update(encoding.ids)
    return used


def _load_unigram(model_dir: Path) -> dict:
    path = model_dir / "tokenizer.json"
    if not path.is_file():
        raise VocabTrimError(
            f"{path} does not exist; trimming needs a fast tokenizer saved as tokenizer.json"
        )
    spec = json.loads(path.read_text(encoding="utf-8"))
    kind = spec["model"]["type"]
    if kind != "Unigram":
        raise VocabTrimError(
            f"{path} holds a {kind} tokenizer; only Unigram (SentencePiece) vocabularies can be trimmed "
            "without changing tokenisation. Use the model untrimmed."
        )
    return spec


def pieces_to_keep(spec: dict, texts: Iterable[str]) -> list[int]:
    """Old ids to keep, in their original order so that the special tokens at the front keep their ids."""
    vocab = spec["model"]["vocab"]
    specials = {token["id"] for token in spec["added_tokens"]} | {spec["model"]["unk_id"]}
    used = used_piece_ids(Tokenizer.from_str(json.dumps(spec)), texts)
    return [
        i
        for i, (piece, _score) in enumerate(vocab)
        if i in specials or i in used or is_script_character(piece)
    ]


def _remap_processor(processor: dict | None, new_id: dict[int, int]) -> None:
    if not processor:
        return
    for child in processor.get("processors", []):
        _remap_processor(child, new_id)
    for key in ("sep", "cls"):
        if key in processor:
            processor[key][1] = new_id[processor[key][1]]
    for special in processor.get("special_tokens", {}).values():
        special["ids"] = [new_id[i] for i in special["ids"]]


def trimmed_tokenizer_spec(spec: dict, keep: list[int]) -> dict:
    new_id = {old: new for new, old in enumerate(keep)}
    trimmed = json.loads(json.dumps(spec))
    trimmed["model"]["vocab"] = [spec["model"]["vocab"][i] for i in keep]
    trimmed["model"]["unk_id"] = new_id[spec["model"]["unk_id"]]
    for token in trimmed["added_tokens"]:
        token["id"] = new_id[token["id"]]
    _remap_processor(trimmed.get("post_processor"), new_id)
    return trimmed


def _load_model(model_dir: Path) -> tuple[torch.nn.Module, set[str]]:
    """The folder's own architecture, and the names of weights it lacked (initialised randomly on load)."""
    config = AutoConfig.from_pretrained(model_dir)
    architectures = config.architectures or []
    model_class = getattr(transformers, architectures[0]) if architectures else AutoModel
    model, info = model_class.from_pretrained(model_dir, output_loading_info=True)
    if model.get_output_embeddings() is not None:
        raise VocabTrimError(
            f"{model_dir} has an output vocabulary layer ({model_class.__name__}); trim a BertModel or "
            "BertForQuestionAnswering folder instead"
        )
    return model, set(info["missing_keys"])


def _saved_state(model: torch.nn.Module, missing: set[str]) -> dict[str, torch.Tensor]:
    # Weights the source folder did not have stay out, so the trimmed folder does not gain random ones.
    return {name: value for name, value in model.state_dict().items() if name not in missing}


def _trim_model(model: torch.nn.Module, keep: list[int]) -> None:
    old = model.get_input_embeddings()
    rows = torch.tensor(keep, dtype=torch.long)
    new = torch.nn.Embedding(len(keep), old.embedding_dim, padding_idx=old.padding_idx)
    new.weight.data = old.weight.data[rows].clone()
    model.set_input_embeddings(new)
    model.config.vocab_size = len(keep)


def trim_vocabulary(model_dir: str | Path, out_dir: str | Path, texts: Iterable[str]) -> TrimReport:
    """Write a copy of `model_dir` whose vocabulary and word embeddings keep only what `texts` need."""
    model_dir, out_dir = Path(model_dir), Path(out_dir)
    if out_dir.exists():
        raise VocabTrimError(f"{out_dir} already exists; delete it or choose another output folder")
    spec = _load_unigram(model_dir)
    log.info("tokenising texts to find the pieces they use")
    keep = pieces_to_keep(spec, texts)
    model, missing = _load_model(model_dir)
    parameters_before = sum(v.numel() for v in _saved_state(model, missing).values())
    _trim_model(model, keep)
    state = _saved_state(model, missing)

    def write(staging: Path) -> None:
        model.save_pretrained(staging, state_dict=state)
        trimmed = trimmed_tokenizer_spec(spec, keep)
        (staging / "tokenizer.json").write_text(json.dumps(trimmed, ensure_ascii=False), encoding="utf-8")
        for name in TOKENIZER_SIDE_FILES:
            if (model_dir / name).is_file():
                shutil.copy2(model_dir / name, staging / name)

    write_folder_atomically(out_dir, write)
    report = TrimReport(
        len(spec["model"]["vocab"]), len(keep), parameters_before, sum(v.numel() for v in state.values())
    )
    log.info("wrote %s: %s", out_dir, report.summary())
    return report


def verify_same_tokenisation(old_dir: str | Path, new_dir: str | Path, texts: Iterable[str]) -> int:
    """Number of distinct texts checked; raises if any gives other token strings or offsets after trimming."""
    old = AutoTokenizer.from_pretrained(old_dir).backend_tokenizer
    new = AutoTokenizer.from_pretrained(new_dir).backend_tokenizer
    checked = 0
    for batch in _batches(texts):
        pairs = zip(batch, old.encode_batch(batch), new.encode_batch(batch), strict=True)
        for text, before, after in pairs:
            if before.tokens != after.tokens or before.offsets != after.offsets:
                raise TokenisationMismatchError(
                    f"{new_dir} tokenises {text[:80]!r} as {after.tokens[:20]} {after.offsets[:20]}, "
                    f"{old_dir} as {before.tokens[:20]} {before.offsets[:20]}; re-run the trim with this "
                    "text among its data files"
                )
        checked += len(batch)
    return checked


def texts_of(paths: Iterable[str | Path]) -> Iterator[str]:
    """Every question and context of the files; answer offsets play no part, so wrong ones are kept."""
    for path in paths:
        for example in load_examples(path, bad_offsets="keep", drop_empty_questions=True):
            yield example.question
            yield example.context
