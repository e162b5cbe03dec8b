"""Reproduce the demo's starting model: a ~1M-parameter Qwen2 taught, with TRL's SFTTrainer, to add four digits
while re-checking its work a random number of times (0 to 3), like an overthinking R1-distilled model.

    python recipes/build_demo_model.py --output_dir efficient_trl/demo_model     # about 15 minutes on 2 CPU cores

The result ships in the package (efficient_trl/demo_model), so `make demo` does not need to run this.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from trl import SFTConfig, SFTTrainer  # noqa: E402

from efficient_trl.data import check_new_output_dir  # noqa: E402
from efficient_trl.synthetic import sum_problems  # noqa: E402
from efficient_trl.testing import build_tiny_model  # noqa: E402
from efficient_trl.training import CPU_TRAINING_KWARGS, train_and_save  # noqa: E402

TRAIN_SEED = 1  # fine-tuning draws from the train split; the demo evaluates on the held-out split


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output_dir", required=True)
    parser.add_argument("--num_problems", type=int, default=20_000, help="solutions to fine-tune on")
    parser.add_argument("--epochs", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    output_dir = check_new_output_dir(args.output_dir, option="--output_dir")
    with tempfile.TemporaryDirectory() as scratch:
        initial = build_tiny_model(Path(scratch) / "initial", hidden_size=128, num_layers=4, seed=args.seed)
        dataset = sum_problems(args.num_problems, seed=TRAIN_SEED, split="train", with_solutions=True).select_columns(
            ["prompt", "completion"]
        )
        config = SFTConfig(
            output_dir=str(Path(scratch) / "sft"),
            **CPU_TRAINING_KWARGS,
            num_train_epochs=args.epochs,
            per_device_train_batch_size=64,
            learning_rate=2e-3,
            lr_scheduler_type="cosine",
            warmup_steps=0.05,
            weight_decay=0.0,
            max_length=256,
            logging_steps=50,
            seed=args.seed,
        )
        trainer = SFTTrainer(model=initial, args=config, train_dataset=dataset)
        train_and_save(trainer, output_dir)
    print(f"saved the demo's starting model to {output_dir}")


if __name__ == "__main__":
    main()
