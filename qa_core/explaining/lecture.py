"""The lecture's explanations of BERT, computed from a loaded model: "same character, different contexts".

A word's input embedding is one fixed vector; after each layer its vector mixes in the rest of the
sentence. Given sentences that share a target string (蘋果 the fruit and 蘋果 the company), this
computes the target's vector in every sentence at every layer in one run of the encoder, and the cosine
similarity of every pair, so a layer slider can show the meanings group without recomputing. The same
module holds the lecture's other two ideas: meaning across languages (word pairs, and one question
asked in two languages) and embedding arithmetic.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import numpy as np

from qa_core.answering.records import Offset
from qa_core.explaining.lecture_records import (
    DIRECTIONS,
    TOP_K,
    ContextualEmbeddings,
    SameQuestion,
    WordArithmetic,
    WordProjection,
)
from qa_core.settings import AnswerSettings, RequestLimits

if TYPE_CHECKING:  # torch loads with a model, so `python -m qa_core.explaining.lecture --help` answers at once
    from qa_core.answering.engine import QAEngine

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
    vectors = _unit(_mean_vectors(engine, encoding, masks))
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


def _mean_vectors(engine: QAEngine, encoding, masks: np.ndarray) -> np.ndarray:
    """(layers + 1, n, hidden) the mean of the masked tokens' vectors, at the embeddings and every layer.

    One run of the encoder gives every layer at once, so a layer slider never runs the model again.
    """
    import torch  # the engine has loaded it already

    device = next(engine.model.parameters()).device
    inputs = {k: v.to(device) for k, v in encoding.items() if k in engine.tokenizer.model_input_names}
    with engine.lock.shared(), torch.inference_mode():
        hidden = engine.model.base_model(**inputs, output_hidden_states=True).hidden_states
        states = torch.stack(hidden).float().cpu().numpy()  # (layers + 1, n, tokens, hidden)
    weights = masks / masks.sum(axis=1, keepdims=True)  # (n, tokens): the mean over the target's tokens
    return np.einsum("lnth,nt->lnh", states, weights)


def _unit(vectors: np.ndarray) -> np.ndarray:
    """Vectors scaled to length 1 along the last axis, so dot products are cosine similarities."""
    return vectors / np.maximum(np.linalg.norm(vectors, axis=-1, keepdims=True), 1e-12)


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


# ---------------------------------------------------------------- embedding arithmetic

MIN_PAIRS = 20  # a held-out quarter of at least TOP_K words, so top-5 accuracy is not trivially 1
MAX_PAIRS = 200
TRAIN_SHARE = 0.75  # of the pairs, for the mean difference; the rest are held out to test it
SEED = 0
_PAIR = re.compile(r"^\s*(\S+?)\s*[\s,=，]\s*(\S.*?)\s*$")


def parse_pairs(text: str) -> tuple[tuple[str, str], ...]:
    """One pair a line, "Chinese English" (a space, comma or = between); blank lines skipped."""
    pairs, bad = [], []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        match = _PAIR.match(line)
        if match:
            pairs.append((match.group(1), match.group(2)))
        else:
            bad.append(number)
    if bad:
        raise ValueError(
            f"Line(s) {_numbers(bad)} are not a pair: write the Chinese word, a space, the English word."
        )
    return tuple(pairs)


def split_pairs(n: int, seed: int = SEED) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """(train, held_out): a seeded shuffle cut at ``TRAIN_SHARE``, each part in list order.

    Shuffled, so the held-out words are not all from the end of the list (its verbs, say).
    """
    order = np.random.default_rng(seed).permutation(n)
    cut = min(max(round(TRAIN_SHARE * n), 1), n - 1)
    return tuple(sorted(int(i) for i in order[:cut])), tuple(sorted(int(i) for i in order[cut:]))


def translate(
    source: np.ndarray, target: np.ndarray, train: tuple[int, ...], held_out: tuple[int, ...], k: int = TOP_K
) -> tuple[np.ndarray, np.ndarray]:
    """Nearest target words of each held-out source word, raw and shifted by the training pairs' mean difference.

    ``source[i]`` and ``target[i]`` (n, hidden) are a pair. Returns neighbours (2, held, k) and the 1-based
    rank of the true translation (2, held), row 0 for the raw vector (the baseline), row 1 for the shifted.
    """
    shift = (target[list(train)] - source[list(train)]).mean(axis=0)  # (hidden,)
    words = source[list(held_out)]  # (held, hidden)
    candidates = _unit(target)
    neighbours, ranks = [], []
    for query in (words, words + shift):
        cosine = _unit(query) @ candidates.T  # (held, n)
        truth = cosine[np.arange(len(held_out)), list(held_out)]
        neighbours.append(np.argsort(-cosine, axis=1, kind="stable")[:, :k])
        ranks.append(1 + (cosine > truth[:, None]).sum(axis=1))
    return np.stack(neighbours), np.stack(ranks)


def word_arithmetic(engine: QAEngine, pairs: tuple[tuple[str, str], ...], seed: int = SEED) -> WordArithmetic:
    """Translation by one mean difference between the languages, on held-out pairs, at every layer."""
    kept, left_out = _known_pairs(engine, pairs)
    chinese, english = tuple(c for c, _ in kept), tuple(e for _, e in kept)
    vectors = _word_vectors(engine, chinese + english)  # (layers + 1, 2n, hidden)
    zh, en = vectors[:, : len(kept)], vectors[:, len(kept) :]
    train, held_out = split_pairs(len(kept), seed)
    k = min(TOP_K, len(kept))
    results = [
        [
            translate(en[layer], zh[layer], train, held_out, k),
            translate(zh[layer], en[layer], train, held_out, k),
        ]
        for layer in range(len(vectors))
    ]
    return WordArithmetic(
        model=engine.name,
        chinese=chinese,
        english=english,
        left_out=tuple(f"{c} {e}" for c, e in left_out),
        train=train,
        held_out=held_out,
        seed=seed,
        neighbours=np.array([[n for n, _ in layer] for layer in results]),
        rank=np.array([[r for _, r in layer] for layer in results]),
    )


def _known_pairs(engine: QAEngine, pairs: tuple[tuple[str, str], ...]) -> tuple[list, list]:
    """(kept, left out): a word read as the unknown token would share one vector with every other such word."""
    if not MIN_PAIRS <= len(pairs) <= MAX_PAIRS:
        raise ValueError(
            f"Give between {MIN_PAIRS} and {MAX_PAIRS} word pairs, one a line; got {len(pairs)}."
        )
    kept = [p for p in pairs if knows(engine, p[0]) and knows(engine, p[1])]
    left_out = [p for p in pairs if p not in kept]
    if len(kept) < MIN_PAIRS:
        unknown = [w for p in left_out for w in p if not knows(engine, w)]
        named = ", ".join(unknown[:12]) + (f" and {len(unknown) - 12} more" if len(unknown) > 12 else "")
        raise ValueError(
            f"{engine.name} cannot run this view on these words: its vocabulary reads {named} as unknown, "
            f"which leaves {len(kept)} of {len(pairs)} pairs and the view needs {MIN_PAIRS}. An English-only "
            "model has no Chinese vocabulary: choose a model that reads both languages."
        )
    return kept, left_out


def _word_vectors(engine: QAEngine, words: tuple[str, ...]) -> np.ndarray:
    """(layers + 1, n, hidden) each word read alone: the mean of its own tokens, special tokens left out."""
    encoding = engine.tokenizer(
        list(words), return_offsets_mapping=True, padding=True, truncation=True, return_tensors="pt"
    )
    occurrences = tuple((0, len(w)) for w in words)
    masks = _target_masks(engine, encoding, occurrences, "the word")
    return _mean_vectors(engine, encoding, masks)


def project(vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(points (n, 2), explained (2,)): the centred vectors on their first two principal components (SVD).

    Each axis's sign is fixed so its largest coordinate is positive: SVD may flip an axis from one
    layer to the next, and the picture should not jump when only the sign changed.
    """
    centred = vectors - vectors.mean(axis=0)  # (n, hidden)
    u, s, _ = np.linalg.svd(centred, full_matrices=False)
    points = u[:, :2] * s[:2]  # (n, 2)
    largest = points[np.abs(points).argmax(axis=0), [0, 1]]
    points *= np.where(largest < 0, -1.0, 1.0)
    explained = s[:2] ** 2 / max(float((s**2).sum()), 1e-12)
    return points, explained


def word_projection(engine: QAEngine, pairs: tuple[tuple[str, str], ...]) -> WordProjection:
    """Every pair's two vectors in two dimensions, at the input embeddings and every layer."""
    kept, left_out = _known_pairs(engine, pairs)
    chinese, english = tuple(c for c, _ in kept), tuple(e for _, e in kept)
    projected = [project(layer) for layer in _word_vectors(engine, chinese + english)]
    return WordProjection(
        model=engine.name,
        chinese=chinese,
        english=english,
        left_out=tuple(f"{c} {e}" for c, e in left_out),
        points=np.stack([points for points, _ in projected]),
        explained=np.stack([explained for _, explained in projected]),
    )


def same_question(
    engine: QAEngine,
    context: str,
    questions: tuple[str, str],
    settings: AnswerSettings | None = None,
    limits: RequestLimits | None = None,
) -> SameQuestion:
    """Both questions over the one paragraph, traced: multilingual BERT reads them into the same span, or not."""
    answers = engine.answer_many([(q, context) for q in questions], settings, limits=limits, with_trace=True)
    return SameQuestion(context, questions, (answers[0], answers[1]))


def main(argv: list[str] | None = None) -> int:
    """Print, for every example set the model knows, the within / between group similarity at every layer,
    then the held-out accuracy of embedding arithmetic on the example word pairs at every layer, and the
    share of their variance the two-dimensional projection keeps."""
    import argparse
    import json

    from qa_core.files import REPO_ROOT
    from qa_core.flags import one_style
    from qa_core.models.checkpoints import default_checkpoint

    parser = argparse.ArgumentParser(prog="python -m qa_core.explaining.lecture", description=main.__doc__)
    parser.add_argument("--checkpoint", help="Model folder (default: the shipped default checkpoint).")
    args = one_style(parser).parse_args(argv)
    from qa_core.answering.engine import QAEngine

    engine = QAEngine.load(args.checkpoint or default_checkpoint())
    examples = json.loads((REPO_ROOT / "assets" / "lecture_examples.json").read_text(encoding="utf-8"))
    for example in examples["contexts"]:
        if not knows(engine, example["target"]):
            print(f"{engine.name} does not know {example['target']!r}: skipped")
            continue
        sentences, labels = parse_sentences("\n".join(example["sentences"]))
        result = contextual_embeddings(engine, sentences, labels, example["target"])
        within, between = result.group_means()
        print(f"{engine.name}, target {example['target']!r}: layer, within, between, separation")
        for layer, (w, b) in enumerate(zip(within, between, strict=True)):
            print(f"  {layer:2d}  {w:.3f}  {b:.3f}  {w - b:+.3f}")
    pairs = parse_pairs("\n".join(examples["word_pairs"]))
    _print_arithmetic(engine, pairs)
    _print_projection(engine, pairs)
    return 0


def _print_projection(engine: QAEngine, pairs: tuple[tuple[str, str], ...]) -> None:
    """The share of the variance the two drawn axes keep at every layer: how much of the picture is left out."""
    try:
        result = word_projection(engine, pairs)
    except ValueError as error:
        print(error)
        return
    print(f"{engine.name}, projection of {len(result.chinese)} pairs: layer, variance kept by axis 1, axis 2")
    for layer, (first, second) in enumerate(result.explained):
        print(f"  {layer:2d}  {first:.2f}  {second:.2f}")


def _print_arithmetic(engine: QAEngine, pairs: tuple[tuple[str, str], ...]) -> None:
    """Top-1 / top-5 accuracy, shifted and baseline, both directions, at every layer; or why it cannot run."""
    try:
        result = word_arithmetic(engine, pairs)
    except ValueError as error:
        print(error)
        return
    print(
        f"{engine.name}, embedding arithmetic on {len(result.held_out)} held-out of {len(result.chinese)} pairs "
        f"(seed {result.seed}, left out: {', '.join(result.left_out) or 'none'}); top-1 and top-{TOP_K} "
        "accuracy, shifted / baseline"
    )
    print("  layer  " + "  ".join(f"{d:<31}" for d in DIRECTIONS))
    top1, top5 = result.accuracy(1), result.accuracy(TOP_K)
    for layer in range(result.layers + 1):
        cells = [
            f"top-1 {top1[layer, d, 1]:.2f} / {top1[layer, d, 0]:.2f}  top-{TOP_K} {top5[layer, d, 1]:.2f} / "
            f"{top5[layer, d, 0]:.2f}"
            for d in range(len(DIRECTIONS))
        ]
        print(f"  {layer:5d}  " + "  ".join(cells))


if __name__ == "__main__":
    raise SystemExit(main())
