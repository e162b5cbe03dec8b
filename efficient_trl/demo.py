"""The CPU demo: shorten an overthinking model's reasoning with the length penalty, and measure what it costs.

Starting from the shipped demo model (a ~1M-parameter Qwen2 that adds four digits and re-checks its work 0-3
times, see `efficient_trl.synthetic`), train `EfficientGRPOTrainer` once per alpha with the same seed and steps,
then evaluate every model on the same held-out problems: accuracy, mean completion tokens, and the change against
the starting model. `recipes/demo.py` is the command-line front end (`make demo`, `make sweep`).
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .analysis import format_tradeoff_table, load_results, plot_tradeoff
from .baselines import rejection_sample
from .budgets import with_sampled_budgets
from .configs import EfficientGRPOConfig
from .data import check_new_output_dir
from .evaluation import SamplingSettings, evaluate_problems
from .provenance import model_fingerprint, read_provenance, training_provenance, write_provenance
from .rewards import ADVANTAGE_NORMALIZATIONS
from .synthetic import TASKS
from .trainers import EfficientGRPOTrainer
from .training import CPU_TRAINING_KWARGS, train_and_save

__all__ = [
    "DEMO_DATASET",
    "DEMO_MODEL_DIR",
    "DEMO_MODEL_DIRS",
    "DemoModelArguments",
    "DemoRunArguments",
    "DemoSettings",
    "baseline_config",
    "convert_legacy_demo_run",
    "eval_sampling",
    "eval_dir",
    "evaluate_model",
    "model_dir_name",
    "model_name",
    "rl_config",
    "run_demo",
    "train_baselines",
    "train_with_alpha",
    "write_demo_report",
]

DEMO_MODEL_DIR = Path(__file__).resolve().parent / "demo_model"
# Each demo task's shipped starting model (recipes/build_demo_model.py --task <name> rebuilds it)
DEMO_MODEL_DIRS = {
    "sums": DEMO_MODEL_DIR,
    "multi_sums": DEMO_MODEL_DIR.with_name("demo_model_multi_sums"),
    "graded": DEMO_MODEL_DIR.with_name("demo_model_graded"),
}
RL_SEED, EVAL_SEED = 2, 3  # RL prompts come from the train split, evaluation problems from the held-out one
DEMO_DATASET = "held-out sums"  # the `dataset` of every demo result row ("held-out <task>" for the other tasks)
# What the demo's models were trained on, as their provenance.json records it
RL_DATA = f"efficient_trl.synthetic.sum_problems(seed={RL_SEED}, split='train')"
BASELINE_DATA = f"rejection sampling of the starting model on {RL_DATA}"
DEMO_PROMPT_TEMPLATE = "{problem}"  # the demo's user turn is the bare sum
# Generation batch sizes: evaluation and rejection sampling (fixed: they set the sampled numbers of the demo table)
EVAL_BATCH_SIZE, REJECTION_SAMPLING_BATCH_SIZE = 250, 256


def _setting(default: Any, help: str) -> Any:
    if isinstance(default, list):
        return field(default_factory=lambda: list(default), metadata={"help": help})
    return field(default=default, metadata={"help": help})


@dataclass
class DemoSettings:
    task: str = _setting(
        "sums",
        f"Demo task, one of {list(TASKS)}: 'sums' adds four digits, 'multi_sums' 2 to 6 distinct ones (where cutting "
        "steps costs accuracy); picks the problems and the shipped starting model.",
    )
    alphas: list[float] = _setting([0.0, 0.2], "Length-penalty alphas to train, one model each.")
    normalizations: list[str] = _setting(
        ["none"],
        "Advantage normalizations to train at every alpha: 'none' (the method), 'group' or 'batch' (the ablation).",
    )
    steps: int = _setting(60, "RL optimizer steps per model.")
    prompts_per_step: int = _setting(8, "Prompts per RL step (each gets num_generations completions).")
    num_generations: int = _setting(8, "Completions per prompt (G).")
    learning_rate: float = _setting(5e-5, "RL learning rate (constant).")
    beta: float = _setting(1e-3, "KL coefficient.")
    max_completion_length: int = _setting(160, "Token limit for training and evaluation completions.")
    logging_steps: int = _setting(5, "Log training metrics (accuracy, lengths, penalty) every this many steps.")
    eval_problems: int = _setting(1000, "Held-out problems every model is evaluated on.")
    eval_k: int = _setting(1, "Samples per held-out problem (average pass@k).")
    eval_temperature: float = _setting(0.6, "Sampling temperature for evaluation.")
    seed: int = _setting(0, "Seed for training and evaluation sampling.")
    baselines: bool = _setting(False, "Also the generation cutoff, and SFT and DPO on rejection-sampled data.")
    cutoffs: list[float] = _setting([40, 60, 80], "Token limits for the generation-cutoff baseline.")
    sft_learning_rate: float = _setting(1e-4, "Learning rate of the SFT baseline.")
    # 1e-4 collapsed the demo model (1% accuracy, rambling past the token limit)
    dpo_learning_rate: float = _setting(1e-5, "Learning rate of the DPO baseline.")

    def __post_init__(self) -> None:
        # Everything checked here, before the first model trains: a late failure would leave a half-written run.
        if self.task not in TASKS:
            raise ValueError(f"task must be one of {list(TASKS)}, got {self.task!r}.")
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
        at_least = {
            "steps": 1, "prompts_per_step": 1, "num_generations": 2, "max_completion_length": 1, "logging_steps": 1,
            "eval_problems": 1, "eval_k": 1,
        }  # fmt: skip
        for name, minimum in at_least.items():
            if getattr(self, name) < minimum:
                raise ValueError(f"{name} must be >= {minimum}, got {getattr(self, name)}.")
        positive = ("learning_rate", "eval_temperature", "sft_learning_rate", "dpo_learning_rate")
        for name in positive:
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)}.")
        if self.beta < 0:
            raise ValueError(f"beta must be >= 0 (0: no KL term), got {self.beta}.")
        if not self.cutoffs or any(cutoff < 1 for cutoff in self.cutoffs):
            raise ValueError(f"cutoffs must be positive token counts, got {self.cutoffs}.")


def model_name(alpha: float, normalization: str = "none") -> str:
    """A trained demo model's name in results: 'alpha=0.2', or 'alpha=0.2,norm=group' for the ablation."""
    return f"alpha={alpha:g}" if normalization == "none" else f"alpha={alpha:g},norm={normalization}"


def rl_config(
    alpha: float,
    settings: DemoSettings,
    output_dir: Path,
    normalization: str = "none",
    length_reward: str = "sigmoid",
    length_reward_kwargs: dict[str, Any] | None = None,
) -> Any:
    """The demo's RL training arguments at one alpha (of the paper's reward) or with another entry of
    `efficient_trl.LENGTH_REWARDS` (`length_reward`, `length_reward_kwargs`; alpha is then unused)."""
    return EfficientGRPOConfig(
        output_dir=str(output_dir),
        **CPU_TRAINING_KWARGS,
        length_penalty_alpha=alpha,
        length_reward=length_reward,
        length_reward_kwargs=length_reward_kwargs,
        advantage_normalization=normalization,
        num_generations=settings.num_generations,
        per_device_train_batch_size=settings.prompts_per_step * settings.num_generations,
        max_steps=settings.steps,
        learning_rate=settings.learning_rate,
        lr_scheduler_type="constant",
        beta=settings.beta,
        loss_type="grpo",
        temperature=1.0,
        max_completion_length=settings.max_completion_length,
        logging_steps=settings.logging_steps,
        seed=settings.seed,
    )


def train_with_alpha(
    model_path: str | Path,
    alpha: float,
    settings: DemoSettings,
    output_dir: Path,
    normalization: str = "none",
    length_reward: str = "sigmoid",
    length_reward_kwargs: dict[str, Any] | None = None,
    budget_range: list[int] | None = None,
    budget_template: str = "exact",
) -> Path:
    """RL from `model_path` at one alpha (or with another length reward, see `rl_config`) on the task's training
    prompts; returns the directory of the trained model, with its trainer_state.json (the training log) and
    provenance.json. With `budget_range`, each prompt asks for a token budget drawn from it with the run's seed
    (`budgets.with_sampled_budgets`, written with `budget_template`), for the L1 rewards."""
    args = rl_config(alpha, settings, output_dir, normalization, length_reward, length_reward_kwargs)
    prompts = _rl_prompts(settings)
    data = {"dataset": _rl_data(settings), "num_problems": len(prompts), "prompt_template": None}
    if budget_range is not None:
        prompts, budget_data = with_sampled_budgets(prompts, budget_range, budget_template, seed=settings.seed)
        data.update(budget_data)
    trainer = EfficientGRPOTrainer(model=str(model_path), args=args, train_dataset=prompts)
    return train_and_save(trainer, output_dir, training_provenance("grpo", args, str(model_path), data))


def _rl_prompts(settings: DemoSettings) -> Any:
    """The RL training prompts, which rejection sampling for the baselines samples too."""
    return TASKS[settings.task](settings.steps * settings.prompts_per_step, seed=RL_SEED)


def _rl_data(settings: DemoSettings) -> str:
    """How the RL prompts were made, as provenance.json records it."""
    return RL_DATA if settings.task == "sums" else f"efficient_trl.synthetic.TASKS[{settings.task!r}](seed={RL_SEED})"


def _held_out_name(settings: DemoSettings) -> str:
    """The `dataset` of the demo's result rows: the held-out problems of its task."""
    return DEMO_DATASET if settings.task == "sums" else f"held-out {settings.task}"


def eval_sampling(settings: DemoSettings) -> SamplingSettings:
    """How the demo samples its held-out evaluations (`evaluate_model`, and the budget demo's by budget)."""
    return SamplingSettings(
        k=settings.eval_k,
        temperature=settings.eval_temperature,
        max_new_tokens=settings.max_completion_length,
        seed=settings.seed,
    )


def evaluate_model(
    model_path: str | Path, name: str, problems: Any, settings: DemoSettings, run_dir: Path, cutoffs: tuple[int, ...]
) -> dict[str, Any]:
    """Evaluate the demo's model `name` on `problems` (the held-out sums) into run_dir/eval/<name>/, as evaluation
    lays out a run (`evaluation.evaluate_problems`: settings.json, samples.jsonl, summary.json with the model's
    provenance and the generation cutoff baseline at `cutoffs`); returns the summary."""
    return evaluate_problems(
        str(model_path), problems, eval_dir(run_dir, name), eval_sampling(settings), dataset=_held_out_name(settings),
        prompt_template=DEMO_PROMPT_TEMPLATE, backend="transformers", batch_size=EVAL_BATCH_SIZE, cutoffs=cutoffs,
        device="cpu",  # a CPU demo: the same numbers on a machine with a GPU
        name=name,
    )  # fmt: skip


def run_demo(run_dir: Path, settings: DemoSettings, start_model: Path | None = None) -> list[dict[str, Any]]:
    """Train one model per alpha and evaluate them with the starting model (default: the shipped one of
    `settings.task`); returns the result rows (`efficient_trl.analysis.load_results` of the run directory).

    Lays out `run_dir` as evaluation does: settings.json (the demo's settings), one directory per trained model
    (weights, trainer_state.json, provenance.json) and eval/<model>/ per evaluated model (settings.json,
    samples.jsonl, summary.json with the model's provenance); the starting model is evaluated into eval/start/.
    """
    start_model = DEMO_MODEL_DIRS[settings.task] if start_model is None else start_model
    if not (start_model / "config.json").exists():
        raise FileNotFoundError(
            f"no demo model at {start_model}; rebuild it with `python recipes/build_demo_model.py --output_dir "
            f"{start_model} --task {settings.task}`."
        )
    check_new_output_dir(run_dir, option="run directory (--run_dir)")
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "settings.json").write_text(json.dumps(asdict(settings), indent=1))
    problems = TASKS[settings.task](settings.eval_problems, seed=EVAL_SEED, split="held_out")
    models = [("start", start_model)]
    for normalization in settings.normalizations:
        for alpha in settings.alphas:
            name = model_name(alpha, normalization)
            models.append(
                (name, train_with_alpha(start_model, alpha, settings, run_dir / model_dir_name(name), normalization))
            )
    # the generation-cutoff baseline comes from the starting model's samples (summary.json's cutoff_baseline)
    cutoffs = tuple(int(cutoff) for cutoff in settings.cutoffs) if settings.baselines else ()
    for name, path in models:
        evaluate_model(path, name, problems, settings, run_dir, cutoffs if name == "start" else ())
    if settings.baselines:
        for name, path, _ in train_baselines(start_model, settings, run_dir):
            evaluate_model(path, name, problems, settings, run_dir, ())
    return load_results(run_dir, cutoff_model="start", start="start")


def _evaluation_settings(
    name: str, model_path: Path, run_dir: Path, settings: DemoSettings, num_problems: int, fingerprint: str | None
) -> dict[str, Any]:
    """An old demo run's evaluation settings.json (for `convert_legacy_demo_run`), as evaluation writes it."""
    return {
        "name": name, "model": _recorded_path(model_path, run_dir), "model_fingerprint": fingerprint,
        "dataset": DEMO_DATASET, "num_problems": num_problems, "k": settings.eval_k,
        "temperature": settings.eval_temperature, "max_new_tokens": settings.max_completion_length,
        "seed": settings.seed, "backend": "transformers", "prompt_template": None,
    }  # fmt: skip


def _recorded_path(model_path: Path, run_dir: Path) -> str:
    """How a demo run records a model: relative to the run directory (or, for the shipped demo model, to the
    package's parent), so that a run directory moved or committed elsewhere still reads the same."""
    model_path = Path(model_path).resolve()
    for root in (Path(run_dir).resolve(), DEMO_MODEL_DIR.parent.parent):
        if model_path.is_relative_to(root):
            return str(model_path.relative_to(root))
    return str(model_path)


def write_demo_report(
    run_dir: Path, rows: list[dict[str, Any]], title: str = "CPU demo: accuracy against tokens"
) -> tuple[str, Any]:
    """The table (printed, and saved as results.md) and the trade-off plot (tradeoff.png) of a demo run's rows;
    returns the table and the figure."""
    table = format_tradeoff_table(rows, baseline="start")
    (run_dir / "results.md").write_text(table + "\n")
    return table, plot_tradeoff(rows, run_dir / "tradeoff.png", title=title)


def model_dir_name(name: str) -> str:
    """The directory name of a demo model's name: 'alpha=0.2,norm=group' -> 'alpha_0.2_norm_group'."""
    return name.replace("=", "_").replace(",", "_")


def eval_dir(run_dir: Path, name: str) -> Path:
    """The evaluation run directory of model `name` in a demo run: run_dir/eval/<model>/."""
    return run_dir / "eval" / model_dir_name(name)


def train_baselines(start_model: Path, settings: DemoSettings, run_dir: Path) -> list[tuple[str, Path, float]]:
    """Rejection-sample the starting model on the RL prompts (`baselines.rejection_sample`, into the evaluation run
    directory run_dir/rejection_sampling), then train the SFT and DPO baselines from it."""
    from trl import DPOTrainer, SFTTrainer

    started = time.monotonic()
    sampling = SamplingSettings(
        k=settings.num_generations, temperature=1.0, max_new_tokens=settings.max_completion_length, seed=settings.seed
    )
    sft_data, dpo_data, report = rejection_sample(
        str(start_model), _rl_prompts(settings), run_dir / "rejection_sampling", sampling,
        dataset=f"train {settings.task}", prompt_template=DEMO_PROMPT_TEMPLATE, backend="transformers",
        batch_size=REJECTION_SAMPLING_BATCH_SIZE, device="cpu",
    )  # fmt: skip
    (run_dir / "rejection_sampling_report.json").write_text(json.dumps(report, indent=1))
    sampling_seconds = time.monotonic() - started
    trained = []
    for name, trainer_class, data in (("sft", SFTTrainer, sft_data), ("dpo", DPOTrainer, dpo_data)):
        if len(data) == 0:
            raise ValueError(
                f"rejection sampling gave no {name} data ({report}): the starting model answered no prompt "
                "correctly, so there is nothing to imitate."
            )
        started = time.monotonic()
        output_dir = run_dir / name
        args = baseline_config(name, settings, output_dir)
        trainer = trainer_class(model=str(start_model), args=args, train_dataset=data)
        source = f"rejection sampling of the starting model on {_rl_data(settings)}"
        provenance = training_provenance(name, args, str(start_model), {"dataset": source, "num_problems": len(data)})
        train_and_save(trainer, output_dir, provenance)
        trained.append((name, output_dir, sampling_seconds + time.monotonic() - started))
    return trained


def baseline_config(name: str, settings: DemoSettings, output_dir: Path, epochs: float = 1.0) -> Any:
    """The training arguments of the demo's SFT or DPO baseline (one epoch; the budget demo's SFT stage takes more)."""
    from trl import DPOConfig, SFTConfig

    config_class, learning_rate = {
        "sft": (SFTConfig, settings.sft_learning_rate), "dpo": (DPOConfig, settings.dpo_learning_rate)
    }[name]  # fmt: skip
    return config_class(
        output_dir=str(output_dir), learning_rate=learning_rate, **CPU_TRAINING_KWARGS,
        per_device_train_batch_size=16, num_train_epochs=epochs, lr_scheduler_type="constant", logging_steps=5,
        seed=settings.seed,
    )  # fmt: skip


# The figures each summary.json holds, as `summarize` writes them
_SUMMARY_FIGURES = (
    "accuracy", "accuracy_stderr", "mean_tokens", "mean_tokens_stderr", "mean_tokens_correct", "truncation_rate",
    "num_problems", "num_samples",
)  # fmt: skip


def convert_legacy_demo_run(run_dir: str | Path) -> list[dict[str, Any]]:
    """Rewrite a demo run directory of the old layout (one results.json, models known by their names) into today's:
    provenance.json in each trained model's directory, and eval/<model>/ (settings.json, summary.json with the
    provenance; samples.jsonl when the run kept its samples) per evaluated model; results.json is removed. Returns
    the rows `load_results` now reads.

    The old rows said what each model was only through the demo's names (start, alpha=..., cutoff=..., sft, dpo)
    and their alpha and normalization fields; the rest of the provenance comes from the run's settings.json and
    its training logs, with the versions that trained it unknown (null). The starting model is taken to be the
    shipped demo model.
    """
    run_dir = Path(run_dir)
    legacy = run_dir / "results.json"
    if not legacy.is_file():
        raise FileNotFoundError(f"{legacy} does not exist: {run_dir} is not a demo run of the old layout.")
    if (run_dir / "eval").exists():
        raise FileExistsError(f"{run_dir / 'eval'} exists already: remove it to convert {run_dir} again.")
    settings = DemoSettings(**json.loads((run_dir / "settings.json").read_text()))
    rows = json.loads(legacy.read_text())
    cutoffs = [
        {"cutoff": row["cutoff"], **{key: row[key] for key in _SUMMARY_FIGURES}}
        for row in rows
        if row["name"].startswith("cutoff=")
    ]
    for row in rows:
        name, model_dir = row["name"], row.get("model_dir")
        if name.startswith("cutoff="):
            continue
        model_path = run_dir / model_dir if model_dir else DEMO_MODEL_DIR
        if name == "start":
            provenance = read_provenance(DEMO_MODEL_DIR)
        else:
            provenance = _legacy_provenance(row, settings, model_path)
            write_provenance(model_path, provenance)
        eval_dir = run_dir / "eval" / model_dir_name(name)
        eval_dir.mkdir(parents=True)
        fingerprint = model_fingerprint(str(DEMO_MODEL_DIR)) if name == "start" else None  # weights not kept
        eval_settings = _evaluation_settings(name, model_path, run_dir, settings, row["num_problems"], fingerprint)
        (eval_dir / "settings.json").write_text(json.dumps(eval_settings, indent=1) + "\n")
        samples = run_dir / f"samples_{model_dir_name(name)}.jsonl"
        if samples.is_file():
            samples.rename(eval_dir / "samples.jsonl")
        summary = {
            **eval_settings, **{key: row[key] for key in _SUMMARY_FIGURES},
            "cutoff_baseline": cutoffs if name == "start" else [], "provenance": provenance,
        }  # fmt: skip
        (eval_dir / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
    legacy.unlink()
    return load_results(run_dir, cutoff_model="start", start="start")


def _legacy_provenance(row: dict[str, Any], settings: DemoSettings, model_dir: Path) -> dict[str, Any]:
    """The provenance of a model of an old demo run, from its row, the run's settings and its training log."""
    state = json.loads((model_dir / "trainer_state.json").read_text())
    if row.get("advantage_normalization"):  # the old rows' mark of an RL model
        args = rl_config(row["alpha"], settings, model_dir, row["advantage_normalization"])
        trainer, data = "grpo", {"dataset": RL_DATA, "num_problems": settings.steps * settings.prompts_per_step}
    elif row["name"] in ("sft", "dpo"):
        report = json.loads((model_dir.parent / "rejection_sampling_report.json").read_text())
        count = report["problems_with_a_correct_sample"] if row["name"] == "sft" else report["dpo_pairs"]
        args, trainer = baseline_config(row["name"], settings, model_dir), row["name"]
        data = {"dataset": BASELINE_DATA, "num_problems": count}
    else:
        raise ValueError(f"cannot tell how {row['name']!r} was trained from its old result row ({row}).")
    provenance = training_provenance(trainer, args, str(DEMO_MODEL_DIR), data, global_step=state["global_step"])
    provenance["base_model"]["name_or_path"] = _recorded_path(DEMO_MODEL_DIR, model_dir.parent)  # no machine path
    return {**provenance, "efficient_trl_version": None, "trl_version": None}  # not recorded by the old layout


@dataclass
class DemoRunArguments:
    """Where recipes/demo.py writes its run; parsed beside `DemoSettings`."""

    run_dir: str = field(
        default_factory=lambda: f"runs/demo-{time.strftime('%Y%m%d-%H%M%S')}",
        metadata={"help": "A new directory for the run (by default time-stamped: runs/demo-<date>-<time>)."},
    )


@dataclass
class DemoModelArguments:
    """How recipes/build_demo_model.py fine-tunes a demo task's starting model (`DEMO_MODEL_DIRS`) with SFT."""

    output_dir: str = field(
        metadata={"help": "A new directory for the model (shipped: efficient_trl/demo_model, ..._multi_sums)."}
    )
    task: str = field(
        default="sums",
        metadata={"help": f"Demo task to learn, one of {list(DEMO_MODEL_DIRS)}.", "choices": list(DEMO_MODEL_DIRS)},
    )
    num_problems: int = field(default=0, metadata={"help": "Solutions to fine-tune on (0: the task recipe's)."})
    epochs: float = field(default=1.0, metadata={"help": "Fine-tuning epochs."})
    seed: int = field(default=0, metadata={"help": "Seed of the initial weights and of fine-tuning."})
    init_model: str = field(
        default="",
        metadata={
            "help": "Start from this model's weights (e.g. an earlier build, to train it longer) instead of the task "
            "recipe's start."
        },
    )
