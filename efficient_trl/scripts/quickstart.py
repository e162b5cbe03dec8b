"""Quickstart: the paper's length penalty shortening an overthinking model's answers, in under a minute on CPU.

    efficient-trl quickstart                                             # make quickstart
    efficient-trl quickstart --length_penalty_alpha 0.2 --max_steps 40 --output_dir runs/my-run

Trains the shipped demo model (efficient_trl/demo_model: a tiny Qwen2 that adds four digits, then re-checks its sum
0-3 times) with `EfficientGRPOTrainer` on the demo task's training sums, offline, on CPU, and prints a row every
`logging_steps` steps: the accuracy, mean length and length-penalized reward of that stretch's training completions.
The tokens fall while the accuracy holds; `make demo-sums` measures the same on held-out problems. Any
`EfficientGRPOConfig` field can be given on the command line or in a `--config` YAML.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # before anything imports huggingface_hub, which reads it once

import torch  # noqa: E402
from transformers import PrinterCallback, TrainerCallback  # noqa: E402

from efficient_trl import EfficientGRPOConfig, EfficientGRPOTrainer  # noqa: E402
from efficient_trl.cli import parse_arguments  # noqa: E402
from efficient_trl.experiments.engine import START_MODELS  # noqa: E402
from efficient_trl.provenance import training_provenance  # noqa: E402
from efficient_trl.rundir import check_new_output_dir  # noqa: E402
from efficient_trl.synthetic import sum_problems  # noqa: E402
from efficient_trl.training import CPU_RL_KWARGS, train_and_save  # noqa: E402

__all__ = ["QuickstartArguments", "quickstart_defaults"]

# column -> (logged metric, format): the training completions of the rows' steps
COLUMNS = {
    "step": ("step", "{:>4}"),
    "accuracy": ("efficiency/accuracy", "{:>8.0%}"),
    "mean tokens": ("completions/mean_length", "{:>11.1f}"),
    "reward": ("reward", "{:>6.3f}"),
}


@dataclass
class QuickstartArguments:
    """The quickstart's own setting, parsed beside `EfficientGRPOConfig` (with `quickstart_defaults`)."""

    num_prompts: int = field(default=64, metadata={"help": "Training sums of the demo task to draw (seeded)."})


def quickstart_defaults() -> dict[str, Any]:
    """The quickstart's `EfficientGRPOConfig` defaults (a --config YAML and the command line override them): a short
    seeded CPU run into a new time-stamped directory, with the paper's largest alpha and a constant learning rate:
    the fewest steps in which the length falls clearly (with 4 prompts per step the rows were too noisy to tell, or
    the accuracy fell)."""
    return dict(
        output_dir=f"runs/quickstart-{time.strftime('%Y%m%d-%H%M%S')}",
        **CPU_RL_KWARGS,
        length_penalty_alpha=0.4,
        learning_rate=1e-4,
        lr_scheduler_type="constant",
        max_steps=10,
        per_device_train_batch_size=64,  # completions per step: 8 prompts x num_generations (8)
        max_completion_length=160,
        logging_steps=2,
        seed=0,
        disable_tqdm=True,  # the table below is the progress
    )


class PrintRows(TrainerCallback):
    """Prints a row of `COLUMNS` each time the trainer logs its training metrics."""

    def on_log(self, args, state, control, logs=None, **kwargs):
        if logs and "reward" in logs:
            logs = {**logs, "step": state.global_step}
            print("  ".join(form.format(logs[metric]) for metric, form in COLUMNS.values()), flush=True)


def main(argv: list[str] | None = None) -> None:
    quickstart, args = parse_arguments(
        QuickstartArguments, EfficientGRPOConfig, argv=argv, description=__doc__, defaults=quickstart_defaults()
    )
    run_dir = check_new_output_dir(args.output_dir, option="--output_dir")
    torch.set_num_threads(1)  # a tiny model's ops are too small to split: a second thread only spins
    model = START_MODELS["sums"]
    prompts = sum_problems(quickstart.num_prompts, seed=args.seed)  # "3+5+2+8", from the task's training split
    trainer = EfficientGRPOTrainer(model=str(model), args=args, train_dataset=prompts, callbacks=[PrintRows()])
    trainer.remove_callback(PrinterCallback)  # the rows replace the trainer's printed log dicts
    size = trainer.model.num_parameters() / 1e6
    print(
        f"efficient-trl quickstart: EfficientGRPOTrainer on a tiny model on CPU ({size:.1f}M parameters, the shipped "
        f"demo model: it adds four digits, then re-checks its sum 0-3 times).\nThe paper's reward, alpha "
        f"{args.length_penalty_alpha:g}: correct x (1 - alpha x sigmoid(its length's z-score among the prompt's "
        f"correct answers)); {args.max_steps} steps of {args.per_device_train_batch_size // args.num_generations} "
        f"prompts x {args.num_generations} completions, lr {args.learning_rate:g}, seed {args.seed}.\nEach row: the "
        f"training completions of the last {args.logging_steps} step(s). Expect the tokens to fall while the "
        "accuracy holds.\n\n" + "  ".join(COLUMNS),
        flush=True,
    )
    data = {"dataset": f"efficient_trl.synthetic.sum_problems(seed={args.seed})", "num_problems": len(prompts)}
    train_and_save(trainer, run_dir / "final-model", training_provenance("grpo", args, str(model), data))
    print(f"\nModel and logs saved under {run_dir}")
