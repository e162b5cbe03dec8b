"""Quickstart: a short end-to-end run of the efficient GRPO trainer on a tiny model built on the spot, offline, on CPU.

    efficient-trl quickstart
    efficient-trl quickstart --length_penalty_alpha 0.2 --max_steps 20 --output_dir runs/my-run

Any `EfficientGRPOConfig` field can be given on the command line or in a `--config` YAML. The model is random, so
its accuracy stays near zero: this run shows the pipeline (generation, grading, length-penalized rewards, RLOO
advantages, KL, logging) working end to end, not the method's effect.
"""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # before anything imports huggingface_hub, which reads it once

from efficient_trl import EfficientGRPOConfig, EfficientGRPOTrainer  # noqa: E402
from efficient_trl.cli import parse_arguments  # noqa: E402
from efficient_trl.provenance import training_provenance  # noqa: E402
from efficient_trl.rundir import check_new_output_dir  # noqa: E402
from efficient_trl.synthetic import sum_problems  # noqa: E402
from efficient_trl.testing import TWO_TERM_SUMS, QuickstartArguments, build_tiny_model, quickstart_defaults  # noqa: E402
from efficient_trl.training import train_and_save  # noqa: E402

METRICS = {  # column label -> logged metric
    "accuracy": "efficiency/accuracy",
    "mean tokens": "completions/mean_length",
    "truncated": "completions/clipped_ratio",
    "reward": "reward",
    "kl": "kl",
    "loss": "loss",
}


def main(argv: list[str] | None = None) -> None:
    quickstart, args = parse_arguments(
        QuickstartArguments, EfficientGRPOConfig, argv=argv, description=__doc__, defaults=quickstart_defaults()
    )
    run_dir = check_new_output_dir(args.output_dir, option="--output_dir")
    model_path = build_tiny_model(run_dir / "initial-model")
    prompts = sum_problems(quickstart.num_prompts, seed=0, **TWO_TERM_SUMS)
    trainer = EfficientGRPOTrainer(model=model_path, args=args, train_dataset=prompts)
    data = {"dataset": "efficient_trl.synthetic.sum_problems(seed=0, **TWO_TERM_SUMS)", "num_problems": len(prompts)}
    train_and_save(trainer, run_dir / "final-model", training_provenance("grpo", args, model_path, data))
    print("\n" + " ".join(f"{label:>12}" for label in ("step", *METRICS)))
    for entry in trainer.state.log_history:
        if "loss" in entry:
            values = (entry["step"], *(entry.get(name, float("nan")) for name in METRICS.values()))
            print(" ".join(f"{value:>12.4g}" for value in values))
    print(f"\nModel and logs saved under {run_dir}")
