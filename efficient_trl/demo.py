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

from .analysis import format_tradeoff_table, plot_tradeoff
from .baselines import rejection_sample
from .configs import EfficientGRPOConfig
from .data import check_new_output_dir
from .evaluation import SamplingSettings, evaluate_problems, load_samples, summarize
from .rewards import ADVANTAGE_NORMALIZATIONS
from .synthetic import sum_problems
from .trainers import EfficientGRPOTrainer
from .training import CPU_TRAINING_KWARGS, train_and_save

__all__ = [
    "DEMO_DATASET",
    "DEMO_MODEL_DIR",
    "DemoSettings",
    "evaluate_model",
    "model_name",
    "run_demo",
    "train_baselines",
    "train_with_alpha",
    "write_demo_report",
]

DEMO_MODEL_DIR = Path(__file__).resolve().parent / "demo_model"
RL_SEED, EVAL_SEED = 2, 3  # RL prompts come from the train split, evaluation problems from the held-out one
DEMO_DATASET = "held-out sums"  # the `dataset` of every demo result row
DEMO_PROMPT_TEMPLATE = "{problem}"  # the demo's user turn is the bare sum
# Generation batch sizes: evaluation and rejection sampling (fixed: they set the sampled numbers of the demo table)
EVAL_BATCH_SIZE, REJECTION_SAMPLING_BATCH_SIZE = 250, 256


def _setting(default: Any, help: str) -> Any:
    if isinstance(default, list):
        return field(default_factory=lambda: list(default), metadata={"help": help})
    return field(default=default, metadata={"help": help})


@dataclass
class DemoSettings:
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


def train_with_alpha(
    model_path: str | Path, alpha: float, settings: DemoSettings, output_dir: Path, normalization: str = "none"
) -> Path:
    """RL from `model_path` at one alpha; returns the directory of the trained model, with its trainer_state.json
    (the training log)."""
    args = EfficientGRPOConfig(
        output_dir=str(output_dir),
        **CPU_TRAINING_KWARGS,
        length_penalty_alpha=alpha,
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
    trainer = EfficientGRPOTrainer(model=str(model_path), args=args, train_dataset=_rl_prompts(settings))
    return train_and_save(trainer, output_dir)


def _rl_prompts(settings: DemoSettings) -> Any:
    """The RL training prompts, which rejection sampling for the baselines samples too."""
    return sum_problems(settings.steps * settings.prompts_per_step, seed=RL_SEED)


def evaluate_model(model_path: str | Path, problems: Any, settings: DemoSettings, eval_dir: Path) -> dict[str, Any]:
    """Average pass@k and token counts on `problems` (the held-out sums), evaluated into the evaluation run directory
    `eval_dir` (`evaluation.evaluate_problems`: settings.json, samples.jsonl, summary.json)."""
    sampling = SamplingSettings(
        k=settings.eval_k,
        temperature=settings.eval_temperature,
        max_new_tokens=settings.max_completion_length,
        seed=settings.seed,
    )
    evaluate_problems(
        str(model_path), problems, eval_dir, sampling, dataset=DEMO_DATASET, prompt_template=DEMO_PROMPT_TEMPLATE,
        backend="transformers", batch_size=EVAL_BATCH_SIZE, cutoffs=tuple(int(c) for c in settings.cutoffs),
        device="cpu",  # a CPU demo: the same numbers on a machine with a GPU
    )  # fmt: skip
    return summarize(load_samples(eval_dir))


def run_demo(run_dir: Path, settings: DemoSettings, start_model: Path = DEMO_MODEL_DIR) -> list[dict[str, Any]]:
    """Train one model per alpha and evaluate them with the starting model; results also go to results.json."""
    if not (start_model / "config.json").exists():
        raise FileNotFoundError(
            f"no demo model at {start_model}; rebuild it with `python recipes/build_demo_model.py --output_dir "
            f"{start_model}`."
        )
    check_new_output_dir(run_dir, option="run directory (--run_dir)")
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "settings.json").write_text(json.dumps(asdict(settings), indent=1))
    problems = sum_problems(settings.eval_problems, seed=EVAL_SEED, split="held_out")
    # (name, model path, row fields): model_dir is relative to the run directory, where the training log is
    # family: what kind of model a row is, how efficient_trl.analysis places it on the trade-off plot
    models = [
        ("start", start_model, {"family": "start", "alpha": 0.0, "advantage_normalization": None, "model_dir": None})
    ]
    for normalization in settings.normalizations:
        for alpha in settings.alphas:
            name = model_name(alpha, normalization)
            started = time.monotonic()
            trained = train_with_alpha(start_model, alpha, settings, run_dir / _file_name(name), normalization)
            fields = {
                "family": "alpha", "alpha": alpha, "advantage_normalization": normalization, "model_dir": trained.name
            }  # fmt: skip
            models.append((name, trained, {**fields, "train_seconds": time.monotonic() - started}))
    rows = []
    for name, path, fields in models:
        summary = evaluate_model(path, problems, settings, _eval_dir(run_dir, name))
        rows.append({"name": name, "dataset": DEMO_DATASET, "train_seconds": 0.0, **fields, **summary})
        (run_dir / "results.json").write_text(json.dumps(rows, indent=1))
    if settings.baselines:
        baseline_fields = {"dataset": DEMO_DATASET, "alpha": None, "advantage_normalization": None}
        start_summary = json.loads((_eval_dir(run_dir, "start") / "summary.json").read_text())
        for row in start_summary["cutoff_baseline"]:
            name = f"cutoff={row['cutoff']}"
            rows.append(
                {"name": name, "family": "cutoff", **baseline_fields, "model_dir": None, "train_seconds": 0.0, **row}
            )
        for name, path, seconds in train_baselines(start_model, settings, run_dir):
            summary = evaluate_model(path, problems, settings, _eval_dir(run_dir, name))
            fields = {"family": name, **baseline_fields, "model_dir": path.name, "train_seconds": seconds}
            rows.append({"name": name, **fields, **summary})
        (run_dir / "results.json").write_text(json.dumps(rows, indent=1))
    return rows


def write_demo_report(
    run_dir: Path, rows: list[dict[str, Any]], title: str = "CPU demo: accuracy against tokens"
) -> tuple[str, Any]:
    """The table (printed, and saved as results.md) and the trade-off plot (tradeoff.png) of a demo run's rows;
    returns the table and the figure."""
    table = format_tradeoff_table(rows, baseline="start")
    (run_dir / "results.md").write_text(table + "\n")
    return table, plot_tradeoff(rows, run_dir / "tradeoff.png", title=title)


def _file_name(name: str) -> str:
    return name.replace("=", "_").replace(",", "_")


def _eval_dir(run_dir: Path, name: str) -> Path:
    """The evaluation run directory of model `name` in a demo run: run_dir/eval/<model>/."""
    return run_dir / "eval" / _file_name(name)


def train_baselines(start_model: Path, settings: DemoSettings, run_dir: Path) -> list[tuple[str, Path, float]]:
    """Rejection-sample the starting model on the RL prompts (`baselines.rejection_sample`, into the evaluation run
    directory run_dir/rejection_sampling), then train the SFT and DPO baselines from it."""
    from trl import DPOConfig, DPOTrainer, SFTConfig, SFTTrainer

    started = time.monotonic()
    sampling = SamplingSettings(
        k=settings.num_generations, temperature=1.0, max_new_tokens=settings.max_completion_length, seed=settings.seed
    )
    sft_data, dpo_data, report = rejection_sample(
        str(start_model), _rl_prompts(settings), run_dir / "rejection_sampling", sampling,
        dataset="train sums", prompt_template=DEMO_PROMPT_TEMPLATE, backend="transformers",
        batch_size=REJECTION_SAMPLING_BATCH_SIZE, device="cpu",
    )  # fmt: skip
    (run_dir / "rejection_sampling_report.json").write_text(json.dumps(report, indent=1))
    sampling_seconds = time.monotonic() - started
    common = dict(
        **CPU_TRAINING_KWARGS, per_device_train_batch_size=16, num_train_epochs=1, lr_scheduler_type="constant",
        logging_steps=5, seed=settings.seed,
    )  # fmt: skip
    trained = []
    for name, trainer_class, config_class, data, learning_rate in (
        ("sft", SFTTrainer, SFTConfig, sft_data, settings.sft_learning_rate),
        ("dpo", DPOTrainer, DPOConfig, dpo_data, settings.dpo_learning_rate),
    ):
        if len(data) == 0:
            raise ValueError(
                f"rejection sampling gave no {name} data ({report}): the starting model answered no prompt "
                "correctly, so there is nothing to imitate."
            )
        started = time.monotonic()
        output_dir = run_dir / name
        trainer = trainer_class(
            model=str(start_model),
            args=config_class(output_dir=str(output_dir), learning_rate=learning_rate, **common),
            train_dataset=data,
        )
        trained.append((name, train_and_save(trainer, output_dir), sampling_seconds + time.monotonic() - started))
    return trained
