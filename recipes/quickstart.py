"""Quickstart: a short end-to-end run of the efficient GRPO trainer on a tiny model built on the spot, offline, on CPU.

    make quickstart
    python recipes/quickstart.py --length_penalty_alpha 0.2 --max_steps 20 --output_dir runs/my-run

Any `EfficientGRPOConfig` field can be given on the command line. The model is random, so its accuracy stays near
zero: this run shows the pipeline (generation, grading, length-penalized rewards, RLOO advantages, KL, logging)
working end to end, not the method's effect.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from trl import TrlParser  # noqa: E402

from efficient_trl import EfficientGRPOConfig, EfficientGRPOTrainer  # noqa: E402
from efficient_trl.data import check_new_output_dir  # noqa: E402
from efficient_trl.synthetic import sum_problems  # noqa: E402
from efficient_trl.testing import TWO_TERM_SUMS, build_tiny_model  # noqa: E402
from efficient_trl.training import CPU_TRAINING_KWARGS, train_and_save  # noqa: E402

METRICS = {  # column label -> logged metric
    "accuracy": "efficiency/accuracy",
    "mean tokens": "completions/mean_length",
    "truncated": "completions/clipped_ratio",
    "reward": "reward",
    "kl": "kl",
    "loss": "loss",
}


@dataclass
class QuickstartArguments:
    num_prompts: int = field(default=64, metadata={"help": "Synthetic addition problems to train on."})


def main() -> None:
    parser = TrlParser((QuickstartArguments, EfficientGRPOConfig))
    parser.set_defaults(
        output_dir=f"runs/quickstart-{time.strftime('%Y%m%d-%H%M%S')}",
        **CPU_TRAINING_KWARGS,
        per_device_train_batch_size=16,
        max_completion_length=48,
        max_steps=8,
        learning_rate=1e-4,
        length_penalty_alpha=0.2,
        logging_steps=1,
    )
    quickstart, args = parser.parse_args_and_config()
    run_dir = check_new_output_dir(args.output_dir, option="--output_dir")
    model_path = build_tiny_model(run_dir / "initial-model")
    prompts = sum_problems(quickstart.num_prompts, seed=0, **TWO_TERM_SUMS)
    trainer = EfficientGRPOTrainer(model=model_path, args=args, train_dataset=prompts)
    train_and_save(trainer, run_dir / "final-model")
    print("\n" + " ".join(f"{label:>12}" for label in ("step", *METRICS)))
    for entry in trainer.state.log_history:
        if "loss" in entry:
            values = (entry["step"], *(entry.get(name, float("nan")) for name in METRICS.values()))
            print(" ".join(f"{value:>12.4g}" for value in values))
    print(f"\nModel and logs saved under {run_dir}")


if __name__ == "__main__":
    main()
