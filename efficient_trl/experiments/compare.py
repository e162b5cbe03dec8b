"""Compare every group-relative length reward on the demo tasks, on one Pareto plot per task (per tier on graded).

    efficient-trl compare                                  # make compare: 12 models on each of both tasks
    efficient-trl compare --run_dir runs/my-compare --tasks multi_sums --settings alpha=0.2 kimi,weight=2
    efficient-trl compare --tasks graded --settings all --as_published --seeds 0 1   # make compare-graded

`COMPARE_SPECS` lists what can be trained, as data: each entry of `efficient_trl.LENGTH_REWARDS` that needs no
per-prompt budget at three strengths from weak to strong (its paper's default among them, each with its reason), so
that each reward draws its own accuracy-tokens frontier, the paper's sigmoid at alpha 0 (the no-penalty control), and
the paper's ablation, sigmoid alpha 0.2 with advantages divided by the group's reward std. By default the plan trains
`DEFAULT_SETTINGS`, the default and one stronger setting of each (the committed comparison); `--settings all` trains
every spec. L1's budget-conditioned rewards need prompts that carry a budget: the budget demo compares them.

Every setting gets the same budget from each task's shipped starting model, two jobs at a time, and
every model and the starting model are evaluated on the task's held-out problems.

Every reward is trained under the common setting: RLOO advantages as they are, the penalty from the first step.
With `--as_published`, each is also trained as its authors trained it (`length_rewards.AS_PUBLISHED`: verl's
group-normalized advantages for most, Kimi's warm-up), named `<setting>@published`; a reward published under the
common setting (the paper's sigmoid) is not trained twice.

With one seed (`--seeds`, default 0) the plan writes under a new run directory settings.json, timings.json and per
task a run directory (<task>/: the models, eval/<model>/, results.md, pareto.png). With several, each seed is a run
directory of its own, <task>/seed_<n>/ (the same settings but the seed; `analysis.load_seed_results` reads them
together), and <task>/ holds the report over seeds: results.md (mean ± standard error across seeds per model and
tier, and the ranking of the methods with "unresolved" where the seeds do not resolve it), pareto.png (means over
seeds, each method's models joined as its own frontier). On a task with tiers (graded) either layout adds
pareto_<tier>.png per tier and savings.png: per method (a reward under the common setting, or as published), the
largest token saving against the start at no more than 1 point of accuracy lost, per tier, mean ± standard error
across seeds (`analysis.token_savings`), with the ranking it gives in results.md.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from ..analysis import (
    compare_methods,
    format_savings_ranking,
    format_seed_table,
    format_tradeoff_table,
    load_results,
    load_seed_results,
    model_label,
    pareto_frontier,
    plot_pareto,
    plot_seed_pareto,
    plot_token_savings,
    token_savings,
)
from ..length_rewards import AS_PUBLISHED
from ..provenance import model_fingerprint
from ..synthetic import TASKS
from . import engine
from .engine import ModelSpec, alpha_spec
from .settings import ExperimentSettings, setting

__all__ = [
    "COMPARE_SPECS",
    "DEFAULT_SETTINGS",
    "CompareSettings",
    "as_published_specs",
    "format_compare_table",
    "run_compare",
    "seed_run_dirs",
    "write_compare_report",
]

# Demo completions are 30-200 tokens, 10-100x shorter than the papers' long reasoning: a penalty per token set for
# thousands of tokens is near zero here, so the stronger settings are scaled to the demo's lengths. Each reward has
# three strengths, from weak to strong, so that it draws a frontier of its own.
COMPARE_SPECS = (
    alpha_spec(0.0, role="control", reason="no length penalty: what RL on correctness alone does"),
    alpha_spec(0.05, role="weaker", reason="the smallest nonzero alpha of the paper's sweep"),
    alpha_spec(0.2, role="default", reason="the paper's and the demo's alpha"),
    alpha_spec(0.4, role="stronger", reason="the largest alpha of the paper's sweep"),
    alpha_spec(
        0.2,
        "group",
        role="ablation",
        reason="the paper's ablation: advantages divided by the group's reward std (the paper: costs accuracy)",
    ),  # fmt: skip
    ModelSpec(
        "kimi",
        {"weight": 0.5},
        role="weaker",
        reason="half Kimi's weight: the length term spans +-0.25, a quarter of the correctness reward",
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
    ModelSpec(
        "shorterbetter",
        {"length_weight": 0.03},
        role="strongest",
        reason="a 50-token excess costs 1.5 of the correctness reward's 2: a correct answer 67 tokens longer than its "
        "group's shortest correct one earns no more than a wrong one of that length",
    ),  # fmt: skip
    ModelSpec("grpo_lead", {"alpha": 0.05}, role="default", reason="GRPO-LEAD's alpha (wrong answers earn -1)"),
    ModelSpec(
        "grpo_lead",
        {"alpha": 0.2},
        role="stronger",
        reason="exp(-0.05 z) only spans 0.88-1.14 over a group of 8's z-scores (|z| < 2.7); alpha 0.2 spans 0.58-1.7",
    ),  # fmt: skip
    ModelSpec(
        "grpo_lead",
        {"alpha": 0.5},
        role="strongest",
        reason="exp(-0.5 z) spans 0.26-3.9 over a group of 8's z-scores: the group's shortest correct answer earns up "
        "to 15x its longest",
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
    ModelSpec(
        "alp",
        {"normalizer": 100.0},
        role="strongest",
        reason="N = 100, half the token limit: an answer of 100 tokens on an always-solved prompt loses its whole "
        "correctness reward, one of 50 tokens half of it",
    ),  # fmt: skip
)
SPEC_NAMES = [spec.name for spec in COMPARE_SPECS]
# What `make compare` trains (the committed comparison): each reward's default and one stronger setting, the sigmoid's
# control and ablation; `--settings all` trains every spec
DEFAULT_SETTINGS = [spec.name for spec in COMPARE_SPECS if spec.role in ("control", "default", "stronger", "ablation")]
ALL_SETTINGS = "all"


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
        DEFAULT_SETTINGS,
        "Which of efficient_trl.experiments.compare.COMPARE_SPECS to train, by name, or 'all' (default: "
        "DEFAULT_SETTINGS, each reward's default and one stronger setting).",
    )
    seeds: list[int] = setting(
        [0],
        "Seeds to train and evaluate every model with (each its own run directory, <task>/seed_<n>/, when several); "
        "the report gives the mean and standard error across seeds. Use it in place of --seed.",
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
            if values == [ALL_SETTINGS] and name == "settings":
                continue
            if not values or unknown or len(set(values)) != len(values):
                raise ValueError(f"{name} must be a non-empty list of distinct values of {known}, got {values}.")
        if not self.seeds or len(set(self.seeds)) != len(self.seeds) or any(seed < 0 for seed in self.seeds):
            raise ValueError(f"seeds must be a non-empty list of distinct seeds >= 0, got {self.seeds}.")
        if self.seed != 0 and self.seeds != [self.seed]:
            raise ValueError(f"compare trains with each of `seeds`: pass --seeds {self.seed}, not --seed {self.seed}.")
        if self.workers < 1:
            raise ValueError(f"workers must be >= 1, got {self.workers}.")
        super().__post_init__()

    def chosen_specs(self) -> list[ModelSpec]:
        """The specs of COMPARE_SPECS to train (every one for 'all'), with their as-published twins when asked."""
        chosen = [spec for spec in COMPARE_SPECS if self.settings == [ALL_SETTINGS] or spec.name in self.settings]
        return chosen + (as_published_specs(chosen) if self.as_published else [])

    def for_seed(self, seed: int) -> CompareSettings:
        """These settings for one seed's run: `seed` and `seeds` [seed]."""
        return replace(self, seed=seed, seeds=[seed])


def _train_and_evaluate(task_dir: Path, task: str, settings: CompareSettings, start: Path, spec: ModelSpec | None):
    """One job: train `spec` from the starting model (None: the starting model itself) and evaluate it; returns
    (task, name, seed, seconds)."""
    started = time.monotonic()
    name, model = "start", start
    if spec is not None:
        name = spec.name
        model = engine.train_model(spec, start, task, settings, task_dir / engine.model_dir_name(name))
    engine.evaluate_model(model, name, engine.held_out_problems(task, settings), task, settings, task_dir)
    return task, name, settings.seed, time.monotonic() - started


def seed_run_dirs(run_dir: str | Path, task: str, seeds: list[int]) -> list[Path]:
    """The run directories of a task's seeds in a comparison's run directory: <task>/ for one seed (the layout of a
    single run), <task>/seed_<n>/ each for several."""
    task_dir = Path(run_dir) / task
    return [task_dir] if len(seeds) == 1 else [task_dir / f"seed_{seed}" for seed in seeds]


def run_compare(
    run_dir: str | Path, settings: CompareSettings, start_models: dict[str, Path] | None = None
) -> dict[str, list[dict[str, Any]]]:
    """Train every chosen setting with every seed on every task from the task's starting model (default: the shipped
    one), evaluate them and the starting model on the task's held-out problems; returns each task's result rows:
    `analysis.load_results` of run_dir/<task> for one seed, `analysis.load_seed_results` of its seeds' run
    directories (means and standard errors across seeds) for several.

    run_dir holds settings.json (these settings and the settings trained, with their reasons), timings.json
    (seconds per job, of the last launch) and per task and seed a run directory as `engine` lays it out
    (`seed_run_dirs`). A rerun with the same settings resumes the run: finished jobs are kept, unfinished ones redone.
    """
    starts = {task: engine.start_model(task, (start_models or {}).get(task)) for task in settings.tasks}
    chosen = settings.chosen_specs()
    trained = [{"name": spec.name, **spec.recorded()} for spec in chosen]
    fingerprints = {task: model_fingerprint(str(start)) for task, start in starts.items()}
    record = {"compare": asdict(settings), "trained": trained, "start_models": fingerprints}
    with engine.open_run(run_dir, record) as run_dir:
        jobs = []
        for task in settings.tasks:
            for seed, task_dir in zip(settings.seeds, seed_run_dirs(run_dir, task, settings.seeds), strict=True):
                task_dir.mkdir(parents=True, exist_ok=True)
                seeded = settings.for_seed(seed)
                engine.write_json(task_dir / "settings.json", engine.settings_record(seeded, starts[task], task=task))
                jobs += [(task_dir, task, seeded, starts[task], spec) for spec in [None, *chosen]]
        timings = engine.run_jobs(_train_and_evaluate, jobs, settings.workers)
        seconds = [{"task": task, "name": name, "seed": seed, "seconds": round(took, 1)}
                   for task, name, seed, took in timings]  # fmt: skip
        engine.write_json(run_dir / "timings.json", seconds)
    if len(settings.seeds) == 1:
        return {task: load_results(run_dir / task, start="start") for task in settings.tasks}
    return {task: load_seed_results(seed_run_dirs(run_dir, task, settings.seeds)) for task in settings.tasks}


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
    """Per task, the table (run_dir/<task>/results.md) and the Pareto plot (run_dir/<task>/pareto.png) of
    `run_compare`'s results; with several seeds or on a task with tiers, also the ranking of the methods by tokens
    saved at no more than 1 point of accuracy lost (in results.md, "unresolved" where the seeds do not resolve it),
    savings.png and, per tier, pareto_<tier>.png (see the module docstring). Returns the tables, each under its task's
    heading."""
    run_dir, sections = Path(run_dir), []
    recorded = json.loads((run_dir / "settings.json").read_text())["compare"]
    seeds = recorded.get("seeds", [recorded["seed"]])  # a run from before seeds: its one seed
    for task, rows in results.items():
        task_dir = run_dir / task
        averaged = rows if len(seeds) > 1 else load_seed_results(seed_run_dirs(run_dir, task, seeds))
        methods = compare_methods(averaged)
        if len(seeds) == 1:
            table = format_compare_table(rows)
            plot_pareto(rows, task_dir / "pareto.png", title=f"Length rewards on {task}")
        else:
            table = format_seed_table(averaged)
            whole = [row for row in averaged if row.get("tier") is None]
            plot_seed_pareto(
                whole, methods, task_dir / "pareto.png", title=f"Length rewards on {task}, {len(seeds)} seeds"
            )
        tiers = list(dict.fromkeys(row["tier"] for row in averaged if row.get("tier") is not None))
        if len(seeds) > 1 or tiers:
            for tier in tiers:
                on_tier = [row for row in averaged if row.get("tier") == tier]
                title = f"Length rewards on {task}, tier {tier}, {len(seeds)} seed(s)"
                plot_seed_pareto(on_tier, methods, task_dir / f"pareto_{tier}.png", title=title)
            shown = [row for row in averaged if row.get("tier") is not None] if tiers else averaged
            savings = token_savings(shown, methods)
            title = f"Tokens saved at no more than 1 point of accuracy lost, {task}, {len(seeds)} seed(s)"
            plot_token_savings(savings, shown, methods, task_dir / "savings.png", title=title)
            table += "\n\n" + format_savings_ranking(savings)
        (task_dir / "results.md").write_text(table + "\n")
        sections.append(f"## {task}\n\n{table}")
    return "\n\n".join(sections)


def main(argv: list[str] | None = None) -> None:
    engine.run_plan(
        "compare", CompareSettings, run_compare, write_compare_report,
        lambda settings: f"{settings.eval_problems} held-out problems per model, {len(settings.seeds)} seed(s); "
        + ("★: on the Pareto frontier" if len(settings.seeds) == 1 else "± one standard error across seeds"),
        "plots: {run_dir}/<task>/pareto.png (several seeds or tiers: pareto_<tier>.png, savings.png)", __doc__, argv,
    )  # fmt: skip
