"""Fine-tune an encoder for extractive QA on SQuAD-style or homework data, on the transformers Trainer.

    python -m qa_core.train --base e5-small-zh-en --train a.json b.json --eval dev.json --out checkpoints/mine

Because it is the stock Trainer, ``torchrun --nproc_per_node 4 -m qa_core.train ...`` or
``accelerate launch -m qa_core.train ...`` train on several GPUs unchanged. An interrupted run
resumes from the last checkpoint in ``--work_dir`` when started again with the same command.
"""

from __future__ import annotations

import json
import logging
import random
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import MISSING, asdict, dataclass, field, fields
from functools import partial
from pathlib import Path

import torch
from transformers import (
    AutoModelForQuestionAnswering,
    AutoTokenizer,
    HfArgumentParser,
    Trainer,
    TrainerCallback,
    TrainingArguments,
)

from .base_models import resolve_base
from .checkpoints import replace_dir
from .data import Example, load_examples
from .engine import AnswerSettings, QAEngine
from .metrics import Scores, score
from .model_card import NOTES, write_model_card
from .training_windows import PadCollator, TrainingWindows

log = logging.getLogger(__name__)


@dataclass
class TrainConfig:
    """Everything that defines a training run; saved as training_config.json beside the model."""

    base: str = field(
        metadata={"help": "Base encoder: a known base name (see base_models list), a folder or a hub id."}
    )
    train: list[str] = field(
        metadata={"help": "Training files (SQuAD JSON or the homework's JSON, .json or .json.gz)."}
    )
    out: str = field(metadata={"help": "Folder for the finished model (written atomically)."})
    eval: str | None = field(default=None, metadata={"help": "File for periodic EM/F1 during training."})
    work_dir: str | None = field(
        default=None, metadata={"help": "Trainer checkpoints for resuming (default: runs/<name of --out>)."}
    )
    max_length: int = field(
        default=256, metadata={"help": "Tokens per training window (question + paragraph)."}
    )
    doc_stride: int = field(
        default=128, metadata={"help": "Tokens shared by consecutive windows when evaluating."}
    )
    max_question_length: int = field(
        default=64, metadata={"help": "Question tokens kept; longer ones are cut."}
    )
    epochs: float = field(default=1.0, metadata={"help": "Passes over the training questions."})
    max_steps: int = field(default=-1, metadata={"help": "Optimizer steps; overrides --epochs when > 0."})
    learning_rate: float = field(default=1e-4, metadata={"help": "Peak learning rate of AdamW."})
    batch_size: int = field(default=16, metadata={"help": "Windows per step on each device."})
    grad_accum: int = field(
        default=1, metadata={"help": "Steps whose gradients are summed before an update."}
    )
    warmup: float = field(
        default=0.1, metadata={"help": "Warm-up: a fraction of all steps (< 1) or a step count."}
    )
    schedule: str = field(
        default="linear",
        metadata={"help": "Learning-rate schedule after warm-up.", "choices": ["linear", "constant"]},
    )
    placement: str = field(
        default="random",
        metadata={
            "help": "Where the answer sits in its training window: anywhere (random) or the middle (centre, "
            "as in the homework's sample code).",
            "choices": ["random", "centre"],
        },
    )
    answerless_rate: float = field(
        default=0.3, metadata={"help": "Extra windows without the answer, as a share of the questions."}
    )
    freeze_embeddings: bool = field(default=True, metadata={"help": "Keep the word embeddings fixed."})
    freeze_layers: int = field(
        default=0, metadata={"help": "Keep the embeddings and this many lowest layers fixed."}
    )
    max_questions: int = field(
        default=0, metadata={"help": "Use at most this many random questions per file (0: all)."}
    )
    log_every: int = field(default=10, metadata={"help": "Steps between training-loss reports."})
    eval_every: int = field(default=200, metadata={"help": "Steps between EM/F1 measurements."})
    eval_questions: int = field(
        default=200, metadata={"help": "Questions of --eval used for each measurement."}
    )
    save_every: int = field(default=200, metadata={"help": "Steps between resumable checkpoints (0: none)."})
    seed: int = field(
        default=42, metadata={"help": "Seed for sampling, window placement and initialisation."}
    )
    threads: int = field(default=0, metadata={"help": "CPU threads for torch (0: torch's default)."})
    bf16: bool = field(
        default=False,
        metadata={"help": "Mixed precision in bfloat16 on a GPU that has it: several times faster there."},
    )
    max_minutes: float = field(
        default=0.0,
        metadata={
            "help": "Fit the run into this many minutes: the learning-rate decay is refitted to end when "
            "time is up, and the model reached is saved (0: no limit)."
        },
    )
    save_dtype: str = field(
        default="float32",
        metadata={
            "help": "Precision of the saved weights (float16 halves the file).",
            "choices": ["float32", "float16"],
        },
    )


@dataclass(frozen=True)
class TrainProgress:
    """What a UI shows while training runs.

    ``loss`` is the latest logged training loss and ``loss_step`` the step it was logged at: it is
    logged every ``log_every`` steps, so a loss curve needs both to place its points.
    """

    step: int
    max_steps: int
    loss: float | None
    learning_rate: float | None
    elapsed_s: float
    eta_s: float | None
    eval: Scores | None = None
    loss_step: int | None = None


@dataclass(frozen=True)
class TrainResult:
    out: Path
    steps: int
    seconds: float
    final_eval: Scores | None
    cancelled: bool


def run(
    config: TrainConfig,
    on_progress: Callable[[TrainProgress], None] | None = None,
    stop: threading.Event | None = None,
) -> TrainResult:
    """Train, then write the model folder atomically; a stopped run leaves ``--out`` untouched."""
    if config.threads:
        torch.set_num_threads(config.threads)
    torch.manual_seed(config.seed)
    base = resolve_base(config.base)
    tokenizer = AutoTokenizer.from_pretrained(base)
    model = AutoModelForQuestionAnswering.from_pretrained(base, use_safetensors=True, dtype=torch.float32)
    freeze(model, config.freeze_embeddings, config.freeze_layers)
    examples = read_training_files(config)
    dataset = TrainingWindows(
        tokenizer,
        examples,
        max_length=config.max_length,
        max_question_length=config.max_question_length,
        placement=config.placement,
        answerless_rate=config.answerless_rate,
        seed=config.seed,
    )
    eval_examples = load_examples(config.eval)[: config.eval_questions] if config.eval else []
    work_dir = Path(config.work_dir or Path("runs") / Path(config.out).name)
    log.info("%d questions -> %d training windows; work dir %s", len(examples), len(dataset), work_dir)
    curve = work_dir / "learning_curve.jsonl"
    monitor = Monitor(config, tokenizer, eval_examples, on_progress, stop, curve, curve_offset(base))
    trainer = Trainer(
        model=model,
        args=training_arguments(config, work_dir),
        train_dataset=dataset,
        data_collator=PadCollator(tokenizer.pad_token_id, "token_type_ids" in tokenizer.model_input_names),
        processing_class=tokenizer,
        callbacks=[monitor],
    )
    started = time.time()
    resume = any(work_dir.glob("checkpoint-*"))
    trainer.train(resume_from_checkpoint=True if resume else None)
    seconds = time.time() - started
    if monitor.cancelled:
        return TrainResult(Path(config.out), trainer.state.global_step, seconds, None, cancelled=True)
    final = monitor.measure(trainer.state.global_step) if eval_examples else None
    save(trainer, config, work_dir, trainer.state.global_step, seconds, final)
    return TrainResult(Path(config.out), trainer.state.global_step, seconds, final, cancelled=False)


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


def read_training_files(config: TrainConfig) -> list[Example]:
    """All questions of the training files (a seeded sample of each if --max_questions is set)."""
    if config.eval and any(Path(f).resolve() == Path(config.eval).resolve() for f in config.train):
        raise ValueError(
            f"{config.eval} is both a training and the evaluation file: keep evaluation data unseen."
        )
    rng = random.Random(config.seed)
    examples: list[Example] = []
    for path in config.train:
        loaded = load_examples(path, require_answers=True, fix_offsets_within=2, drop_empty_questions=True)
        if config.max_questions and len(loaded) > config.max_questions:
            loaded = rng.sample(loaded, config.max_questions)
        log.info("%s: %d questions", path, len(loaded))
        examples.extend(loaded)
    return examples


def training_arguments(config: TrainConfig, work_dir: Path) -> TrainingArguments:
    return TrainingArguments(
        output_dir=str(work_dir),
        num_train_epochs=config.epochs,
        max_steps=config.max_steps,
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


class Monitor(TrainerCallback):
    """Reports progress, measures EM/F1 every ``eval_every`` steps, and stops on request."""

    def __init__(
        self, config, tokenizer, eval_examples, on_progress, stop, curve_path: Path, curve_offset=(0, 0)
    ):
        self.config, self.tokenizer, self.eval_examples = config, tokenizer, eval_examples
        self.on_progress, self.stop, self.curve_path = on_progress, stop, curve_path
        self.curve_offset = curve_offset  # (steps, windows) of earlier training of the base model
        self.model = None
        self.started = time.time()
        self.cancelled = False
        self.loss: float | None = None
        self.loss_step: int | None = None
        self.lr: float | None = None
        self.measured: tuple[int, Scores] | None = None  # the latest measurement and its step
        self.planned_steps = 0  # the run's length before --max_minutes refitted it

    def on_train_begin(self, args, state, control, model=None, **kwargs):
        self.model = model
        self.started = time.time()
        self.first_step = state.global_step
        self._forget_points_after(state.global_step)

    def on_log(self, args, state, control, logs=None, **kwargs):
        logs = logs or {}
        self.lr = logs.get("learning_rate", self.lr)
        if "loss" in logs:  # logged after on_step_end, so report it now rather than a step late
            self.loss, self.loss_step = logs["loss"], state.global_step
            self._report(state.global_step, state.max_steps, None)

    def on_step_end(self, args, state, control, **kwargs):
        step = state.global_step
        measured = self.measure(step) if self.eval_examples and step % self.config.eval_every == 0 else None
        self._report(step, state.max_steps, measured)
        if self.stop is not None and self.stop.is_set():
            self.cancelled = True
            control.should_training_stop = True
            control.should_save = False
        elif self.config.max_minutes:
            self._keep_to_time(state, control, kwargs.get("lr_scheduler"))

    def _keep_to_time(self, state, control, lr_scheduler) -> None:
        """End the run when --max_minutes are up, with the learning rate decayed by then, not cut off mid-way.

        The Trainer fixes the schedule's length before anyone knows how fast a step is on this
        machine, so the end step is re-estimated from the pace so far and the schedule refitted to it.
        """
        step, done = state.global_step, state.global_step - self.first_step
        elapsed, budget = time.time() - self.started, 60 * self.config.max_minutes
        self.planned_steps = self.planned_steps or state.max_steps
        if done >= 20 and done % 10 == 0 and lr_scheduler is not None:  # a pace over 20+ steps, rechecked
            fitted = max(step, min(self.planned_steps, step + int((budget - elapsed) * done / elapsed)))
            if fitted != state.max_steps:
                fit_schedule(lr_scheduler, fitted)
                state.max_steps = fitted
        if step >= state.max_steps or elapsed >= budget:
            log.info(
                "stopping at step %d after %.1f of %g minutes", step, elapsed / 60, self.config.max_minutes
            )
            control.should_training_stop = True

    def measure(self, step: int) -> Scores:
        """EM/F1 on the evaluation slice, appended to the learning curve (once per step)."""
        if self.measured is not None and self.measured[0] == step:  # the last step is also an eval step
            return self.measured[1]
        engine = QAEngine(self.model, self.tokenizer)
        settings = AnswerSettings(max_length=384, doc_stride=self.config.doc_stride)
        answers = engine.answer_many([(e.question, e.context) for e in self.eval_examples], settings)
        self.model.train()
        result = score(
            {e.id: a.text for e, a in zip(self.eval_examples, answers, strict=True)}, self.eval_examples
        )
        base_steps, base_windows = self.curve_offset
        windows = base_windows + step * self.config.batch_size * self.config.grad_accum
        point = {"step": base_steps + step, "windows_seen": windows, "loss": self.loss, **asdict(result)}
        point["elapsed_s"] = round(time.time() - self.started, 1)
        self.curve_path.parent.mkdir(parents=True, exist_ok=True)
        with self.curve_path.open("a") as f:
            f.write(json.dumps(point) + "\n")
        log.info("step %d: EM %.1f F1 %.1f on %d questions", step, result.exact_match, result.f1, result.n)
        self.measured = (step, result)
        return result

    def _forget_points_after(self, step: int) -> None:
        """Drop points measured after the checkpoint a run resumes from: it measures those steps again."""
        lines = read_text(self.curve_path).splitlines()
        kept = [line for line in lines if json.loads(line)["step"] <= self.curve_offset[0] + step]
        if len(kept) < len(lines):
            self.curve_path.write_text("".join(line + "\n" for line in kept))

    def _report(self, step: int, max_steps: int, measured: Scores | None) -> None:
        if self.on_progress is None:
            return
        elapsed = time.time() - self.started
        done = step - self.first_step
        eta = elapsed / done * (max_steps - step) if done else None
        progress = TrainProgress(step, max_steps, self.loss, self.lr, elapsed, eta, measured, self.loss_step)
        self.on_progress(progress)


def fit_schedule(lr_scheduler, total_steps: int) -> None:
    """Make the learning-rate decay end at ``total_steps`` (a warm-up or constant schedule is left as it is)."""
    lr_scheduler.lr_lambdas = [
        partial(f.func, **{**f.keywords, "num_training_steps": total_steps})
        if isinstance(f, partial) and "num_training_steps" in f.keywords
        else f
        for f in lr_scheduler.lr_lambdas
    ]


def save(trainer: Trainer, config: TrainConfig, work_dir: Path, steps: int, seconds: float, final) -> None:
    """Write model, tokenizer, config, learning curve and model card to a temporary folder, then swap it in.

    A failure on the way removes the temporary folder, so no half-written model lingers beside the others.
    """
    out = Path(config.out)
    tmp = out.with_name(f".{out.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    if config.save_dtype == "float16":
        trainer.model.half()  # training is over; only the saved copy needs to be small
    try:
        write_model_folder(tmp, trainer, config, work_dir, steps, seconds, final)
        replace_dir(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def write_model_folder(
    tmp: Path, trainer: Trainer, config: TrainConfig, work_dir: Path, steps, seconds, final
):
    trainer.save_model(str(tmp))
    (tmp / "training_args.bin").unlink(
        missing_ok=True
    )  # a pickle; training_config.json records the run instead
    (tmp / "training_config.json").write_text(json.dumps(asdict(config), indent=2, ensure_ascii=False) + "\n")
    base = Path(resolve_base(config.base))
    earlier_runs = base / "training_runs.json"  # a model trained further keeps the record of how it began
    if earlier_runs.is_file():
        shutil.copy(earlier_runs, tmp / "training_runs.json")
    notes = next((f for f in (Path(config.out) / NOTES, base / NOTES) if f.is_file()), None)
    if notes:  # hand-written, so kept from the folder being replaced (or the base) for a person to update
        shutil.copy(notes, tmp / NOTES)
    curve = "".join(read_text(p) for p in (base / "learning_curve.jsonl", work_dir / "learning_curve.jsonl"))
    if curve:
        (tmp / "learning_curve.jsonl").write_text(curve)
    write_model_card(
        tmp, config=asdict(config), defaults=config_defaults(), steps=steps, seconds=seconds, final_eval=final
    )


def config_defaults() -> dict:
    """The options' defaults, which the recorded command leaves out."""
    return {f.name: f.default for f in fields(TrainConfig) if f.default is not MISSING}


def read_text(path: Path) -> str:
    return path.read_text() if path.is_file() else ""


def curve_offset(base: str) -> tuple[int, int]:
    """(step, windows seen) reached by the base model's own training, so a continued run's curve goes on from there."""
    lines = read_text(Path(base) / "learning_curve.jsonl").splitlines()
    last = json.loads(lines[-1]) if lines else {}
    return last.get("step", 0), last.get("windows_seen", 0)


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    (config,) = HfArgumentParser(TrainConfig).parse_args_into_dataclasses(args=argv)
    try:
        result = run(config)
    except ValueError as error:
        log.error("%s", error)
        return 2
    log.info("saved %s after %d steps in %.0f s", result.out, result.steps, result.seconds)
    if result.final_eval:
        log.info("EM %.1f F1 %.1f", result.final_eval.exact_match, result.final_eval.f1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
