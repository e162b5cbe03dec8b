"""The command line: `efficient-trl <command>` (and `python -m efficient_trl <command>`), and how every command
parses its flags.

    efficient-trl evaluate --config eval.yaml --num_problems 50
    python recipes/evaluate.py --config eval.yaml --num_problems 50     # the same command as a script

`main` dispatches a command name to its module (`command_module`: `efficient_trl.scripts`, or a plan of
`efficient_trl.experiments`; the table `COMMANDS`), imported only when that command runs. Each command parses
dataclasses with `help` metadata through TRL's `TrlParser` (`parse_arguments`): `--config file.yaml` sets any field
(an unknown key is an error); a command-line flag overrides the YAML; `--help` lists every field with its help and
default. On top of TRL's parsing, a flag or YAML key that no field has is refused first, with the closest names
("unknown option --x; did you mean --y?", `check_options`; also used by `efficient-trl train`), a field marked
required (no default) must have a value, and a field with `choices`
metadata is checked against them wherever its value came from (argparse checks the command line only, not a YAML
value).
"""

from __future__ import annotations

import argparse
import difflib
import importlib
import inspect
import sys
from collections.abc import Callable, Iterable
from dataclasses import MISSING, fields
from typing import Any

# main: the console entry point
__all__ = ["COMMANDS", "check_options", "command_module", "function_default", "parse_arguments"]

# command -> what it does, in one line (`efficient-trl --help`); its code is in `command_module(command)`
COMMANDS = {
    "train": "Train a model to reason efficiently: GRPO or RLOO with a length reward, from a recipe YAML.",
    "sft": "The SFT baseline on rejection-sampled data (TRL's SFTTrainer).",
    "dpo": "The DPO baseline on rejection-sampled data (TRL's DPOTrainer).",
    "evaluate": "Evaluate a model: accuracy, tokens spent and truncation, optionally by token budget.",
    "prepare-data": "Build the training prompt set: problems with a numeric answer, deduplicated, sampled.",
    "rejection-sampling": "Sample the starting model for the SFT and DPO baselines' data.",
    "start-accuracy": "Sample the starting model's accuracy per training prompt (length_reward adapt_think).",
    "model-card": "Write the accuracy/tokens trade-off table into a checkpoint's model card; optionally push it.",
    "quickstart": "A short end-to-end training run of a tiny model, offline, on CPU.",
    "demo": "The CPU demo: train the demo model at several alphas, evaluate, and plot accuracy against tokens.",
    "compare": "Compare the length rewards on the demo tasks, one Pareto plot per task (CPU).",
    "budget-demo": "Train the demo model to follow a token budget (L1) against budget forcing (CPU).",
    "build-demo-model": "Fine-tune a demo task's starting model with SFT (the shipped demo models).",
    "env": "Print the versions and devices of this environment, for bug reports.",
}

USAGE = """usage: efficient-trl <command> [--config file.yaml] [--field value ...]
   or: python -m efficient_trl <command> ...
   or: accelerate launch [--config_file ...] -m efficient_trl <command> ...   (train, sft, dpo on GPUs)

Train reasoning models to reason efficiently, on TRL. `efficient-trl <command> --help` lists a command's flags."""


def function_default(function: Callable[..., Any], parameter: str) -> Any:
    """The default of `function`'s keyword `parameter`: an argument dataclass takes its default from the library
    function it drives, so that the value is written in one place."""
    parameters = inspect.signature(function).parameters
    if parameter not in parameters:  # the function's signature changed: the dataclass must follow it
        raise ValueError(f"{function.__name__} has no parameter {parameter!r}; update the argument dataclass.")
    default = parameters[parameter].default
    if default is inspect.Parameter.empty:
        raise ValueError(f"{function.__name__}'s parameter {parameter!r} has no default.")
    return default


def parse_arguments(
    *dataclass_types: type,
    argv: list[str] | None = None,
    description: str | None = None,
    defaults: dict[str, Any] | None = None,
) -> tuple[Any, ...]:
    """Parse `--config file.yaml` and command-line overrides (`argv`, default `sys.argv[1:]`) into one instance of
    each of `dataclass_types`, in order. `description` heads `--help` (a recipe passes its docstring; its first
    paragraph is shown); `defaults` replace the dataclasses' own defaults, below the YAML and the command line.

    A missing required field, a value outside a field's `choices`, an unknown YAML key or a field's own check
    (`__post_init__`) that fails is a usage error (exit 2) with the message naming the problem.
    """
    from trl import TrlParser  # here, so that the library modules defining arguments do not import TRL for it

    summary = " ".join(description.strip().split("\n\n")[0].split()) if description else None
    parser = TrlParser(dataclass_types, description=summary)
    if defaults:
        parser.set_defaults(**defaults)
    argv = list(sys.argv[1:] if argv is None else argv)
    check_options(parser, argv)
    try:
        parsed = parser.parse_args_and_config(args=argv)
    except ValueError as error:  # a field's own check (__post_init__) or an unknown YAML key: a usage error
        parser.error(str(error))
    for instance in parsed:
        for spec in fields(instance):
            value = getattr(instance, spec.name)
            # A YAML `key: null` clears the requirement that argparse enforces on the command line
            if spec.default is MISSING and spec.default_factory is MISSING and value is None:
                parser.error(f"--{spec.name} is required (on the command line or in the --config YAML).")
            choices, values = spec.metadata.get("choices"), value if isinstance(value, list) else [value]
            if choices is not None and value is not None and not set(values) <= set(choices):
                parser.error(f"--{spec.name} must be one of {list(choices)}, got {value!r}.")
    return parsed


def check_options(
    parser: argparse.ArgumentParser,
    argv: list[str],
    config: Iterable[str] | None = None,
    also_allowed: Iterable[str] = (),
) -> None:
    """A usage error (exit 2) for the first command-line flag in `argv`, then the first `--config` YAML key in
    `config` (default: the keys of the YAML that `argv`'s --config names), that `parser` does not know: "unknown
    option --lerning_rate; did you mean --learning_rate?" (the closest known names, if any are close).
    `also_allowed` are more YAML keys to accept. Called before parsing, so that a typo is reported first, not an error
    of some other field it hides (an abbreviated flag counts as a typo)."""
    flags = {"--config", *(option for action in parser._actions for option in action.option_strings)}  # TRL's own
    for token in argv:
        flag = token.split("=", 1)[0]
        if flag.startswith("--") and flag not in flags:
            parser.error(f"unknown option {flag}{_closest(flag[2:], {f[2:] for f in flags if f[:2] == '--'}, '--')}")
    keys = {action.dest for action in parser._actions} | {"env", *also_allowed}  # env: TRL's environment variables
    for key in _config_keys(argv) if config is None else config:
        if key not in keys:
            parser.error(f"unknown key {key!r} in the --config YAML{_closest(str(key), keys - {'help'}, '')}")


def _closest(name: str, known: set[str], prefix: str) -> str:
    """'; did you mean <prefix>x or <prefix>y?' with the known names closest to `name` (their dashed aliases left
    out), or '.' when none is close."""
    candidates = sorted(option for option in known if "-" not in option)
    matches = difflib.get_close_matches(name.replace("-", "_"), candidates, n=3, cutoff=0.6)
    return f"; did you mean {' or '.join(prefix + match for match in matches)}?" if matches else "."


def _config_keys(argv: list[str]) -> list[str]:
    """The keys of the --config YAML in `argv`; none when it has none or cannot be read (TrlParser says why)."""
    import yaml

    if "--config" not in argv or argv.index("--config") + 1 >= len(argv):
        return []
    try:
        with open(argv[argv.index("--config") + 1]) as f:
            config = yaml.safe_load(f)
    except (OSError, yaml.YAMLError):
        return []
    return list(config) if isinstance(config, dict) else []


# The CPU experiments' commands: each plan of efficient_trl.experiments holds its own main
EXPERIMENT_COMMANDS = {
    "demo": "demo",
    "compare": "compare",
    "budget-demo": "budget_demo",
    "build-demo-model": "demo_model",
}


def command_module(command: str) -> str:
    """The module holding `command`'s `main`: efficient_trl.experiments.<plan> for an experiment's command, else
    efficient_trl.scripts.<command, `-` as `_`>."""
    if command in EXPERIMENT_COMMANDS:
        return f"efficient_trl.experiments.{EXPERIMENT_COMMANDS[command]}"
    return f"efficient_trl.scripts.{command.replace('-', '_')}"


def main(argv: list[str] | None = None) -> int:
    """`efficient-trl <command> [flags]`: run the command's `main` with the flags (its module imported only now)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        width = max(map(len, COMMANDS))
        print(USAGE + "\n\ncommands:\n" + "\n".join(f"  {name:<{width}}  {text}" for name, text in COMMANDS.items()))
        return 0
    if argv[0] == "--version":
        from . import __version__

        print(f"efficient-trl {__version__}")
        return 0
    command = argv[0].replace("_", "-")  # the recipe's file name (prepare_data) names the command too
    if command not in COMMANDS:
        print(
            f"{USAGE}\n\nefficient-trl: unknown command {argv[0]!r}; choose one of {', '.join(COMMANDS)}.",
            file=sys.stderr,
        )
        return 2
    program = sys.argv[0]
    sys.argv[0] = f"efficient-trl {command}"  # what argparse shows as the program in the command's usage and errors
    try:
        importlib.import_module(command_module(command)).main(argv[1:])
    finally:
        sys.argv[0] = program
    return 0
