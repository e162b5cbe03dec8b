"""Compare every group-relative length reward on the demo tasks, on one Pareto plot per task.

    efficient-trl compare                                  # make compare: 12 models on each of both tasks
    efficient-trl compare --run_dir runs/my-compare --tasks multi_sums --settings alpha=0.2 kimi,weight=2

`COMPARE_SPECS` lists what is trained, as data: each entry of `efficient_trl.LENGTH_REWARDS` that needs no
per-prompt budget at its paper's default and at one stronger setting (with the reason for it), the paper's sigmoid
at alpha 0 (the no-penalty control), 0.2 and 0.4, and the paper's ablation, sigmoid alpha 0.2 with advantages
divided by the group's reward std. L1's budget-conditioned rewards need prompts that carry a budget: the budget demo
compares them. Every setting gets the same budget from each task's shipped starting model, two jobs at a time, and
every model and the starting model are evaluated on the task's held-out problems.

Every reward is trained under the common setting: RLOO advantages as they are, the penalty from the first step.
With `--as_published`, each is also trained as its authors trained it (`length_rewards.AS_PUBLISHED`: verl's
group-normalized advantages for most, Kimi's warm-up), named `<setting>@published`; a reward published under the
common setting (the paper's sigmoid) is not trained twice. Writes under a new run directory
settings.json, timings.json and per task a run directory (<task>/: the models, eval/<model>/, results.md,
pareto.png).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from ..analysis import format_tradeoff_table, load_results, model_label, pareto_frontier, plot_pareto
from ..length_rewards import AS_PUBLISHED
from ..provenance import model_fingerprint
from ..synthetic import TASKS
from . import engine
from .engine import ModelSpec, alpha_spec
from .settings import ExperimentSettings, setting

__all__ = [
    "COMPARE_SPECS",
    "CompareSettings",
    "as_published_specs",
    "format_compare_table",
    "run_compare",
    "write_compare_report",
]

# Demo completions are 30-200 tokens, 10-100x shorter than the papers' long reasoning: a penalty per token set for
# thousands of tokens is near zero here, so the stronger settings are scaled to the demo's lengths.
COMPARE_SPECS = (
    alpha_spec(0.0, role="control", reason="no length penalty: what RL on correctness alone does"),
    alpha_spec(0.2, role="default", reason="the paper's and the demo's alpha"),
    alpha_spec(0.4, role="stronger", reason="the largest alpha of the paper's sweep"),
    alpha_spec(
        0.2,
        "group",
        role="ablation",
        reason="the paper's ablation: advantages divided by the group's reward std (the paper: costs accuracy)",
    ),  # fmt: skip
    ModelSpec("kimi", {"weight": 1.0}, role="default", reason="Kimi k1.5's weight"),
    ModelSpec(
        "kimi",
        {"weight": 2.0},
        role="stronger",
        reason="the largest weight at which a correct answer still never earns less than a wrong one of its group",
    ),  # fmt: skip
    ModelSpec(
        "shorterbetter", {"length_weight": 0.001}, role="default", reason="ShorterBetter's defaults (correct_weight 2)"
    ),
    ModelSpec(
        "shorterbetter",
        {"length_weight": 0.01},
        role="stronger",
        reason="0.001 per token costs 0.05 for a 50-token excess here, 2.5% of the correctness reward; 0.01 makes it "
        "0.5, a quarter",
    ),  # fmt: skip
    ModelSpec("grpo_lead", {"alpha": 0.05}, role="default", reason="GRPO-LEAD's alpha (wrong answers earn -1)"),
    ModelSpec(
        "grpo_lead",
        {"alpha": 0.2},
        role="stronger",
        reason="exp(-0.05 z) only spans 0.88-1.14 over a group of 8's z-scores (|z| < 2.7); alpha 0.2 spans 0.58-1.7",
    ),  # fmt: skip
    ModelSpec("alp", {"normalizer": 16384.0}, role="default", reason="our default (the paper's N was not found)"),
    ModelSpec(
        "alp",
        {"normalizer": 200.0},
        role="stronger",
        reason="N = 16384 costs a 100-token answer 0.006 of its reward, ~0; N = 200, about the demo's token limit, "
        "keeps the default's meaning: an answer at the limit on an always-solved prompt loses its whole correctness "
        "reward",
    ),  # fmt: skip
)
SPEC_NAMES = [spec.name for spec in COMPARE_SPECS]


def as_published_specs(specs: list[ModelSpec]) -> list[ModelSpec]:
    """Each spec of the common setting (no advantage normalization) whose reward was trained otherwise by its
    authors (`AS_PUBLISHED`: a normalization or a warm-up), as they trained it: named '<name>@published'."""
    differs = {
        name for name, published in AS_PUBLISHED.items() if (published.normalization, published.warmup) != ("none", 0)
    }
    return [
        replace(spec, as_published=True, role=f"{spec.role}, as published".lstrip(", "))
        for spec in specs
        if spec.normalization == "none" and spec.length_reward in differs
    ]


@dataclass
class CompareSettings(ExperimentSettings):
    """The budget every setting of the comparison gets (the same for all), and what to run."""

    # the defaults this plan changes
    steps: int = setting(30, "RL optimizer steps per model.")
    prompts_per_step: int = setting(4, "Prompts per RL step (each gets num_generations completions).")
    max_completion_length: int = setting(
        200, "Token limit for training and evaluation completions (multi_sums' longest solutions need about 140)."
    )
    eval_problems: int = setting(500, "Held-out problems of its task every model is evaluated on.")
    # its own
    tasks: list[str] = setting(
        ["sums", "multi_sums"], f"Demo tasks to compare on (of {list(TASKS)}), each from its shipped starting model."
    )
    settings: list[str] = setting(
        SPEC_NAMES, "Which of efficient_trl.experiments.compare.COMPARE_SPECS to train (by name; default: all)."
    )
    as_published: bool = setting(
        False,
        "Also train each chosen setting as its reward's authors did (efficient_trl.length_rewards.AS_PUBLISHED: their "
        "advantage normalization and warm-up), named <setting>@published; rewards published under the common setting "
        "are not trained twice.",
    )
    workers: int = setting(2, "Jobs run at once, each in its own process on one thread (results do not depend on it).")

    def __post_init__(self) -> None:
        for name, values, known in (("tasks", self.tasks, list(TASKS)), ("settings", self.settings, SPEC_NAMES)):
            unknown = [value for value in values if value not in known]
            if not values or unknown or len(set(values)) != len(values):
                raise ValueError(f"{name} must be a non-empty list of distinct values of {known}, got {values}.")
        if self.workers < 1:
            raise ValueError(f"workers must be >= 1, got {self.workers}.")
        super().__post_init__()


def _train_and_evaluate(task_dir: Path, task: str, settings: CompareSettings, start: Path, spec: ModelSpec | None):
    """One job: train `spec` from the starting model (None: the starting model itself) and evaluate it; returns
    (task, name, seconds)."""
    started = time.monotonic()
    name, model = "start", start
    if spec is not None:
        name = spec.name
        model = engine.train_model(spec, start, task, settings, task_dir / engine.model_dir_name(name))
    engine.evaluate_model(model, name, engine.held_out_problems(task, settings), task, settings, task_dir)
    return task, name, time.monotonic() - started


def run_compare(
    run_dir: str | Path, settings: CompareSettings, start_models: dict[str, Path] | None = None
) -> dict[str, list[dict[str, Any]]]:
    """Train every chosen setting on every task from the task's starting model (default: the shipped one), evaluate
    them and the starting model on the task's held-out problems; returns each task's result rows
    (`analysis.load_results` of run_dir/<task>).

    run_dir holds settings.json (these settings and the settings trained, with their reasons), timings.json
    (seconds per job, of the last launch) and per task a run directory as `engine` lays it out. A
    rerun with the same settings resumes the run: finished jobs are kept, unfinished ones redone.
    """
    starts = {task: engine.start_model(task, (start_models or {}).get(task)) for task in settings.tasks}
    chosen = [spec for spec in COMPARE_SPECS if spec.name in settings.settings]
    chosen += as_published_specs(chosen) if settings.as_published else []
    trained = [{"name": spec.name, **asdict(spec)} for spec in chosen]
    fingerprints = {task: model_fingerprint(str(start)) for task, start in starts.items()}
    record = {"compare": asdict(settings), "trained": trained, "start_models": fingerprints}
    with engine.open_run(run_dir, record) as run_dir:
        jobs = []
        for task in settings.tasks:
            task_dir = run_dir / task
            task_dir.mkdir(exist_ok=True)
            engine.write_json(task_dir / "settings.json", engine.settings_record(settings, starts[task], task=task))
            jobs += [(task_dir, task, settings, starts[task], spec) for spec in [None, *chosen]]
        timings = engine.run_jobs(_train_and_evaluate, jobs, settings.workers)
        seconds = [{"task": task, "name": name, "seconds": round(took, 1)} for task, name, took in timings]
        engine.write_json(run_dir / "timings.json", seconds)
    return {task: load_results(run_dir / task, start="start") for task in settings.tasks}


def format_compare_table(rows: list[dict[str, Any]]) -> str:
    """`analysis.format_tradeoff_table` of one task's rows, each model shown by its setting (`model_label`, 'sigmoid'
    named for the paper's reward) and the Pareto frontier's members marked with a star."""
    on_frontier = {row["name"] for row in pareto_frontier(rows)}
    shown = []
    for row in rows:
        label = model_label(row)
        label = f"sigmoid {label}" if row["family"] == "alpha" else label
        label += " (as published)" if row["name"].endswith("@published") else ""
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


def main(argv: list[str] | None = None) -> None:
    engine.run_plan(
        "compare", CompareSettings, run_compare, write_compare_report,
        lambda settings: f"{settings.eval_problems} held-out problems per model; ★: on the Pareto frontier",
        "plots: {run_dir}/<task>/pareto.png", __doc__, argv,
    )  # fmt: skip
