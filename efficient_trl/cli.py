"""One command-line style for every recipe: dataclasses with `help` metadata, parsed by TRL's `TrlParser`.

    python recipes/evaluate.py --config eval.yaml --num_problems 50

`--config file.yaml` sets any field (an unknown key is an error); a command-line flag overrides the YAML; `--help`
lists every field with its help and default. On top of TRL's parsing, a field marked required (no default) must
have a value, and a field with `choices` metadata is checked against them wherever its value came from (argparse
checks the command line only, not a YAML value).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import MISSING, fields
from typing import Any

__all__ = ["function_default", "parse_arguments"]


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
