"""`make compare`: every group-relative length reward of the registry, trained with the same budget on both demo
tasks and evaluated on the same held-out problems, on one Pareto plot per task.

`COMPARE_SETTINGS` lists what is trained, as data: each entry of `efficient_trl.LENGTH_REWARDS` that needs no
per-prompt budget at its paper's default and at one stronger setting (with the reason for it), the paper's sigmoid at
alpha 0 (the no-penalty control), 0.2 and 0.4, and the paper's ablation, sigmoid alpha 0.2 with advantages divided by
the group's reward std. L1's budget-conditioned rewards need prompts that carry a budget; they are compared in the
budget demo instead. `run_compare` trains and evaluates every setting with demo.py's own functions
(`train_with_alpha`, `evaluate_model`), two jobs at a time on two cores, and lays each task out as a demo run
(run_dir/<task>/), so that `analysis.load_results` reads its rows with their provenance.
"""

from __future__ import annotations

import json
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from multiprocessing import get_context
from pathlib import Path
from typing import Any

from .analysis import format_tradeoff_table, load_results, model_label, pareto_frontier, plot_pareto
from .demo import (
    DEMO_MODEL_DIRS,
    EVAL_SEED,
    DemoSettings,
    evaluate_model,
    model_dir_name,
    model_name,
    train_with_alpha,
)
from .rundir import check_new_output_dir
from .synthetic import TASKS

__all__ = [
    "COMPARE_SETTINGS",
    "CompareRunArguments",
    "CompareSettings",
    "LengthRewardSetting",
    "format_compare_table",
    "run_compare",
    "write_compare_report",
]

ROLES = ("default", "stronger", "control", "ablation")


@dataclass(frozen=True)
class LengthRewardSetting:
    """One model of the comparison: a registry entry, its parameters and advantage normalization, and why."""

    length_reward: str
    params: dict[str, float]  # the entry's parameters (the sigmoid's alpha included); the rest keep their defaults
    role: str  # "default" (the paper's), "stronger", "control" (no length penalty) or "ablation"
    reason: str
    normalization: str = "none"

    @property
    def name(self) -> str:
        """The model's name in results: demo.py's for the sigmoid ('alpha=0.2,norm=group'), else the entry and its
        parameters ('kimi,weight=2')."""
        if self.length_reward == "sigmoid":
            return model_name(self.params["alpha"], self.normalization)
        return ",".join([self.length_reward, *(f"{key}={value:g}" for key, value in self.params.items())])

    def train_arguments(self) -> tuple[float, dict[str, Any]]:
        """(alpha, length_reward_kwargs) as `demo.train_with_alpha` takes them: the sigmoid's alpha is
        `length_penalty_alpha`, not one of its kwargs."""
        kwargs = dict(self.params)
        return (kwargs.pop("alpha") if self.length_reward == "sigmoid" else 0.0), kwargs


# Demo completions are 30-200 tokens, 10-100x shorter than the papers' long reasoning: a penalty per token set for
# thousands of tokens is near zero here, so the stronger settings are scaled to the demo's lengths.
COMPARE_SETTINGS = (
    LengthRewardSetting("sigmoid", {"alpha": 0.0}, "control", "no length penalty: what RL on correctness alone does"),
    LengthRewardSetting("sigmoid", {"alpha": 0.2}, "default", "the paper's and the demo's alpha"),
    LengthRewardSetting("sigmoid", {"alpha": 0.4}, "stronger", "the largest alpha of the paper's sweep"),
    LengthRewardSetting(
        "sigmoid",
        {"alpha": 0.2},
        "ablation",
        "the paper's ablation: advantages divided by the group's reward std (the paper: costs accuracy)",
        normalization="group",
    ),  # fmt: skip
    LengthRewardSetting("kimi", {"weight": 1.0}, "default", "Kimi k1.5's weight"),
    LengthRewardSetting(
        "kimi",
        {"weight": 2.0},
        "stronger",
        "the largest weight at which a correct answer still never earns less than a wrong one of its group",
    ),  # fmt: skip
    LengthRewardSetting(
        "shorterbetter", {"length_weight": 0.001}, "default", "ShorterBetter's defaults (correct_weight 2)"
    ),
    LengthRewardSetting(
        "shorterbetter",
        {"length_weight": 0.01},
        "stronger",
        "0.001 per token costs 0.05 for a 50-token excess "
        "here, 2.5% of the correctness reward; 0.01 makes it 0.5, a quarter",
    ),  # fmt: skip
    LengthRewardSetting("grpo_lead", {"alpha": 0.05}, "default", "GRPO-LEAD's alpha (wrong answers earn -1)"),
    LengthRewardSetting(
        "grpo_lead",
        {"alpha": 0.2},
        "stronger",
        "exp(-0.05 z) only spans 0.88-1.14 over a group of 8's z-scores (|z| < 2.7); alpha 0.2 spans 0.58-1.7",
    ),  # fmt: skip
    LengthRewardSetting("alp", {"normalizer": 16384.0}, "default", "our default (the paper's N was not found)"),
    LengthRewardSetting(
        "alp",
        {"normalizer": 200.0},
        "stronger",
        "N = 16384 costs a 100-token answer 0.006 of its reward, ~0; N = "
        "200, about the demo's token limit, keeps the default's meaning: an answer at the limit on an always-solved "
        "prompt loses its whole correctness reward",
    ),  # fmt: skip
)
SETTING_NAMES = [setting.name for setting in COMPARE_SETTINGS]


def _setting(default: Any, help: str, **metadata: Any) -> Any:
    if isinstance(default, list):
        return field(default_factory=lambda: list(default), metadata={"help": help, **metadata})
    return field(default=default, metadata={"help": help, **metadata})


@dataclass
class CompareSettings:
    """The budget every setting of `make compare` gets (the same for all), and what to run."""

    tasks: list[str] = _setting(list(TASKS), "Demo tasks to compare on, each from its shipped starting model.")
    settings: list[str] = _setting(
        SETTING_NAMES, "Which of efficient_trl.compare.COMPARE_SETTINGS to train (by name; default: all of them)."
    )
    steps: int = _setting(30, "RL optimizer steps per model.")
    prompts_per_step: int = _setting(4, "Prompts per RL step (each gets num_generations completions).")
    num_generations: int = _setting(8, "Completions per prompt (G).")
    learning_rate: float = _setting(5e-5, "RL learning rate (constant).")
    beta: float = _setting(1e-3, "KL coefficient.")
    max_completion_length: int = _setting(
        200, "Token limit for training and evaluation completions (multi_sums' longest solutions need about 140)."
    )
    logging_steps: int = _setting(5, "Log training metrics every this many steps.")
    eval_problems: int = _setting(500, "Held-out problems of its task every model is evaluated on.")
    eval_temperature: float = _setting(0.6, "Sampling temperature for evaluation.")
    seed: int = _setting(0, "Seed of every training run and evaluation.")
    workers: int = _setting(
        2, "Jobs run at once, each in its own process on one thread (results do not depend on it)."
    )

    def __post_init__(self) -> None:
        # Everything checked before the first model trains: a late failure would leave a half-written run.
        for name, values, known in (("tasks", self.tasks, list(TASKS)), ("settings", self.settings, SETTING_NAMES)):
            unknown = [value for value in values if value not in known]
            if not values or unknown or len(set(values)) != len(values):
                raise ValueError(f"{name} must be a non-empty list of distinct values of {known}, got {values}.")
        if self.workers < 1:
            raise ValueError(f"workers must be >= 1, got {self.workers}.")
        for task in self.tasks:
            self.demo_settings(task)  # the demo's own checks of steps, rates, limits ...

    def demo_settings(self, task: str) -> DemoSettings:
        """The settings of one task's run, as demo.py's functions take them."""
        return DemoSettings(
            task=task, steps=self.steps, prompts_per_step=self.prompts_per_step,
            num_generations=self.num_generations, learning_rate=self.learning_rate, beta=self.beta,
            max_completion_length=self.max_completion_length, logging_steps=self.logging_steps,
            eval_problems=self.eval_problems, eval_temperature=self.eval_temperature, seed=self.seed,
        )  # fmt: skip


@dataclass
class CompareRunArguments:
    """Where recipes/compare.py writes its run; parsed beside `CompareSettings`."""

    run_dir: str = field(
        default_factory=lambda: f"runs/compare-{time.strftime('%Y%m%d-%H%M%S')}",
        metadata={"help": "A new directory for the run (by default time-stamped: runs/compare-<date>-<time>)."},
    )


def _run_job(task_dir: Path, demo_settings: DemoSettings, start_model: Path, setting: LengthRewardSetting | None):
    """Train one setting from the start model (None: the start model itself) and evaluate it; (task, name, s)."""
    import torch

    # One thread in every job, whatever the number of workers: a tiny model is Python-bound, so two processes on two
    # cores nearly double throughput, and the same thread count keeps every result independent of `workers`.
    torch.set_num_threads(1)
    started = time.monotonic()
    name, model = "start", start_model
    if setting is not None:
        name = setting.name
        alpha, kwargs = setting.train_arguments()
        model = train_with_alpha(
            start_model, alpha, demo_settings, task_dir / model_dir_name(name), setting.normalization,
            setting.length_reward, kwargs,
        )  # fmt: skip
    problems = TASKS[demo_settings.task](demo_settings.eval_problems, seed=EVAL_SEED, split="held_out")
    evaluate_model(model, name, problems, demo_settings, task_dir, ())
    return demo_settings.task, name, time.monotonic() - started


def run_compare(
    run_dir: str | Path, settings: CompareSettings, start_models: dict[str, Path] | None = None
) -> dict[str, list[dict[str, Any]]]:
    """Train every chosen setting on every task from the task's starting model (default: the shipped one), evaluate
    them and the starting model on the task's held-out problems; returns each task's result rows
    (`analysis.load_results` of run_dir/<task>).

    run_dir holds settings.json (the CompareSettings and the settings trained, with their reasons), timings.json
    (seconds per job) and per task a demo run directory: settings.json (its DemoSettings), one directory per trained
    model (weights, trainer_state.json, provenance.json), eval/<model>/ per evaluated model.
    """
    run_dir = check_new_output_dir(run_dir, option="run directory (--run_dir)")
    start_models = {task: Path(DEMO_MODEL_DIRS[task]) for task in settings.tasks} | dict(start_models or {})
    for task in settings.tasks:
        if not (start_models[task] / "config.json").exists():
            raise FileNotFoundError(
                f"no starting model for {task} at {start_models[task]}; rebuild it with `python "
                f"recipes/build_demo_model.py --output_dir {start_models[task]} --task {task}`."
            )
    chosen = [setting for setting in COMPARE_SETTINGS if setting.name in settings.settings]
    run_dir.mkdir(parents=True, exist_ok=True)
    record = {"compare": asdict(settings), "trained": [{"name": s.name, **asdict(s)} for s in chosen]}
    (run_dir / "settings.json").write_text(json.dumps(record, indent=1))
    jobs = []
    for task in settings.tasks:
        demo_settings = settings.demo_settings(task)
        (run_dir / task).mkdir()
        (run_dir / task / "settings.json").write_text(json.dumps(asdict(demo_settings), indent=1))
        jobs += [(run_dir / task, demo_settings, start_models[task], setting) for setting in [None, *chosen]]
    # spawn: each job starts from a fresh interpreter (no torch state forked from this one)
    with ProcessPoolExecutor(settings.workers, mp_context=get_context("spawn")) as pool:
        futures = [pool.submit(_run_job, *job) for job in jobs]
        timings = [future.result() for future in futures]  # the first job that failed raises here
    (run_dir / "timings.json").write_text(
        json.dumps([{"task": task, "name": name, "seconds": round(s, 1)} for task, name, s in timings], indent=1)
    )
    return {task: load_results(run_dir / task, start="start") for task in settings.tasks}


def format_compare_table(rows: list[dict[str, Any]]) -> str:
    """`analysis.format_tradeoff_table` of one task's rows, each model shown by its setting (`model_label`, 'sigmoid'
    named for the paper's reward) and the Pareto frontier's members marked with a star."""
    on_frontier = {row["name"] for row in pareto_frontier(rows)}
    shown = []
    for row in rows:
        label = model_label(row)
        label = f"sigmoid {label}" if row["family"] == "alpha" else label
        shown.append({**row, "name": label + (" ★" if row["name"] in on_frontier else "")})
    start = next(row["name"] for row, original in zip(shown, rows, strict=True) if original["family"] == "start")
    return format_tradeoff_table(shown, baseline=start)


def write_compare_report(run_dir: str | Path, results: dict[str, list[dict[str, Any]]]) -> str:
    """Per task, the table (run_dir/<task>/results.md) and the Pareto plot (run_dir/<task>/pareto.png); returns the
    tables, each under its task's heading."""
    run_dir, sections = Path(run_dir), []
    for task, rows in results.items():
        table = format_compare_table(rows)
        (run_dir / task / "results.md").write_text(table + "\n")
        plot_pareto(rows, run_dir / task / "pareto.png", title=f"Length rewards on {task}")
        sections.append(f"## {task}\n\n{table}")
    return "\n\n".join(sections)
