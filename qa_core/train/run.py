"""One training run on the transformers Trainer: from a config to a saved model folder.

Because it is the stock Trainer, ``torchrun --nproc_per_node 4 -m qa_core.train ...`` or
``accelerate launch -m qa_core.train ...`` train on several GPUs unchanged. An interrupted run
resumes from the last checkpoint in ``work_dir`` when started again with the same config.
"""

from __future__ import annotations

import json
import logging
import random
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path

import torch
from transformers import (
    AutoConfig,
    AutoModelForQuestionAnswering,
    AutoTokenizer,
    PreTrainedTokenizerBase,
    Trainer,
    TrainerCallback,
    TrainingArguments,
)

from qa_core.data.metrics import Scores
from qa_core.data.negatives import make_negatives
from qa_core.data.squad import Example, load_examples
from qa_core.files import write_folder_atomically
from qa_core.models.checkpoints import NULL_THRESHOLD_KEY
from qa_core.models.curve import FILE_NAME as CURVE_FILE
from qa_core.models.curve import LearningCurve, read_text
from qa_core.models.model_card import NOTES, write_model_card
from qa_core.settings import Init
from qa_core.tooling.base_models.build import resolve_base
from qa_core.train.callbacks import Cancellation, Evaluation, ProgressReport, TimeBudget
from qa_core.train.config import StopSignal, TrainConfig, TrainProgress, TrainResult, check_config, defaults
from qa_core.train.dataset import PadCollator, TrainingWindows

log = logging.getLogger(__name__)


def run(
    config: TrainConfig,
    on_progress: Callable[[TrainProgress], None] | None = None,
    stop: StopSignal | None = None,
) -> TrainResult:
    """Train, then write the model folder atomically; a stopped run leaves ``out`` untouched."""
    check_config(config)
    if config.threads:
        torch.set_num_threads(config.threads)
    torch.manual_seed(config.seed)
    base = resolve_base(config.base)
    tokenizer = AutoTokenizer.from_pretrained(base)
    model = load_model(base, config.init)
    freeze(model, config.freeze_embeddings, config.freeze_layers)
    work_dir = work_folder(config)
    data = read_training_files(config)
    evaluation = evaluation_callback(config, tokenizer, LearningCurve.continuing(work_dir / CURVE_FILE, base))
    cancellation = Cancellation(stop) if stop is not None else None
    callbacks: list[TrainerCallback | None] = [  # in this order: a reported step carries its scores
        evaluation,
        ProgressReport(on_progress, evaluation) if on_progress is not None else None,
        cancellation,
        TimeBudget(config.max_minutes) if config.max_minutes else None,
    ]
    trainer = Trainer(
        model=model,
        args=training_arguments(config, work_dir),
        train_dataset=training_windows(config, tokenizer, data.examples),
        data_collator=PadCollator(tokenizer.pad_token_id, "token_type_ids" in tokenizer.model_input_names),
        processing_class=tokenizer,
        callbacks=[c for c in callbacks if c is not None],
    )
    started = time.time()
    trainer.train(resume_from_checkpoint=True if any(work_dir.glob("checkpoint-*")) else None)
    steps, seconds = trainer.state.global_step, time.time() - started
    if cancellation is not None and cancellation.cancelled:
        return TrainResult(Path(config.out), steps, seconds, None, cancelled=True)
    final = evaluation.measure(steps) if evaluation is not None else None
    save(trainer, config, work_dir, steps, seconds, final, data.unanswerable)
    return TrainResult(Path(config.out), steps, seconds, final, cancelled=False)


def load_model(base: str, init: Init) -> torch.nn.Module:
    """The base with its pre-trained weights, or the same architecture freshly initialised (seeded by the caller)."""
    if init == "random":
        model = AutoModelForQuestionAnswering.from_config(
            AutoConfig.from_pretrained(base), dtype=torch.float32
        )
    else:
        model = AutoModelForQuestionAnswering.from_pretrained(base, use_safetensors=True, dtype=torch.float32)
    return _without_null_threshold(model)


def _without_null_threshold(model: torch.nn.Module) -> torch.nn.Module:
    """Drop a base's tuned null threshold: it fits the base's weights, not the ones this run makes.

    Kept, it would decide "no answer" in the run's measurements and in the saved model with a margin
    that no longer means the same; the new model answers every question until its own is tuned.
    """
    if hasattr(model.config, NULL_THRESHOLD_KEY):
        delattr(model.config, NULL_THRESHOLD_KEY)
        log.info(
            "the base's %s is not carried over: tune one for the new weights with "
            "python -m qa_core.data.evaluate --set-null-threshold",
            NULL_THRESHOLD_KEY,
        )
    return model


def work_folder(config: TrainConfig) -> Path:
    """Where the Trainer keeps resumable checkpoints and the learning curve of this run."""
    return Path(config.work_dir or Path("runs") / Path(config.out).name)


def freeze(model: torch.nn.Module, embeddings: bool, layers: int) -> None:
    """Fix the word embeddings (most of a multilingual model's weights) and optionally the lowest layers.

    Frozen lower layers need no backward pass at all, which is the cheapest speed-up on a CPU.
    """
    if embeddings or layers:
        model.get_input_embeddings().weight.requires_grad_(False)
    if layers:
        encoder = model.base_model
        for p in encoder.embeddings.parameters():
            p.requires_grad_(False)
        for layer in encoder.encoder.layer[:layers]:
            for p in layer.parameters():
                p.requires_grad_(False)


def training_windows(
    config: TrainConfig, tokenizer: PreTrainedTokenizerBase, examples: list[Example]
) -> TrainingWindows:
    dataset = TrainingWindows(
        tokenizer,
        examples,
        max_length=config.max_length,
        max_question_length=config.max_question_length,
        placement=config.placement,
        answerless_rate=config.answerless_rate,
        seed=config.seed,
    )
    log.info("%d questions -> %d training windows", len(examples), len(dataset))
    return dataset


def evaluation_callback(
    config: TrainConfig, tokenizer: PreTrainedTokenizerBase, curve: LearningCurve
) -> Evaluation | None:
    """EM/F1 on the first ``eval_questions`` of the evaluation file, measured as answering measures it."""
    # Scoring reads only the answer text, so answers with a wrong offset still count (and are logged).
    examples = load_examples(config.eval, bad_offsets="keep")[: config.eval_questions] if config.eval else []
    if not examples:
        return None
    return Evaluation(
        tokenizer,
        examples,
        windows=config.eval_windows(),
        every=config.eval_every,
        windows_per_step=config.batch_size * config.grad_accum,
        curve=curve,
    )


@dataclass(frozen=True)
class TrainingData:
    """The questions a run trains on, and how many of them have no answer in their paragraph."""

    examples: list[Example]  # the files' questions (impossible ones included), then the negatives made
    unanswerable: dict[str, int]  # per negative kind made, and "impossible" for the files' own


def read_training_files(config: TrainConfig) -> TrainingData:
    """All questions of the training files (a seeded sample of each if --max-questions is set), and negatives.

    Training needs each answer's offset, and official files have some wrong ones: answers within two
    characters of their text are moved onto it, the rest are skipped; the loader logs both counts.
    Negatives are made from the sampled questions only, so --max-questions bounds what a run reads.
    """
    rng = random.Random(config.seed)
    examples: list[Example] = []
    for path in config.train:
        loaded = load_examples(
            path, require_answers=True, fix_offsets_within=2, bad_offsets="skip", drop_empty_questions=True
        )
        if config.max_questions and len(loaded) > config.max_questions:
            loaded = rng.sample(loaded, config.max_questions)
        log.info("%s: %d questions", path, len(loaded))
        examples.extend(loaded)
    negatives = make_negatives(examples, config.negatives, config.negative_kinds, config.seed)
    unanswerable = {kind: len(made) for kind, made in negatives.items()}
    unanswerable["impossible"] = sum(e.impossible for e in examples)
    if config.negatives or unanswerable["impossible"]:
        log.info("questions without their answer: %s", ", ".join(f"{n} {k}" for k, n in unanswerable.items()))
    return TrainingData(examples + [e for made in negatives.values() for e in made], unanswerable)


def training_arguments(config: TrainConfig, work_dir: Path) -> TrainingArguments:
    return TrainingArguments(
        output_dir=str(work_dir),
        num_train_epochs=config.epochs,
        max_steps=config.trainer_max_steps(),
        per_device_train_batch_size=config.batch_size,
        gradient_accumulation_steps=config.grad_accum,
        learning_rate=config.learning_rate,
        warmup_steps=config.warmup,
        lr_scheduler_type="linear" if config.schedule == "linear" else "constant_with_warmup",
        weight_decay=0.01,
        seed=config.seed,
        logging_steps=config.log_every,
        save_strategy="steps" if config.save_every > 0 else "no",
        save_steps=config.save_every,
        save_total_limit=1,
        report_to="none",
        remove_unused_columns=False,
        dataloader_num_workers=0,
        dataloader_pin_memory=torch.cuda.is_available(),
        bf16=config.bf16,
        disable_tqdm=False,
    )


def save(
    trainer: Trainer,
    config: TrainConfig,
    work_dir: Path,
    steps: int,
    seconds: float,
    final: Scores | None,
    unanswerable: dict[str, int],
) -> None:
    """Write model, tokenizer, config, learning curve and model card to a hidden folder, then swap it in.

    A failure on the way removes the hidden folder, so no half-written model lingers beside the others.
    """
    if config.save_dtype == "float16":
        trainer.model.half()  # training is over; only the saved copy needs to be small
    write = partial(
        _write_model_folder,
        trainer=trainer,
        config=config,
        work_dir=work_dir,
        steps=steps,
        seconds=seconds,
        final=final,
        unanswerable=unanswerable,
    )
    write_folder_atomically(config.out, write)


def _write_model_folder(
    folder: Path,
    *,
    trainer: Trainer,
    config: TrainConfig,
    work_dir: Path,
    steps: int,
    seconds: float,
    final: Scores | None,
    unanswerable: dict[str, int],
) -> None:
    trainer.save_model(str(folder))
    (folder / "training_args.bin").unlink(missing_ok=True)  # a pickle; training_config.json records the run
    (folder / "training_config.json").write_text(
        json.dumps(asdict(config), indent=2, ensure_ascii=False) + "\n"
    , encoding="utf-8")
    base, out = Path(resolve_base(config.base)), Path(config.out)
    earlier_runs = base / "training_runs.json"  # a model trained further keeps the record of how it began
    if earlier_runs.is_file():
        shutil.copy(earlier_runs, folder / "training_runs.json")
    notes = next((f for f in (out / NOTES, base / NOTES) if f.is_file()), None)
    if notes:  # hand-written, so kept from the folder being replaced (or the base) for a person to update
        shutil.copy(notes, folder / NOTES)
    curve = "".join(read_text(p) for p in (base / CURVE_FILE, work_dir / CURVE_FILE))
    if curve:
        (folder / CURVE_FILE).write_text(curve, encoding="utf-8")
    write_model_card(
        folder,
        name=out.name,  # the folder being written is a hidden temporary one
        config=asdict(config),
        defaults=defaults(),
        steps=steps,
        seconds=seconds,
        final_eval=final,
        unanswerable=unanswerable,
    )
