"""Tiny, randomly initialised question-answering models with tokenizers built in code.

They make tests fast and offline: no download, a few kilobytes of weights, and vocabularies
chosen so that English words, Chinese characters and unknown characters all occur.
"""

from __future__ import annotations

from pathlib import Path

import torch
from transformers import BertConfig, BertForQuestionAnswering, BertTokenizer, XLMRobertaTokenizer

ENGLISH_WORDS = (
    "the a an of in on at to is was who what when where which why how did does cat dog sat mat "
    "paris france capital city river seine flows through born year museum louvre tower eiffel "
    "built wrote book writer famous many people visit every and or it its by from with for"
).split()
CHINESE_CHARS = "台北是臺灣的首都位於島嶼北部天氣很好中文問題答案什麼哪裡誰在年月日人口城市河流上海東方明珠塔"
PUNCTUATION = list(".,?!;:'\"()-，。？！、「」")


def wordpiece_vocab() -> dict[str, int]:
    pieces = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    pieces += ENGLISH_WORDS + list(CHINESE_CHARS) + PUNCTUATION
    pieces += [f"##{c}" for c in "abcdefghijklmnopqrstuvwxyz"] + list("abcdefghijklmnopqrstuvwxyz0123456789")
    return {piece: i for i, piece in enumerate(dict.fromkeys(pieces))}


def unigram_vocab() -> list[tuple[str, float]]:
    pieces = [("<s>", 0.0), ("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0), ("▁", -2.0)]
    pieces += [(f"▁{w}", -3.0) for w in ENGLISH_WORDS]
    pieces += [(c, -4.0) for c in CHINESE_CHARS + "".join(PUNCTUATION)]
    pieces += [(c, -6.0) for c in "abcdefghijklmnopqrstuvwxyz0123456789"]
    pieces.append(("<mask>", 0.0))
    return pieces


def _save_model(tokenizer, out_dir: Path, *, hidden: int, layers: int, seed: int) -> Path:
    torch.manual_seed(seed)
    config = BertConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden,
        num_hidden_layers=layers,
        num_attention_heads=2,
        intermediate_size=2 * hidden,
        max_position_embeddings=512,
        type_vocab_size=2,
        pad_token_id=tokenizer.pad_token_id,
    )
    model = BertForQuestionAnswering(config)
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    return out_dir


def make_tiny_bert(out_dir: Path, *, hidden: int = 32, layers: int = 2, seed: int = 0) -> Path:
    """A WordPiece BERT with [CLS]/[SEP] and segment ids 0/1, like bert-base-chinese."""
    return _save_model(
        BertTokenizer(vocab=wordpiece_vocab()), Path(out_dir), hidden=hidden, layers=layers, seed=seed
    )


def make_tiny_unigram_bert(out_dir: Path, *, hidden: int = 32, layers: int = 2, seed: int = 0) -> Path:
    """A BERT encoder with an XLM-R style SentencePiece tokenizer, like multilingual-e5-small."""
    tokenizer = XLMRobertaTokenizer(vocab=unigram_vocab())
    return _save_model(tokenizer, Path(out_dir), hidden=hidden, layers=layers, seed=seed)
