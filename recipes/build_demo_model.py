"""Reproduce the demo's starting model: a ~1M-parameter Qwen2 taught, with TRL's SFTTrainer, to add four digits
while re-checking its work a random number of times (0 to 3), like an overthinking R1-distilled model.

    python recipes/build_demo_model.py --output_dir efficient_trl/demo_model     # about 15 minutes on 2 CPU cores

The result ships in the package (efficient_trl/demo_model), so `make demo` does not need to run this.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from trl import SFTConfig, SFTTrainer  # noqa: E402

from efficient_trl.cli import parse_arguments  # noqa: E402
from efficient_trl.data import check_new_output_dir  # noqa: E402
from efficient_trl.demo import DemoModelArguments  # noqa: E402
from efficient_trl.provenance import training_provenance  # noqa: E402
from efficient_trl.synthetic import sum_problems  # noqa: E402
from efficient_trl.testing import build_tiny_model  # noqa: E402
from efficient_trl.training import CPU_TRAINING_KWARGS, train_and_save  # noqa: E402

TRAIN_SEED = 1  # fine-tuning draws from the train split; the demo evaluates on the held-out split
# What the model is fine-tuned on, as its provenance.json records it
SFT_DATA = f"efficient_trl.synthetic.sum_problems(seed={TRAIN_SEED}, split='train', with_solutions=True)"


def main() -> None:
    (args,) = parse_arguments(DemoModelArguments, description=__doc__)
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
        # the base model is a random Qwen2 that lives only here: provenance names how to rebuild it
        data = {"dataset": SFT_DATA, "num_problems": len(dataset), "prompt_template": None}
        provenance = training_provenance("sft", config, initial, data)
        provenance["base_model"]["name_or_path"] = (
            f"efficient_trl.testing.build_tiny_model(hidden_size=128, num_layers=4, seed={args.seed})"
        )
        train_and_save(trainer, output_dir, provenance)
    print(f"saved the demo's starting model to {output_dir}")


if __name__ == "__main__":
    main()
