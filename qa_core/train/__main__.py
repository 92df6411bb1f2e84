"""Fine-tune an encoder for extractive QA on SQuAD-style or homework data, on the transformers Trainer.

    python -m qa_core.train --base e5-small-zh-en --train a.json b.json --eval dev.json --out checkpoints/mine

Because it is the stock Trainer, ``torchrun --nproc_per_node 4 -m qa_core.train ...`` or
``accelerate launch -m qa_core.train ...`` train on several GPUs unchanged. An interrupted run
resumes from the last checkpoint in ``--work-dir`` when started again with the same command.
"""

from __future__ import annotations

import copy
import dataclasses
import logging
from argparse import SUPPRESS, ArgumentParser
from types import MappingProxyType

from transformers import HfArgumentParser

from qa_core.flags import dashed, one_style
from qa_core.models.model_card import COMMAND
from qa_core.settings import Bound
from qa_core.train.config import TrainConfig

log = logging.getLogger(__name__)


class _SettingsParser(HfArgumentParser):
    """HfArgumentParser over fields declared with ``settings.setting``: their range joins the help text.

    argparse takes only its own keywords, so a field's other metadata (its ``Bound``) is folded into
    the help; choices come from the field's ``Literal`` type, as HfArgumentParser derives them.
    """

    @staticmethod
    def _parse_dataclass_field(parser: ArgumentParser, field: dataclasses.Field) -> None:
        plain = copy.copy(field)
        plain.metadata = MappingProxyType({"help": _help(field.metadata)})
        HfArgumentParser._parse_dataclass_field(parser, plain)
        if field.default is True:
            # HfArgumentParser gives --no_<name> the field's own help and "(default: False)", which
            # misreads as that switch doing what the field does; say what it does, and no default.
            negation = parser._option_string_actions[f"--no_{field.name}"]
            negation.help = f"The same as {dashed('--' + field.name)} False."
            negation.default = SUPPRESS


def _help(metadata: MappingProxyType) -> str:
    """The field's help, then its range in words: "Range: 32 to 512 tokens." or "Range: 1 or more steps."."""
    bound: Bound | None = metadata.get("bound")
    if bound is None:
        return metadata.get("help", "")
    low = f"more than {bound.low:g}" if bound.low_open else f"{bound.low:g}"
    if bound.high is None:
        allowed = low if bound.low_open else f"{low} or more"
    else:
        allowed = f"{low}, up to {bound.high:g}" if bound.low_open else f"{low} to {bound.high:g}"
    return f"{metadata.get('help', '')} Range: {allowed}{' ' + bound.unit if bound.unit else ''}."


def parser() -> HfArgumentParser:
    """The command line of ``TrainConfig``: one option per field, with its help, range and choices."""
    return one_style(_SettingsParser(TrainConfig, prog=COMMAND, description=__doc__.split("\n\n")[0]))


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    (config,) = parser().parse_args_into_dataclasses(args=argv)
    try:
        from qa_core.train.run import run  # torch and the Trainer: after the arguments are read

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
