"""The budget demo: a model trained to follow a token budget written into its prompt (L1 / LCPO), from the sums
task's starting model, against budget forcing (s1) on the starting model and against the alpha family.

    efficient-trl budget-demo --alpha_run runs/my-sweep       # make budget-demo
    efficient-trl budget-demo --run_dir runs/my-budgets --eval_budgets 60 90 120

Two stages, since the ~1M-parameter model breaks on a budget sentence it never saw (README "Token budgets"):
1. Budget SFT with hindsight budgets: the starting model's own correct samples (one per training problem), each
   paired with its prompt asking for a budget drawn within `budget_spread` of that sample's own length
   (`budgets.budgets_near_lengths`): examples of following a budget, built from what the model already writes.
2. RL with an L1 reward (`l1_exact` or `l1_max`) on the demo's RL prompts, each asking for a budget drawn from
   `budget_range`: correctness and adherence together, over the whole range; twice from the same SFT model:
   `budget` (by the reward alone) and `budget_rollouts` (every training rollout also kept within its prompt's budget:
   thinking past it is cut, `</think>` + `DEMO_ANSWER_CUE` appended and masked from the loss, the answer sampled;
   `rollout_budget_column`). Both count L as the whole completion, in the reward and in evaluation, as L1 does; the
   forcing caps the thinking, so a forced rollout is the cue and answer longer than its budget.
The budget goes before the problem (`budget_template`): the sums model re-checks by reading the problem back from
the end of the prompt, where a budget's digits were read as terms. Every model is then evaluated on the same
held-out sums at each budget of `eval_budgets`: both stages with the budget in the prompt, the starting model with
budget forcing and plain. The alpha family comes from a demo run (`alpha_run`). Writes under a new run directory:
budget_sft_sampling/, budget_sft/, budget/, budget_rollouts/, eval/<model>/ per evaluation (eval/start/,
eval/start_forced/budget-<N>/, eval/budget_sft/budget-<N>/, eval/budget/budget-<N>/,
eval/budget_rollouts/budget-<N>/), results.md and budget_demo.png. A rerun resumes: trained models (provenance.json)
and finished evaluations (summary.json) are kept, so that a copy of a committed run (without weights or samples)
trains and evaluates only what it lacks (the SFT stage again where budget_rollouts still needs its weights).
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..analysis import budget_report, load_budget_results
from ..baselines import rejection_sampling_datasets
from ..budgets import budget_template, budgets_near_lengths, check_budget_range, with_budgets
from ..evaluation import evaluate_problems, load_samples
from ..length_rewards import resolve_length_reward
from ..provenance import PROVENANCE_FILE
from ..sampling import EvaluationSample, SamplingSettings
from ..synthetic import sum_problems
from . import engine
from .engine import DEMO_ANSWER_CUE, ModelSpec
from .progress import stage
from .settings import ExperimentSettings, check_positive, setting

__all__ = ["BUDGET_REWARDS", "BudgetDemoSettings", "budget_sft_prompts", "run_budget_demo", "write_budget_demo_report"]

BUDGET_REWARDS = ("l1_exact", "l1_max")
TASK = "sums"
# Stage 1's budgets come from another seed than the RL prompts' (settings.seed): two independent draws.
BUDGET_SFT_SEED_OFFSET = 1


@dataclass
class BudgetDemoSettings(ExperimentSettings):
    # the defaults this plan changes
    eval_problems: int = setting(500, "Held-out problems per evaluation (the first of the demo's 1,000).")
    # its own
    budget_range: list[int] = setting(
        [40, 140], "Training budgets [low, high] (uniform, both included): every length the sums model reaches."
    )
    eval_budgets: list[int] = setting(
        [50, 75, 100, 125], "Budgets N to evaluate at, each inside budget_range (evenly spaced: one check apart)."
    )
    budget_template: str = setting(
        "Think for {budget} tokens. {prompt}",
        "Budget sentence: 'exact', 'max' (L1's, after the problem) or your own with '{budget}' and '{prompt}' for the "
        "problem; the default puts L1's exact sentence first.",
    )
    length_reward: str = setting("l1_exact", f"L1 reward of the RL stage, one of {list(BUDGET_REWARDS)}.")
    a: float = setting(
        0.01, "The L1 reward's a (per token; L1's 0.0003 is for budgets about 30 times the demo's, so 0.01 here)."
    )
    sft_problems: int = setting(1920, "Training problems of the budget SFT (one sample each; the first are the RL's).")
    budget_spread: float = setting(
        0.1, "Budget SFT: each sample's prompt asks for a budget drawn within this share of the sample's own length."
    )
    sft_temperature: float = setting(1.0, "Sampling temperature of the budget SFT's samples (RL's: 1).")
    sft_epochs: float = setting(5.0, "Epochs of the budget SFT.")
    sft_learning_rate: float = setting(3e-4, "Learning rate of the budget SFT (constant).")
    alpha_run: str = setting(
        "",
        "A demo run directory (efficient-trl demo) whose alpha models join the plot and table (the repository's "
        "committed `make sweep` run: notebooks/demo_runs/sweep); '' for none.",
    )

    def __post_init__(self) -> None:
        low, high = check_budget_range(self.budget_range)
        if not self.eval_budgets or len(set(self.eval_budgets)) != len(self.eval_budgets):
            raise ValueError(f"eval_budgets must be distinct token counts, got {self.eval_budgets}.")
        outside = [budget for budget in self.eval_budgets if not low <= budget <= high]
        if outside:
            raise ValueError(
                f"eval_budgets {outside} lie outside budget_range [{low}, {high}]: the model is only trained for "
                "budgets inside it; widen budget_range or pick budgets inside it."
            )
        if high > self.max_completion_length:
            raise ValueError(
                f"budget_range reaches {high} tokens, past max_completion_length {self.max_completion_length}: "
                "raise max_completion_length or lower the range."
            )
        if self.length_reward not in BUDGET_REWARDS:
            raise ValueError(f"length_reward must be one of {list(BUDGET_REWARDS)}, got {self.length_reward!r}.")
        resolve_length_reward(self.length_reward, {"a": self.a}, alpha=0.0)  # a bad `a` fails here
        budget_template(self.budget_template)
        budgets_near_lengths([], self.budget_spread)  # a bad spread fails here
        check_positive(self, ("sft_problems", "sft_temperature", "sft_epochs", "sft_learning_rate"))
        if self.alpha_run and not (Path(self.alpha_run) / "eval").is_dir():
            raise FileNotFoundError(
                f"alpha_run {self.alpha_run} is not a demo run directory (no eval/ in it): give one written by "
                "efficient-trl demo, or '' to leave the alpha family out."
            )
        super().__post_init__()

    def budget_model(self, rollout_budgets: bool = False) -> ModelSpec:
        """Stage 2: RL with the L1 reward, its prompts asking for budgets from `budget_range`; with
        `rollout_budgets`, each training rollout is also kept within its prompt's budget (budget forcing of the
        thinking, `rollout_budget_column`): the model "budget_rollouts"."""
        return ModelSpec(
            self.length_reward, {"a": self.a}, budget_range=tuple(self.budget_range),
            budget_template=self.budget_template, rollout_budgets=rollout_budgets,
            rollout_answer_cue=DEMO_ANSWER_CUE if rollout_budgets else None,
            label="budget_rollouts" if rollout_budgets else "budget",
        )  # fmt: skip


def budget_sft_prompts(
    problems: Any, samples: list[EvaluationSample], settings: BudgetDemoSettings
) -> tuple[list[Any], dict[str, Any]]:
    """Stage 1's prompts, one per problem of `problems`: each asks (with `settings.budget_template`) for a budget drawn
    within `settings.budget_spread` of the length of the problem's one sample in `samples`
    (`budgets.budgets_near_lengths`); and what provenance records of them."""
    lengths = {sample.problem_index: sample.num_tokens for sample in samples}
    if len(samples) != len(problems) or sorted(lengths) != list(range(len(problems))):
        raise ValueError(f"expected one sample per problem ({len(problems)}), got {len(samples)} samples.")
    budgets = budgets_near_lengths(
        [lengths[index] for index in range(len(problems))], settings.budget_spread,
        seed=settings.seed + BUDGET_SFT_SEED_OFFSET,
    )  # fmt: skip
    prompts = with_budgets(problems, budgets, settings.budget_template)["prompt"]
    return prompts, {"budget_template": settings.budget_template, "budget_spread": settings.budget_spread}


def build_budget_sft_model(start: Path, settings: BudgetDemoSettings, run_dir: Path) -> Path:
    """Stage 1: SFT of `start` on its own correct samples of training problems (one each, into
    run_dir/budget_sft_sampling), each paired with its problem's prompt asking for a budget near the sample's length
    (`budget_sft_prompts`); the model goes to run_dir/budget_sft. Returns its directory."""
    from transformers import AutoTokenizer

    problems = sum_problems(settings.sft_problems, seed=engine.RL_SEED)
    # one sample per problem: its length is the starting model's own, not the shortest of several (which SFT would
    # then learn to prefer: the demo's SFT baseline halves the tokens)
    sampling = SamplingSettings(
        k=1, temperature=settings.sft_temperature, max_new_tokens=settings.max_completion_length, seed=settings.seed
    )
    samples_dir = run_dir / "budget_sft_sampling"
    stage(f"sampling the starting model once on {len(problems)} {TASK} training problems (the budget SFT's data)")
    evaluate_problems(
        str(start), problems, samples_dir, sampling, dataset=f"train {TASK}", prompt_template=engine.PROMPT_TEMPLATE,
        backend="transformers", batch_size=engine.SAMPLING_BATCH_SIZE, device="cpu",
    )  # fmt: skip
    samples = load_samples(samples_dir)
    prompts, budget_record = budget_sft_prompts(problems, samples, settings)
    data, _, report = rejection_sampling_datasets(prompts, samples, AutoTokenizer.from_pretrained(start))
    engine.write_json(run_dir / "budget_sft_sampling_report.json", report)
    if len(data) == 0:
        raise ValueError(f"the starting model answered no training problem correctly ({report}): nothing to imitate.")
    source = (
        f"the starting model's correct samples (k=1, temperature {settings.sft_temperature:g}) on "
        f"{engine.rl_data_source(TASK)}"
    )
    spec = ModelSpec(trainer="sft", learning_rate=settings.sft_learning_rate, epochs=settings.sft_epochs)
    record = {"dataset": source, "num_problems": len(data), **budget_record}
    return engine.train_model(spec, start, TASK, settings, run_dir / "budget_sft", data, record)


def run_budget_demo(
    run_dir: str | Path, settings: BudgetDemoSettings, start_model: Path | None = None
) -> list[dict[str, Any]]:
    """Build the budget SFT stage, RL-train the budget model, evaluate everything (see the module docstring);
    returns the result rows: this run's and the alpha models of `settings.alpha_run` (`analysis.load_budget_results`).
    A rerun with the same settings resumes the run.
    """
    start = engine.start_model(TASK, start_model)
    with engine.open_run(run_dir, engine.settings_record(settings, start)) as run_dir:
        rollouts_dir = run_dir / "budget_rollouts"
        if not (rollouts_dir / PROVENANCE_FILE).is_file() and not _has_weights(run_dir / "budget_sft"):
            # a copy of a committed run (kept without weights): stage 1 again, the same for the same settings
            shutil.rmtree(run_dir / "budget_sft", ignore_errors=True)
        budget_sft = build_budget_sft_model(start, settings, run_dir)
        budget_model = engine.train_model(settings.budget_model(), budget_sft, TASK, settings, run_dir / "budget")
        rollouts_model = engine.train_model(
            settings.budget_model(rollout_budgets=True), budget_sft, TASK, settings, rollouts_dir
        )
        problems = engine.held_out_problems(TASK, settings)
        if not _evaluated(run_dir / "eval" / "start", [None]):
            engine.evaluate_model(start, "start", problems, TASK, settings, run_dir)
        evaluations = (
            ("start", start, "force", "start_forced"), ("budget_sft", budget_sft, "prompt", "budget_sft"),
            ("budget", budget_model, "prompt", "budget"),
            ("budget_rollouts", rollouts_model, "prompt", "budget_rollouts"),
        )  # fmt: skip
        for name, model, mode, directory in evaluations:
            if _evaluated(run_dir / "eval" / directory, settings.eval_budgets):
                stage(f"keeping eval/{directory}: evaluated by an earlier launch")
                continue
            engine.evaluate_model(
                model, name, problems, TASK, settings, run_dir, budgets=settings.eval_budgets, budget_mode=mode,
                budget_template=settings.budget_template, eval_name=directory,
            )  # fmt: skip
    return load_budget_results(run_dir, settings.alpha_run)


def _has_weights(model_dir: Path) -> bool:
    return any(model_dir.glob("*.safetensors"))


def _evaluated(eval_dir: Path, budgets: list[int | None]) -> bool:
    """Whether an evaluation finished in an earlier launch (its summary.json, at each budget, written last): kept as
    it is, so that a run copied without weights and samples (a committed run) resumes too."""
    return all(
        (eval_dir / ("" if budget is None else f"budget-{budget}") / "summary.json").is_file() for budget in budgets
    )


def write_budget_demo_report(run_dir: Path, rows: list[dict[str, Any]]) -> tuple[str, Any]:
    """The table (printed, and saved as results.md) and the figure (budget_demo.png: accuracy against tokens with
    every model, then accuracy and tokens against the budget) of a budget demo run's rows; returns both."""
    table, figure = budget_report(rows, run_dir / "budget_demo.png", title="CPU demo: token budgets")
    (run_dir / "results.md").write_text(table + "\n")
    return table, figure


def main(argv: list[str] | None = None) -> None:
    engine.run_plan(
        "budget-demo", BudgetDemoSettings, run_budget_demo,
        lambda run_dir, rows: write_budget_demo_report(run_dir, rows)[0],
        lambda settings: f"{settings.eval_problems} held-out problems per evaluation",
        "plot: {run_dir}/budget_demo.png", __doc__, argv,
    )  # fmt: skip
