"""The lecture's explanations of BERT, computed from a loaded model: "same character, different contexts".

A word's input embedding is one fixed vector; after each layer its vector mixes in the rest of the
sentence. Given sentences that share a target string (蘋果 the fruit and 蘋果 the company), this
computes the target's vector in every sentence at every layer in one run of the encoder, and the cosine
similarity of every pair, so a layer slider can show the meanings group without recomputing.
"""

from __future__ import annotations

import re

import numpy as np
import torch

from .engine import QAEngine
from .records import ContextualEmbeddings, Offset

MAX_SENTENCES = 24  # a matrix a person can still read
MAX_SENTENCE_CHARS = 300  # well inside every shipped model's 512 tokens
# "fruit: I ate an apple": a short label before the first colon (ASCII or full width) names the meaning group
_LABEL = re.compile(r"^\s*([^:：]{1,24}?)\s*[:：]\s*(.+)$")


def parse_sentences(text: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """One sentence a line, optionally "label: sentence"; blank lines skipped. Returns (sentences, labels)."""
    sentences, labels = [], []
    for line in text.splitlines():
        if not line.strip():
            continue
        match = _LABEL.match(line)
        label, sentence = (match.group(1), match.group(2)) if match else ("", line)
        sentences.append(sentence.strip())
        labels.append(label)
    return tuple(sentences), tuple(labels)


def contextual_embeddings(
    engine: QAEngine, sentences: tuple[str, ...], labels: tuple[str, ...], target: str
) -> ContextualEmbeddings:
    """The cosine similarity of the target's vectors across the sentences, at the embeddings and every layer."""
    occurrences = _occurrences(sentences, target)
    encoding = engine.tokenizer(
        list(sentences), return_offsets_mapping=True, padding=True, truncation=True, return_tensors="pt"
    )
    masks = _target_masks(engine, encoding, occurrences, target)
    device = next(engine.model.parameters()).device
    inputs = {k: v.to(device) for k, v in encoding.items() if k in engine.tokenizer.model_input_names}
    with torch.inference_mode():
        hidden = engine.model.base_model(**inputs, output_hidden_states=True).hidden_states
        states = torch.stack(hidden).float().cpu().numpy()  # (layers + 1, n, tokens, hidden)
    weights = masks / masks.sum(axis=1, keepdims=True)  # (n, tokens): the mean over the target's tokens
    vectors = np.einsum("lnth,nt->lnh", states, weights)  # (layers + 1, n, hidden)
    vectors /= np.maximum(np.linalg.norm(vectors, axis=-1, keepdims=True), 1e-12)
    similarity = np.einsum("lih,ljh->lij", vectors, vectors).clip(-1.0, 1.0)
    ids = encoding["input_ids"].tolist()
    return ContextualEmbeddings(
        model=engine.name,
        target=target,
        sentences=sentences,
        labels=labels,
        occurrences=occurrences,
        tokens=tuple(
            tuple(engine.tokenizer.convert_ids_to_tokens([i for i, m in zip(row, mask, strict=True) if m]))
            for row, mask in zip(ids, masks, strict=True)
        ),
        similarity=similarity,
    )


def _occurrences(sentences: tuple[str, ...], target: str) -> tuple[Offset, ...]:
    """The first occurrence of the target in each sentence; every problem with the input at once."""
    problems = []
    if not target.strip():
        problems.append("Type the target: the character or word the sentences share.")
    if not 2 <= len(sentences) <= MAX_SENTENCES:
        problems.append(f"Give between 2 and {MAX_SENTENCES} sentences, one a line; got {len(sentences)}.")
    long = [i + 1 for i, s in enumerate(sentences) if len(s) > MAX_SENTENCE_CHARS]
    if long:
        problems.append(f"Sentence(s) {_numbers(long)} are longer than {MAX_SENTENCE_CHARS} characters.")
    if target.strip():
        missing = [i + 1 for i, s in enumerate(sentences) if target not in s]
        if missing:
            problems.append(
                f"Sentence(s) {_numbers(missing)} do not contain “{target}”: every sentence must contain "
                "the target exactly as typed (same characters, same capitals)."
            )
    if problems:
        raise ValueError(" ".join(problems))
    return tuple((s.find(target), s.find(target) + len(target)) for s in sentences)


def _target_masks(engine: QAEngine, encoding, occurrences: tuple[Offset, ...], target: str) -> np.ndarray:
    """(n, tokens) 1 where a token covers a character of the target's occurrence.

    A token that covers the target and more (``▁banks`` for "bank") counts: it is the vector that carries
    the target. Special tokens and a lone ``▁`` cover no character and never count. A target made only of
    unknown tokens is refused: every unknown character shares one vector, so the view would say nothing.
    """
    offsets = encoding["offset_mapping"].numpy()  # (n, tokens, 2)
    starts, ends = offsets[..., 0], _own_ends(offsets)
    first = np.array([a for a, _ in occurrences])[:, None]
    last = np.array([b for _, b in occurrences])[:, None]
    masks = ((ends > starts) & (starts < last) & (ends > first)).astype(np.float32)
    uncovered = [i + 1 for i, row in enumerate(masks) if not row.any()]
    if uncovered:
        raise ValueError(f"No token covers “{target}” in sentence(s) {_numbers(uncovered)}.")
    ids = encoding["input_ids"].numpy()
    unknown = engine.tokenizer.unk_token_id
    if unknown is not None and any((ids[i][row > 0] == unknown).all() for i, row in enumerate(masks)):
        raise ValueError(
            f"{engine.name} does not know “{target}”: its vocabulary has no token for it, so every "
            "sentence reads it as the unknown token. Choose a target the model knows (the English "
            "example for an English-only model) or another model."
        )
    return masks


def _own_ends(offsets: np.ndarray) -> np.ndarray:
    """(n, tokens) token ends, with a lone SentencePiece "▁" ending where it starts.

    The tokenizer reports a lone "▁" with the range of the next character (as ``windows`` explains), so
    a sentence that begins with 蘋果 would otherwise average the boundary marker into 蘋果's vector.
    """
    starts, ends = offsets[..., 0], offsets[..., 1]
    following = np.zeros_like(offsets)
    following[:, :-1] = offsets[:, 1:]
    lone = (starts == following[..., 0]) & (following[..., 1] > following[..., 0])
    return np.where(lone, starts, ends)


def _numbers(numbers: list[int]) -> str:
    return ", ".join(str(n) for n in numbers)


def knows(engine: QAEngine, target: str) -> bool:
    """Whether the model's vocabulary reads the target without any unknown token."""
    ids = engine.tokenizer(target, add_special_tokens=False)["input_ids"]
    return bool(ids) and engine.tokenizer.unk_token_id not in ids


def main(argv: list[str] | None = None) -> int:
    """Print, for every example set the model knows, the within / between group similarity at every layer."""
    import argparse
    import json

    from .checkpoints import default_checkpoint
    from .files import REPO_ROOT

    parser = argparse.ArgumentParser(prog="python -m qa_core.lecture", description=main.__doc__)
    parser.add_argument("--checkpoint", help="Model folder (default: the shipped default checkpoint).")
    args = parser.parse_args(argv)
    engine = QAEngine.load(args.checkpoint or default_checkpoint())
    sets = json.loads((REPO_ROOT / "assets" / "lecture_examples.json").read_text(encoding="utf-8"))
    for example in sets:
        if not knows(engine, example["target"]):
            print(f"{engine.name} does not know {example['target']!r}: skipped")
            continue
        sentences, labels = parse_sentences("\n".join(example["sentences"]))
        result = contextual_embeddings(engine, sentences, labels, example["target"])
        within, between = result.group_means()
        print(f"{engine.name}, target {example['target']!r}: layer, within, between, separation")
        for layer, (w, b) in enumerate(zip(within, between, strict=True)):
            print(f"  {layer:2d}  {w:.3f}  {b:.3f}  {w - b:+.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
