"""The budget demo: one model trained to follow a token budget written into its prompt (L1 / LCPO), from the CPU
demo's starting model, against budget forcing (s1) on the starting model and against the alpha family.

L1 starts RL from a model that never saw a budget sentence; the demo's ~1M-parameter sums model breaks on one (text
it was never fine-tuned on: about 7% training accuracy with L1-Exact straight from it), and RL from a model that
only learned to read past the sentence (SFT on budgets drawn independently of the completions) settled on one
length for every budget (measured; README "Token budgets"). So there are two stages:

1. Budget SFT with hindsight budgets: the starting model's own correct samples (one per training problem, at
   temperature 1), each paired with its prompt asking for a budget drawn within `budget_spread` of that sample's
   own length (`budgets.budgets_near_lengths`): examples of following a budget, built from what the model already
   writes. Its adherence and accuracy by budget are evaluated and reported beside the others.
2. RL with an L1 reward (`l1_exact` or `l1_max`) on the demo's RL prompts, each asking for a budget drawn from
   `budget_range` (`demo.train_with_alpha` with `budget_range`, recorded in provenance.json): correctness and
   adherence at once, at budgets of the whole range rather than the lengths stage 1 saw.

The budget goes before the problem ("Think for N tokens. 3+5+2+8", `budget_template`), not after it as L1 writes it:
the sums model re-checks by reading the problem backwards from the end of the prompt, and a budget's digits after
the problem were read as terms (measured on the same stage 1: 89-95% accuracy appended, 90-98% first).

Then every model is evaluated on the same held-out sums at each budget of `eval_budgets`: the budget model and stage
1 with the budget in the prompt, the starting model with budget forcing (`evaluation.evaluate_problems_by_budget`),
and the starting model plain (`demo.evaluate_model`); the alpha family comes from an existing demo run (`alpha_run`,
by default the committed `make sweep` run). `recipes/budget_demo.py` is the command-line front end
(`make budget-demo`).
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .analysis import budget_report, load_budget_results
from .baselines import rejection_sampling_datasets
from .budgets import budget_template, budgets_near_lengths, check_budget_range, with_budgets
from .demo import (
    DEMO_DATASET,
    DEMO_MODEL_DIR,
    DEMO_PROMPT_TEMPLATE,
    EVAL_BATCH_SIZE,
    EVAL_SEED,
    REJECTION_SAMPLING_BATCH_SIZE,
    RL_SEED,
    DemoSettings,
    baseline_config,
    eval_dir,
    eval_sampling,
    evaluate_model,
    train_with_alpha,
)
from .evaluation import (
    EvaluationSample,
    SamplingSettings,
    evaluate_problems,
    evaluate_problems_by_budget,
    load_samples,
)
from .length_rewards import resolve_length_reward
from .provenance import training_provenance
from .rundir import check_new_output_dir
from .synthetic import sum_problems
from .training import train_and_save

__all__ = [
    "BUDGET_REWARDS",
    "BudgetDemoRunArguments",
    "BudgetDemoSettings",
    "budget_sft_prompts",
    "build_budget_sft_model",
    "run_budget_demo",
    "write_budget_demo_report",
]

BUDGET_REWARDS = ("l1_exact", "l1_max")
# Stage 1's budgets come from another seed than the RL prompts' (settings.seed): two independent draws.
BUDGET_SFT_SEED_OFFSET = 1
BUDGET_SFT_DATA = f"efficient_trl.synthetic.sum_problems(seed={RL_SEED}, split='train')"
# The budget before the problem (see the module docstring); L1's sentence otherwise.
DEMO_BUDGET_TEMPLATE = "Think for {budget} tokens. {prompt}"
COMMITTED_ALPHA_RUN = DEMO_MODEL_DIR.parent.parent / "notebooks" / "demo_runs" / "sweep"


def _setting(default: Any, help: str) -> Any:
    if isinstance(default, list):
        return field(default_factory=lambda: list(default), metadata={"help": help})
    return field(default=default, metadata={"help": help})


@dataclass
class BudgetDemoSettings:
    budget_range: list[int] = _setting(
        [40, 140],
        "Training budgets [low, high] (uniform, both included): the sums model's completions are 43-50 (no check), "
        "67-78, 95-110 or 115-136 tokens (1-3 checks), so this spans every reachable length.",
    )
    eval_budgets: list[int] = _setting(
        [50, 75, 100, 125], "Budgets N to evaluate at, each inside budget_range (evenly spaced: one check apart)."
    )
    budget_template: str = _setting(
        DEMO_BUDGET_TEMPLATE,
        "Budget sentence: 'exact', 'max' (L1's, after the problem) or your own with '{budget}' and '{prompt}' for the "
        "problem; the default puts L1's exact sentence first: the sums model re-checks reading back from the prompt's "
        "end, where a budget's digits were taken for terms.",
    )
    length_reward: str = _setting("l1_exact", f"L1 reward of the RL stage, one of {list(BUDGET_REWARDS)}.")
    a: float = _setting(
        0.01,
        "The L1 reward's a (per token): L1's 0.0003 is for budgets of 100-4000 tokens; at the demo's 40-140 (about "
        "30 times smaller) 0.01 makes a miss by one check (~28 tokens) cost 0.28, as ~1000 tokens do in L1.",
    )
    sft_problems: int = _setting(
        1920, "Training problems of the budget SFT (one sample each; the first are the RL prompts)."
    )
    budget_spread: float = _setting(
        0.1, "Budget SFT: each sample's prompt asks for a budget drawn within this share of the sample's own length."
    )
    sft_temperature: float = _setting(1.0, "Sampling temperature of the budget SFT's samples (RL's: 1).")
    sft_epochs: float = _setting(
        5.0, "Epochs of the budget SFT (on held-out problems, one did not follow budgets and three not every seed)."
    )
    sft_learning_rate: float = _setting(3e-4, "Learning rate of the budget SFT (constant; 1e-4 did not follow).")
    steps: int = _setting(60, "RL optimizer steps.")
    prompts_per_step: int = _setting(8, "Prompts per RL step (each gets num_generations completions).")
    num_generations: int = _setting(8, "Completions per prompt (G).")
    learning_rate: float = _setting(5e-5, "RL learning rate (constant).")
    beta: float = _setting(1e-3, "KL coefficient.")
    max_completion_length: int = _setting(160, "Token limit for sampling, training and evaluation completions.")
    eval_problems: int = _setting(500, "Held-out problems per evaluation (the first of the demo's 1,000).")
    eval_temperature: float = _setting(0.6, "Sampling temperature for evaluation (the demo's).")
    seed: int = _setting(0, "Seed of sampling, training and the budgets drawn.")
    alpha_run: str = _setting(
        str(COMMITTED_ALPHA_RUN),
        "A demo run directory (recipes/demo.py) whose alpha models join the plot and table; default: the committed "
        "`make sweep` run (notebooks/demo_runs/sweep); '' for none.",
    )

    def __post_init__(self) -> None:
        # Everything checked before the first model trains: a late failure would leave a half-written run.
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
        for name in ("sft_problems", "sft_temperature", "sft_epochs", "sft_learning_rate"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)}.")
        if self.alpha_run and not (Path(self.alpha_run) / "eval").is_dir():
            raise FileNotFoundError(
                f"alpha_run {self.alpha_run} is not a demo run directory (no eval/ in it): give one written by "
                "recipes/demo.py, or '' to leave the alpha family out."
            )
        self.demo_settings()  # the RL and evaluation settings' own checks

    def demo_settings(self) -> DemoSettings:
        """The demo's settings for the RL stage and the evaluations (the sums task, these steps and sizes)."""
        return DemoSettings(
            task="sums", alphas=[0.0], steps=self.steps, prompts_per_step=self.prompts_per_step,
            num_generations=self.num_generations, learning_rate=self.learning_rate, beta=self.beta,
            max_completion_length=self.max_completion_length, eval_problems=self.eval_problems, eval_k=1,
            eval_temperature=self.eval_temperature, seed=self.seed, sft_learning_rate=self.sft_learning_rate,
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


def build_budget_sft_model(start_model: Path, settings: BudgetDemoSettings, run_dir: Path) -> Path:
    """Stage 1: SFT of `start_model` on its own correct samples of training problems (one each, at temperature 1, into
    run_dir/budget_sft_sampling), each paired with its problem's prompt asking for a budget near the sample's length
    (`budget_sft_prompts`); the model goes to run_dir/budget_sft. Returns its directory."""
    from transformers import AutoTokenizer
    from trl import SFTTrainer

    demo_settings = settings.demo_settings()
    problems = sum_problems(settings.sft_problems, seed=RL_SEED)
    # one sample per problem: its length is the starting model's own, not the shortest of several (which SFT would
    # then learn to prefer: the demo's SFT baseline halves the tokens)
    sampling = SamplingSettings(
        k=1, temperature=settings.sft_temperature, max_new_tokens=settings.max_completion_length, seed=settings.seed
    )
    samples_dir = run_dir / "budget_sft_sampling"
    evaluate_problems(
        str(start_model), problems, samples_dir, sampling, dataset="train sums", prompt_template=DEMO_PROMPT_TEMPLATE,
        backend="transformers", batch_size=REJECTION_SAMPLING_BATCH_SIZE, device="cpu",
    )  # fmt: skip
    samples = load_samples(samples_dir)
    prompts, budget_data = budget_sft_prompts(problems, samples, settings)
    data, _, report = rejection_sampling_datasets(prompts, samples, AutoTokenizer.from_pretrained(start_model))
    (run_dir / "budget_sft_sampling_report.json").write_text(json.dumps(report, indent=1))
    if len(data) == 0:
        raise ValueError(f"the starting model answered no training problem correctly ({report}): nothing to imitate.")
    output_dir = run_dir / "budget_sft"
    args = baseline_config("sft", demo_settings, output_dir, epochs=settings.sft_epochs)
    trainer = SFTTrainer(model=str(start_model), args=args, train_dataset=data)
    temperature = settings.sft_temperature
    source = f"the starting model's correct samples (k=1, temperature {temperature:g}) on {BUDGET_SFT_DATA}"
    provenance = training_provenance(
        "sft", args, str(start_model), {"dataset": source, "num_problems": len(data), **budget_data}
    )
    return train_and_save(trainer, output_dir, provenance)


def run_budget_demo(
    run_dir: Path, settings: BudgetDemoSettings, start_model: Path | None = None
) -> list[dict[str, Any]]:
    """Build the budget SFT stage, RL-train the budget model, evaluate everything (see the module docstring);
    returns the result rows: this run's and the alpha models of `settings.alpha_run` (`analysis.load_budget_results`).

    Lays out `run_dir` as the demo does: settings.json, budget_sft_sampling/ (stage 1's samples), budget_sft/ and
    budget/ (the two trained models), and eval/<model>/ per evaluation: eval/start/ (plain),
    eval/start_forced/budget-<N>/, eval/budget_sft/budget-<N>/ and eval/budget/budget-<N>/.
    """
    start_model = DEMO_MODEL_DIR if start_model is None else Path(start_model)
    if not (start_model / "config.json").exists():
        raise FileNotFoundError(f"no model at {start_model} (expected the demo's: {DEMO_MODEL_DIR}).")
    check_new_output_dir(run_dir, option="run directory (--run_dir)")
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "settings.json").write_text(json.dumps(asdict(settings), indent=1))
    demo_settings = settings.demo_settings()

    budget_sft = build_budget_sft_model(start_model, settings, run_dir)
    budget_model = train_with_alpha(
        budget_sft, 0.0, demo_settings, run_dir / "budget", length_reward=settings.length_reward,
        length_reward_kwargs={"a": settings.a}, budget_range=settings.budget_range,
        budget_template=settings.budget_template,
    )  # fmt: skip

    problems = sum_problems(settings.eval_problems, seed=EVAL_SEED, split="held_out")
    evaluate_model(start_model, "start", problems, demo_settings, run_dir, cutoffs=())
    sampling = eval_sampling(demo_settings)
    for name, model, mode in (("start", start_model, "force"), ("budget_sft", budget_sft, "prompt"),
                              ("budget", budget_model, "prompt")):  # fmt: skip
        evaluate_problems_by_budget(
            str(model), problems, eval_dir(run_dir, "start_forced" if mode == "force" else name), sampling,
            list(settings.eval_budgets), mode=mode, template=settings.budget_template, dataset=DEMO_DATASET,
            prompt_template=DEMO_PROMPT_TEMPLATE, backend="transformers", batch_size=EVAL_BATCH_SIZE, device="cpu",
            name=name,
        )  # fmt: skip
    return load_budget_results(run_dir, settings.alpha_run)


def write_budget_demo_report(run_dir: Path, rows: list[dict[str, Any]]) -> tuple[str, Any]:
    """The table (printed, and saved as results.md) and the figure (budget_demo.png: accuracy against tokens with
    every model, then accuracy and tokens against the budget) of a budget demo run's rows (`analysis.budget_report`);
    returns both."""
    table, figure = budget_report(rows, run_dir / "budget_demo.png", title="CPU demo: token budgets")
    (run_dir / "results.md").write_text(table + "\n")
    return table, figure


@dataclass
class BudgetDemoRunArguments:
    """Where recipes/budget_demo.py writes its run; parsed beside `BudgetDemoSettings`."""

    run_dir: str = field(
        default_factory=lambda: f"runs/budget-demo-{time.strftime('%Y%m%d-%H%M%S')}",
        metadata={"help": "A new directory for the run (by default time-stamped; an existing one is refused)."},
    )
