"""One flag style for every command: ``--max-length`` in help, ``--max_length`` still accepted.

The commands were written at different times: the predict and evaluate tools spell options with dashes,
while the training command (built by transformers' ``HfArgumentParser``) and the experiments runner spell
them as their dataclass fields, with underscores. Model cards and old notes record the underscore
spelling, so it keeps working; help and errors show the dashed one only.
"""

from __future__ import annotations

import argparse


def dashed(option: str) -> str:
    """``--max_length`` -> ``--max-length``; short options (``-h``) and plain words pass unchanged."""
    if not option.startswith("--"):
        return option
    return "--" + option[2:].replace("_", "-")


def underscored(option: str) -> str:
    """``--max-length`` -> ``--max_length``: the spelling kept as a silent alias."""
    if not option.startswith("--"):
        return option
    return "--" + option[2:].replace("-", "_")


def one_style(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Show every long option dashed and accept both spellings, in the parser and its subcommands.

    argparse shows ``action.option_strings`` in help and errors, and parses through the parser's table
    of option strings, so the alias is registered in the table only and stays out of the help.
    """
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                one_style(sub)
            continue
        shown = list(dict.fromkeys(dashed(option) for option in action.option_strings))
        for option in action.option_strings:
            for spelling in (dashed(option), underscored(option)):
                parser._option_string_actions.setdefault(spelling, action)
        action.option_strings = shown
    return parser
