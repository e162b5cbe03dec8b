"""The settings every CPU experiment shares, as dataclasses that each plan subclasses.

`RLSettings` says how each RL model of an experiment is trained, `EvalSettings` how each model is evaluated; a plan
(`demo`, `compare`, `budget_demo`) subclasses `ExperimentSettings` (both), adds its own fields and redeclares only
the defaults it changes, as TRL's configs do ("parameters whose default values are overridden"). Every field is
checked when the settings are built, before anything trains: a late failure would leave a half-written run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["EvalSettings", "ExperimentSettings", "RLSettings", "RunArguments", "setting"]


def setting(default: Any, help: str, **metadata: Any) -> Any:
    """A settings field with its `--help` text (a list default is copied for each instance)."""
    if isinstance(default, list):
        return field(default_factory=lambda: list(default), metadata={"help": help, **metadata})
    return field(default=default, metadata={"help": help, **metadata})


def check_at_least(settings: Any, minimums: dict[str, int]) -> None:
    for name, minimum in minimums.items():
        if getattr(settings, name) < minimum:
            raise ValueError(f"{name} must be >= {minimum}, got {getattr(settings, name)}.")


def check_positive(settings: Any, names: tuple[str, ...]) -> None:
    for name in names:
        if not getattr(settings, name) > 0:
            raise ValueError(f"{name} must be > 0, got {getattr(settings, name)}.")


@dataclass
class RLSettings:
    """How every RL model of an experiment is trained: the same budget for each, so that they compare."""

    steps: int = setting(60, "RL optimizer steps per model.")
    prompts_per_step: int = setting(8, "Prompts per RL step (each gets num_generations completions).")
    num_generations: int = setting(8, "Completions per prompt (G).")
    learning_rate: float = setting(5e-5, "RL learning rate (constant).")
    beta: float = setting(1e-3, "KL coefficient.")
    max_completion_length: int = setting(160, "Token limit for training and evaluation completions.")
    logging_steps: int = setting(5, "Log training metrics (accuracy, lengths, penalty) every this many steps.")
    seed: int = setting(0, "Seed of every training run, evaluation and draw.")

    def __post_init__(self) -> None:
        minimums = {
            "steps": 1,
            "prompts_per_step": 1,
            "num_generations": 2,
            "max_completion_length": 1,
            "logging_steps": 1,
        }
        check_at_least(self, minimums)
        check_positive(self, ("learning_rate",))
        if self.beta < 0:
            raise ValueError(f"beta must be >= 0 (0: no KL term), got {self.beta}.")


@dataclass
class EvalSettings:
    """How every model of an experiment is evaluated: the same held-out problems and sampling for each."""

    eval_problems: int = setting(1000, "Held-out problems every model is evaluated on.")
    eval_k: int = setting(1, "Samples per held-out problem (average pass@k).")
    eval_temperature: float = setting(0.6, "Sampling temperature for evaluation.")

    def __post_init__(self) -> None:
        check_at_least(self, {"eval_problems": 1, "eval_k": 1})
        check_positive(self, ("eval_temperature",))


@dataclass
class ExperimentSettings(EvalSettings, RLSettings):
    """RL training and evaluation settings together: the base of every plan's settings."""

    def __post_init__(self) -> None:
        RLSettings.__post_init__(self)
        EvalSettings.__post_init__(self)


@dataclass
class RunArguments:
    """Where an experiment writes its run; every plan's command parses it beside its settings."""

    run_dir: str = setting("", "A new directory for the run (default: runs/<command>-<date>-<time>).")
