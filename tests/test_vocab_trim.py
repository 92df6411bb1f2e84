from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file
from transformers import AutoTokenizer, BertForQuestionAnswering

from qa_core.tooling.base_models.__main__ import main
from qa_core.tooling.base_models.vocab_trim import (
    TokenisationMismatchError,
    VocabTrimError,
    is_script_character,
    trim_vocabulary,
    trimmed_tokenizer_spec,
    verify_same_tokenisation,
)

TEXTS = [
    "where is the eiffel tower?",
    "the tower was built in paris, the capital of france.",
    "台北是臺灣的首都，位於島嶼北部。",
    "誰在上海？ who wrote the book?",
]
SPECIALS = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]


@pytest.fixture(scope="module")
def trimmed(tiny_unigram_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("trim") / "trimmed"
    return out, trim_vocabulary(tiny_unigram_dir, out, TEXTS)


def pieces(folder) -> list[str]:
    """The vocabulary in id order (a list: the tiny vocabulary lists some characters twice)."""
    spec = json.loads((folder / "tokenizer.json").read_text(encoding="utf-8"))
    return [piece for piece, _score in spec["model"]["vocab"]]


def old_ids(new: list[str], old: list[str]) -> list[int]:
    """Where each kept piece sat before, checking that the kept pieces keep their order."""
    ids, start = [], 0
    for piece in new:
        start = old.index(piece, start)
        ids.append(start)
        start += 1
    return ids


def test_kept_texts_tokenise_to_the_same_strings_and_offsets(tiny_unigram_dir, trimmed):
    out, _report = trimmed
    old, new = AutoTokenizer.from_pretrained(tiny_unigram_dir), AutoTokenizer.from_pretrained(out)
    for text in TEXTS:
        before = old(text, return_offsets_mapping=True)
        after = new(text, return_offsets_mapping=True)
        assert new.convert_ids_to_tokens(after["input_ids"]) == old.convert_ids_to_tokens(before["input_ids"])
        assert after["offset_mapping"] == before["offset_mapping"]
    assert verify_same_tokenisation(tiny_unigram_dir, out, TEXTS + TEXTS[:1]) == len(TEXTS)


def test_unused_words_go_single_characters_stay(tiny_unigram_dir, trimmed):
    out, report = trimmed
    old, new = pieces(tiny_unigram_dir), pieces(out)
    assert {"▁eiffel", "▁tower", "▁wrote", "▁book", "台", "？"} <= set(new)
    assert not {"▁louvre", "▁museum", "▁dog"} & set(new)
    assert {"q", "z", "7", "東"} <= set(new), "single Latin and Han characters are kept even when unused"
    assert report.pieces_before == len(old) and report.pieces_after == len(new) < len(old)
    assert len(old_ids(new, old)) == len(new)


def test_special_tokens_keep_their_ids_and_mask_moves_to_the_end(tiny_unigram_dir, trimmed):
    out, _report = trimmed
    old, new = pieces(tiny_unigram_dir), pieces(out)
    assert new[:4] == old[:4] == SPECIALS[:4]
    assert new[-1] == old[-1] == "<mask>"
    tokenizer = AutoTokenizer.from_pretrained(out)
    assert (tokenizer.cls_token_id, tokenizer.sep_token_id, tokenizer.unk_token_id) == (0, 2, 3)
    assert tokenizer.mask_token_id == len(new) - 1
    assert tokenizer("eiffel")["input_ids"][0] == 0 and tokenizer("eiffel")["input_ids"][-1] == 2


def test_embedding_rows_follow_their_pieces(tiny_unigram_dir, trimmed):
    out, report = trimmed
    old_model = BertForQuestionAnswering.from_pretrained(tiny_unigram_dir)
    new_model = BertForQuestionAnswering.from_pretrained(out)
    old_rows = old_model.get_input_embeddings().weight
    new_rows = new_model.get_input_embeddings().weight
    old, new = pieces(tiny_unigram_dir), pieces(out)
    assert new_rows.shape == (len(new), old_rows.shape[1])
    assert new_model.config.vocab_size == len(new)
    assert torch.equal(new_rows, old_rows[old_ids(new, old)])
    assert torch.equal(new_model.qa_outputs.weight, old_model.qa_outputs.weight)
    removed = (len(old) - len(new)) * old_rows.shape[1]
    assert report.parameters_before - report.parameters_after == removed


def test_trimmed_folder_holds_only_the_weights_the_source_had(tiny_unigram_dir, trimmed):
    out, _report = trimmed
    assert (
        load_file(out / "model.safetensors").keys()
        == load_file(tiny_unigram_dir / "model.safetensors").keys()
    )
    assert not [p.name for p in out.parent.iterdir() if p.name.startswith(".")], "no staging folder left"


def test_text_outside_the_trim_set_is_caught(tiny_unigram_dir, trimmed):
    out, _report = trimmed
    with pytest.raises(TokenisationMismatchError, match="'the louvre museum'"):
        verify_same_tokenisation(tiny_unigram_dir, out, ["the louvre museum"])


def test_wordpiece_is_refused_with_a_clear_message(tiny_bert_dir, tmp_path):
    with pytest.raises(VocabTrimError, match="holds a WordPiece tokenizer; only Unigram"):
        trim_vocabulary(tiny_bert_dir, tmp_path / "out", TEXTS)
    assert list(tmp_path.iterdir()) == []


def test_existing_output_folder_is_not_overwritten(tiny_unigram_dir, tmp_path):
    (tmp_path / "out").mkdir()
    with pytest.raises(VocabTrimError, match="already exists; delete it"):
        trim_vocabulary(tiny_unigram_dir, tmp_path / "out", TEXTS)


@pytest.mark.parametrize("piece", ["台", "▁台", "a", "▁é", "ǅ", "ạ", "ㄅ", "，", "「", "Ａ", "𠀀"])
def test_script_characters(piece):
    assert is_script_character(piece)


@pytest.mark.parametrize("piece", ["ab", "▁", "▁▁", "й", "ก", "あ", "<s>", "台北"])
def test_not_script_characters(piece):
    assert not is_script_character(piece)


def test_post_processor_and_added_token_ids_are_renumbered():
    spec = {
        "added_tokens": [
            {"id": 1, "content": "<s>"},
            {"id": 3, "content": "</s>"},
            {"id": 5, "content": "<unk>"},
        ],
        "model": {
            "type": "Unigram",
            "unk_id": 5,
            "vocab": [[p, 0.0] for p in ["a", "<s>", "b", "</s>", "c", "<unk>"]],
        },
        "post_processor": {
            "type": "Sequence",
            "processors": [
                {"type": "RobertaProcessing", "sep": ["</s>", 3], "cls": ["<s>", 1]},
                {"type": "TemplateProcessing", "special_tokens": {"</s>": {"id": "</s>", "ids": [3]}}},
            ],
        },
    }
    trimmed = trimmed_tokenizer_spec(spec, [1, 2, 3, 5])
    assert trimmed["model"]["vocab"] == [["<s>", 0.0], ["b", 0.0], ["</s>", 0.0], ["<unk>", 0.0]]
    assert trimmed["model"]["unk_id"] == 3
    assert [t["id"] for t in trimmed["added_tokens"]] == [0, 2, 3]
    roberta, template = trimmed["post_processor"]["processors"]
    assert (roberta["sep"], roberta["cls"]) == (["</s>", 2], ["<s>", 0])
    assert template["special_tokens"]["</s>"]["ids"] == [2]
    assert spec["model"]["unk_id"] == 5, "the input spec is left unchanged"


def test_cli_trims_and_verifies_data_files(tiny_unigram_dir, tmp_path, capsys):
    squad = {
        "data": [
            {
                "title": "t",
                "paragraphs": [
                    {
                        "context": TEXTS[1],
                        "qas": [
                            {
                                "id": "q1",
                                "question": TEXTS[0],
                                "answers": [{"text": "paris", "answer_start": 23}],
                            }
                        ],
                    }
                ],
            }
        ]
    }
    data = tmp_path / "train.json"
    data.write_text(json.dumps(squad), encoding="utf-8")
    assert (
        main(["trim", "--model", str(tiny_unigram_dir), "--out", str(tmp_path / "out"), "--data", str(data)])
        == 0
    )
    out = capsys.readouterr().out
    assert "tokenisation identical before and after trimming: 2 distinct texts checked" in out
    assert "▁eiffel" in pieces(tmp_path / "out") and "▁book" not in pieces(tmp_path / "out")
