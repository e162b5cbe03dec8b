"""The demo: shorten an overthinking model's reasoning with the paper's length penalty, and measure what it costs.

    efficient-trl demo                                    # the graded task, alpha 0 and 0.2, per tier (make demo)
    efficient-trl demo --task sums                        # the sums task (make demo-sums)
    efficient-trl demo --task sums --alphas 0 0.05 0.1 0.2 0.4 --baselines true      # make sweep
    efficient-trl demo --task sums --alphas 0.05 0.2 --normalizations none group     # make ablation
    efficient-trl demo --methods adapt_think --seed 0 --run_dir runs/adapt-graded/seed_0  # make adapt-graded
    efficient-trl demo --rollout_thinking_budget 96 --eval_thinking_budgets 64 96 128   # make rollout-budget-graded
    efficient-trl demo --alphas 0 0.1 --steps 60 --run_dir runs/my-demo

From a demo task's shipped starting model (a ~1M-parameter Qwen2 that solves the task's sums and re-checks its work,
see `efficient_trl.synthetic`), train one model per alpha and advantage normalization with the same seed and steps;
with `--methods alpha adapt_think`, also AdaptThink's adapt_think reward (after sampling the starting model's
accuracy on each training prompt; `--methods adapt_think` trains it alone); with `--rollout_thinking_budget N`, each
alpha model also a second time with every training rollout's thinking kept within N tokens (Elastic Reasoning's
budget-constrained rollouts; named alpha=<a>,rollout_budget=N); with `--baselines`, also the generation cutoff and
SFT/DPO on rejection-sampled data; then evaluate every model on the same held-out problems (with
`--eval_thinking_budgets`, also under budget forcing at each budget). Writes under
a new run directory: one directory per trained model (weights, trainer_state.json, provenance.json), eval/<model>/
per evaluated model (settings.json, samples.jsonl, summary.json; rejection_sampling/ holds the baselines' samples,
start_accuracy/ adapt_think's; eval/<model>_forced/budget-<N>/ the forced evaluations), results.md (the table printed
at the end) and tradeoff.png; on the graded task results.md adds the table per tier and tradeoff_tiers.png plots each
tier; with forced evaluations, results.md adds accuracy and tokens at each budget (overall and per tier) and
forced_budgets.png draws them. The notebooks in notebooks/ read such a directory.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..analysis import (
    format_forced_budget_table,
    format_tier_table,
    format_tradeoff_table,
    load_results,
    plot_budget_adherence,
    plot_tiers,
    plot_tradeoff,
)
from ..budgets import check_rollout_thinking_budget
from ..provenance import PROVENANCE_FILE
from ..rewards import ADVANTAGE_NORMALIZATIONS
from ..synthetic import TASKS
from . import engine
from .engine import DEMO_ANSWER_CUE, ModelSpec, adapt_think_spec, alpha_spec
from .settings import ExperimentSettings, check_at_least, check_positive, setting

__all__ = [
    "METHODS",
    "TASK_COMPLETION_LENGTHS",
    "DemoSettings",
    "demo_specs",
    "run_demo",
    "write_demo_report",
]

# each task's default token limit: its longest reference solutions with a margin (graded: 7 digits and 3 passes)
TASK_COMPLETION_LENGTHS = {"sums": 160, "multi_sums": 160, "graded": 256}
# The families of RL models a demo trains, each with the settings only it reads (a run's settings.json leaves out
# those of a family it does not train: a run made before a family existed still resumes)
METHODS = {
    "alpha": ("alphas", "normalizations"),
    "adapt_think": ("adapt_think_delta", "forced_no_think_share", "start_accuracy_samples"),
}
# Settings added later, left out of settings.json when unused (their defaults): a run made before them still resumes
LATER_SETTINGS = {"rollout_thinking_budget": None, "eval_thinking_budgets": []}


@dataclass
class DemoSettings(ExperimentSettings):
    task: str = setting(
        "graded",
        f"Demo task, one of {list(TASKS)}: 'graded' has three tiers of difficulty (easy, medium, hard) where "
        "thinking matters, 'sums' adds four digits, 'multi_sums' 2 to 6 distinct ones (where cutting steps costs "
        "accuracy); picks the problems and the shipped starting model.",
    )
    max_completion_length: int = setting(
        0,
        "Token limit for training and evaluation completions; 0: the task's (TASK_COMPLETION_LENGTHS: 256 on graded, "
        "160 on the others).",
    )
    alphas: list[float] = setting([0.0, 0.2], "Length-penalty alphas to train, one model each.")
    normalizations: list[str] = setting(
        ["none"],
        "Advantage normalizations to train at every alpha: 'none' (the method), 'group' or 'batch' (the ablation), "
        "'batch_token' (the authors' released code).",
    )
    methods: list[str] = setting(
        ["alpha"],
        f"Families of RL models to train, of {list(METHODS)}: 'alpha' (the paper's sigmoid, one model per alpha and "
        "normalization), 'adapt_think' (AdaptThink's reward, one model, after sampling the starting model's accuracy "
        "on every training prompt).",
    )
    adapt_think_delta: float = setting(
        0.05, "adapt_think: the bonus delta for answering without thinking (AdaptThink's)."
    )
    forced_no_think_share: float = setting(
        0.5, "adapt_think: share of each prompt's rollouts forced to open without thinking (AdaptThink's: 0.5)."
    )
    start_accuracy_samples: int = setting(
        16, "adapt_think: samples of the starting model per training prompt for its accuracy (AdaptThink's K: 16)."
    )
    rollout_thinking_budget: int | None = setting(
        None,
        "Also train every alpha model with each training rollout's thinking kept within this many tokens (budget "
        "forcing: `</think>` and the answer cue appended at the budget, masked from the loss; the model "
        "alpha=<a>,rollout_budget=N beside alpha=<a>); None: off.",
    )
    eval_thinking_budgets: list[int] = setting(
        [],
        "Also evaluate every model (the start included) under budget forcing at each of these thinking budgets, on "
        "the same held-out problems (eval/<model>_forced/budget-<N>/); empty: none.",
    )
    baselines: bool = setting(False, "Also the generation cutoff, and SFT and DPO on rejection-sampled data.")
    cutoffs: list[float] = setting([40, 60, 80], "Token limits for the generation-cutoff baseline.")
    sft_learning_rate: float = setting(1e-4, "Learning rate of the SFT baseline.")
    # 1e-4 collapsed the demo model (rambling past the token limit)
    dpo_learning_rate: float = setting(1e-5, "Learning rate of the DPO baseline.")
    workers: int = setting(
        2, "Models trained and evaluated at once, each in its own process on one thread (results do not depend on it)."
    )

    def __post_init__(self) -> None:
        if self.task not in TASKS:
            raise ValueError(f"task must be one of {list(TASKS)}, got {self.task!r}.")
        if self.workers < 1:
            raise ValueError(f"workers must be >= 1, got {self.workers}.")
        self.max_completion_length = self.max_completion_length or TASK_COMPLETION_LENGTHS[self.task]
        unknown = sorted(set(self.normalizations) - set(ADVANTAGE_NORMALIZATIONS))
        if unknown or not self.normalizations:
            raise ValueError(
                f"normalizations must be a non-empty list of {list(ADVANTAGE_NORMALIZATIONS)}, got "
                f"{self.normalizations}."
            )
        if not self.alphas or not all(0.0 <= alpha < 1.0 for alpha in self.alphas):
            raise ValueError(
                f"alphas must be a non-empty list of values in [0, 1), got {self.alphas}: at 1 the longest correct "
                "answer earns no more than a wrong one (the paper uses 0.05 to 0.4)."
            )
        if len(set(self.alphas)) != len(self.alphas):
            raise ValueError(f"alphas lists a value twice ({self.alphas}): each alpha trains one model.")
        if not self.methods or not set(self.methods) <= set(METHODS) or len(set(self.methods)) != len(self.methods):
            raise ValueError(
                f"methods must be a non-empty list of distinct names of {list(METHODS)}, got {self.methods}."
            )
        if not 0.0 <= self.adapt_think_delta <= 1.0:
            raise ValueError(
                f"adapt_think_delta must be in [0, 1], got {self.adapt_think_delta}: above 1 a wrong answer without "
                "thinking earns more than a right one with it (AdaptThink sweeps 0 to 0.1)."
            )
        if not 0.0 < self.forced_no_think_share < 1.0:
            raise ValueError(
                f"forced_no_think_share must be in (0, 1), got {self.forced_no_think_share}: at 0 the starting model "
                "rarely shows the no-thinking mode, at 1 never the thinking one (AdaptThink forces 0.5)."
            )
        super().__post_init__()
        self._check_thinking_budgets()
        check_positive(self, ("sft_learning_rate", "dpo_learning_rate"))
        check_at_least(self, {"start_accuracy_samples": 1})
        if not self.cutoffs or any(cutoff < 1 for cutoff in self.cutoffs):
            raise ValueError(f"cutoffs must be positive token counts, got {self.cutoffs}.")

    def _check_thinking_budgets(self) -> None:
        budget, limit = self.rollout_thinking_budget, self.max_completion_length
        check_rollout_thinking_budget(budget, limit)
        if budget is not None and "alpha" not in self.methods:
            raise ValueError(
                f"rollout_thinking_budget trains the alpha models a second time, and methods {self.methods} has "
                "no 'alpha': add it to methods, or leave rollout_thinking_budget None."
            )
        budgets = self.eval_thinking_budgets
        if any(isinstance(b, bool) or not isinstance(b, int) or not 0 < b < limit for b in budgets):
            raise ValueError(
                f"eval_thinking_budgets must be positive token counts below max_completion_length={limit} (at or "
                f"above it nothing is forced), got {budgets}."
            )
        if len(set(budgets)) != len(budgets):
            raise ValueError(f"eval_thinking_budgets lists a budget twice ({budgets}): each is one evaluation.")


def demo_specs(settings: DemoSettings) -> list[ModelSpec]:
    """The RL models of a demo run: for 'alpha', one per normalization and alpha (with rollout_thinking_budget, each
    followed by its twin trained with budget-constrained rollouts); for 'adapt_think', one; with baselines, SFT and
    DPO after them."""
    specs = []
    if "alpha" in settings.methods:
        budget = settings.rollout_thinking_budget
        twins = {} if budget is None else {"rollout_thinking_budget": budget, "rollout_answer_cue": DEMO_ANSWER_CUE}
        for norm in settings.normalizations:
            for alpha in settings.alphas:
                specs += [alpha_spec(alpha, norm)] + ([alpha_spec(alpha, norm, **twins)] if twins else [])
    if "adapt_think" in settings.methods:
        specs.append(adapt_think_spec(settings.adapt_think_delta, settings.forced_no_think_share))
    if settings.baselines:
        specs += [
            ModelSpec(trainer="sft", learning_rate=settings.sft_learning_rate),
            ModelSpec(trainer="dpo", learning_rate=settings.dpo_learning_rate),
        ]
    return specs


def run_demo(run_dir: str | Path, settings: DemoSettings, start_model: Path | None = None) -> list[dict[str, Any]]:
    """Train the demo's models from the starting model (default: the shipped one of `settings.task`), evaluate them
    with it on the held-out problems (the starting model as eval/start/); returns the result rows
    (`efficient_trl.analysis.load_results` of the run directory, laid out as `engine` says). A rerun with the same
    settings resumes the run."""
    start = engine.start_model(settings.task, start_model)
    record = engine.settings_record(settings, start)
    for method, names in METHODS.items():  # the settings of a family not trained change nothing
        if method not in settings.methods:
            record = {key: value for key, value in record.items() if key not in names}
    if settings.methods == ["alpha"]:
        del record["methods"]
    for name, unused in LATER_SETTINGS.items():
        if record[name] == unused:
            del record[name]
    with engine.open_run(run_dir, record) as run_dir:
        _train_and_evaluate(run_dir, settings, start)
    return load_results(run_dir, cutoff_model="start", start="start")


def _model_job(run_dir: Path, settings: DemoSettings, start: Path, spec: ModelSpec | None) -> None:
    """One job of a demo run: train the RL model `spec` from the starting model and evaluate it (None: evaluate the
    starting model, with the generation-cutoff baseline from its samples, summary.json's cutoff_baseline)."""
    task, problems = settings.task, engine.held_out_problems(settings.task, settings)
    if spec is None:
        cutoffs = [int(cutoff) for cutoff in settings.cutoffs] if settings.baselines else []
        engine.evaluate_model(start, "start", problems, task, settings, run_dir, cutoffs)
        _evaluate_forced(start, "start", problems, settings, run_dir)
        return
    output_dir, data, record = run_dir / engine.model_dir_name(spec.name), None, None
    # adapt_think's prompts carry the starting model's accuracy on each (sampled unless the model is trained already)
    if spec.length_reward == "adapt_think" and not (output_dir / PROVENANCE_FILE).is_file():
        data, record = engine.start_accuracy_data(start, task, settings, run_dir, settings.start_accuracy_samples)
    path = engine.train_model(spec, start, task, settings, output_dir, data, record)
    engine.evaluate_model(path, spec.name, problems, task, settings, run_dir)
    _evaluate_forced(path, spec.name, problems, settings, run_dir)


def _evaluate_forced(model: Path, name: str, problems: Any, settings: DemoSettings, run_dir: Path) -> None:
    """Model `name` under budget forcing at each of `eval_thinking_budgets` (the forced `</think>` followed by
    `DEMO_ANSWER_CUE`), into eval/<name>_forced/budget-<N>/ (none when the setting is empty), without the cutoff
    baseline (the start's plain evaluation has it)."""
    if settings.eval_thinking_budgets:
        engine.evaluate_model(
            model, name, problems, settings.task, settings, run_dir, budgets=settings.eval_thinking_budgets,
            budget_mode="force", eval_name=f"{name}_forced", answer_cue=DEMO_ANSWER_CUE, cutoffs=(),
        )  # fmt: skip


def _train_and_evaluate(run_dir: Path, settings: DemoSettings, start: Path) -> None:
    task, problems = settings.task, engine.held_out_problems(settings.task, settings)
    specs = demo_specs(settings)
    # the RL models first: the starting model's evaluation is the shortest job, it fills a worker's gap
    jobs = [(run_dir, settings, start, spec) for spec in specs if spec.trainer == "grpo"]
    engine.run_jobs(_model_job, [*jobs, (run_dir, settings, start, None)], settings.workers)
    if not settings.baselines:
        return
    sft_data, dpo_data, report = engine.rejection_sample_start(start, task, settings, run_dir)
    source = f"rejection sampling of the starting model on {engine.rl_data_source(task)}"
    trained = []
    for spec, data in zip([spec for spec in specs if spec.trainer != "grpo"], (sft_data, dpo_data), strict=True):
        if len(data) == 0:
            raise ValueError(
                f"rejection sampling gave no {spec.name} data ({report}): the starting model answered no prompt "
                "correctly, so there is nothing to imitate."
            )
        record = {"dataset": source, "num_problems": len(data)}
        trained.append((spec.name, engine.train_model(spec, start, task, settings, run_dir / spec.name, data, record)))
    for name, path in trained:
        engine.evaluate_model(path, name, problems, task, settings, run_dir)
        _evaluate_forced(path, name, problems, settings, run_dir)


def write_demo_report(
    run_dir: Path, rows: list[dict[str, Any]], title: str = "CPU demo: accuracy against tokens"
) -> tuple[str, Any]:
    """The table (printed, and saved as results.md) and the trade-off plot (tradeoff.png) of a demo run's rows;
    returns the table and the figure. On a task with tiers (graded) the table is followed by the per-tier one
    (`format_tier_table`) and the per-tier plot goes to tradeoff_tiers.png (`plot_tiers`). Rows evaluated under
    budget forcing (eval_thinking_budgets) add accuracy and tokens at each budget beside each model's without one
    (`format_forced_budget_table`), overall and per tier, and forced_budgets.png (`plot_budget_adherence`)."""
    plain = [row for row in rows if row.get("budget") is None]
    forced = [row for row in rows if row.get("budget") is not None]
    table = format_tradeoff_table(plain, baseline="start")
    tiers = list(dict.fromkeys(tier for row in plain for tier in row.get("by_tier") or {}))
    if tiers:
        table += "\n\nPer tier (plot: tradeoff_tiers.png):\n\n" + format_tier_table(plain, start="start")
        plot_tiers(plain, run_dir / "tradeoff_tiers.png", title=f"{title}, per tier")
    if forced:
        table += (
            "\n\nUnder budget forcing: accuracy and mean tokens with at most N thinking tokens, then `</think>` and "
            "the answer (plot: forced_budgets.png):\n\n" + format_forced_budget_table([*plain, *forced])
        )
        for tier in tiers:
            table += f"\n\nUnder budget forcing, {tier}:\n\n" + format_forced_budget_table([*plain, *forced], tier)
        plot_budget_adherence(
            forced, run_dir / "forced_budgets.png", title=f"{title}, under budget forcing", tradeoff_rows=plain
        )
    (run_dir / "results.md").write_text(table + "\n")
    return table, plot_tradeoff(plain, run_dir / "tradeoff.png", title=title)


def main(argv: list[str] | None = None) -> None:
    engine.run_plan(
        "demo", DemoSettings, run_demo, lambda run_dir, rows: write_demo_report(run_dir, rows)[0],
        lambda settings: f"{settings.eval_problems} held-out problems x {settings.eval_k} samples per model",
        "plot: {run_dir}/tradeoff.png", __doc__, argv,
    )  # fmt: skip
