"""Reproduce a demo task's starting model: a ~1M-parameter Qwen2 taught, with TRL's SFTTrainer, to solve the task's
sums step by step while re-checking its work a random number of times, like an overthinking R1-distilled model.

    python recipes/build_demo_model.py --output_dir efficient_trl/demo_model     # about 15 minutes on 2 CPU cores
    python recipes/build_demo_model.py --task multi_sums --output_dir /tmp/multi_sums_1     # then train it again:
    python recipes/build_demo_model.py --task multi_sums --init_model /tmp/multi_sums_1 \
        --output_dir efficient_trl/demo_model_multi_sums    # about 20 minutes in all (README.md: its accuracy)
    OMP_NUM_THREADS=1 python recipes/build_demo_model.py --task graded --output_dir efficient_trl/demo_model_graded

The results ship in the package (efficient_trl/demo_model, efficient_trl/demo_model_multi_sums,
efficient_trl/demo_model_graded), so `make demo` does not need to run this.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from trl import SFTConfig, SFTTrainer  # noqa: E402

from efficient_trl.cli import parse_arguments  # noqa: E402
from efficient_trl.data import check_new_output_dir  # noqa: E402
from efficient_trl.demo import DEMO_MODEL_DIRS, DemoModelArguments  # noqa: E402
from efficient_trl.provenance import training_provenance  # noqa: E402
from efficient_trl.synthetic import TASKS  # noqa: E402
from efficient_trl.testing import build_tiny_model  # noqa: E402
from efficient_trl.training import CPU_TRAINING_KWARGS, train_and_save  # noqa: E402

TRAIN_SEED = 1  # fine-tuning draws from the train split; the demo evaluates on the held-out split
# What differs per task. "sums" keeps the shipped demo_model's recipe. "multi_sums" starts from the shipped sums
# model (a random start had learned the format but not the sums, 2% held-out accuracy, after 219 steps and 24
# minutes on the shared cores; one run as below reaches 32%, a second one from its result 67%), with the tokenizer
# that reloads as built (same token ids as the sums model's "tiny" one, which reloads as characters without spaces
# or whole words), a length limit that fits its longest solutions (about 140 tokens) and batches of similar lengths
# (its lengths vary 3x: padding would double the cost). "graded" starts from the shipped multi_sums model (it knows
# step-by-step sums of distinct digits) and samples batches at random: grouped by length, a batch of short shortcut
# solutions weighs each of them more than a batch of long reasoned ones weighs each of its own, and the model learned
# to take the shortcut twice as often as the data on the hard tier; gradient checkpointing off (same numbers, less
# time; run it with OMP_NUM_THREADS=1: a ~1M model on a shared machine trains many times faster on one thread).
TASK_RECIPES = {
    "sums": {
        "init": None, "tokenizer_style": "tiny", "num_problems": 20_000, "max_length": 256, "sampling": "random",
        "learning_rate": 2e-3, "batch_size": 64,
    },
    "multi_sums": {
        "init": "sums", "tokenizer_style": "tiny-byte-level", "num_problems": 8_000, "max_length": 200,
        "sampling": "group_by_length", "learning_rate": 1e-3, "batch_size": 16,
    },
    "graded": {
        "init": "multi_sums", "tokenizer_style": "tiny-byte-level", "num_problems": 8_000, "max_length": 256,
        "sampling": "random", "learning_rate": 1e-3, "batch_size": 16, "gradient_checkpointing": False,
    },
}  # fmt: skip


def main() -> None:
    (settings,) = parse_arguments(DemoModelArguments, description=__doc__)
    recipe = TASK_RECIPES[settings.task]
    output_dir = check_new_output_dir(settings.output_dir, option="--output_dir")
    started = time.monotonic()
    with tempfile.TemporaryDirectory() as scratch:
        initial = build_tiny_model(
            Path(scratch) / "initial",
            hidden_size=128,
            num_layers=4,
            seed=settings.seed,
            tokenizer_style=recipe["tokenizer_style"],
        )
        start = settings.init_model or (recipe["init"] and str(DEMO_MODEL_DIRS[recipe["init"]]))
        if start:  # another model's weights (another task's shipped model, an earlier build), beside this tokenizer
            from transformers import AutoModelForCausalLM

            AutoModelForCausalLM.from_pretrained(start).save_pretrained(initial)
        num_problems = settings.num_problems or recipe["num_problems"]
        dataset = TASKS[settings.task](num_problems, seed=TRAIN_SEED, split="train", with_solutions=True)
        config = SFTConfig(
            output_dir=str(Path(scratch) / "sft"),
            **CPU_TRAINING_KWARGS,
            num_train_epochs=settings.epochs,
            per_device_train_batch_size=recipe["batch_size"],
            learning_rate=recipe["learning_rate"],
            lr_scheduler_type="cosine",
            warmup_steps=0.05,
            weight_decay=0.0,
            max_length=recipe["max_length"],
            train_sampling_strategy=recipe["sampling"],
            gradient_checkpointing=recipe.get("gradient_checkpointing", True),  # off: same numbers, less time
            logging_steps=25,
            seed=settings.seed,
        )
        trainer = SFTTrainer(
            model=initial, args=config, train_dataset=dataset.select_columns(["prompt", "completion"])
        )
        # the base model lives only here: provenance names how to rebuild it
        data = {
            "dataset": f"efficient_trl.synthetic.TASKS[{settings.task!r}](seed={TRAIN_SEED}, split='train', "
            "with_solutions=True)", "num_problems": len(dataset), "prompt_template": None,
        }  # fmt: skip
        provenance = training_provenance("sft", config, initial, data)
        provenance["base_model"]["name_or_path"] = start or (
            f"efficient_trl.testing.build_tiny_model(hidden_size=128, num_layers=4, seed={settings.seed})"
        )
        train_and_save(trainer, output_dir, provenance)
    print(f"saved the {settings.task} task's starting model to {output_dir} in {time.monotonic() - started:.0f}s")


if __name__ == "__main__":
    main()
