"""Build a demo task's starting model: a ~1M-parameter Qwen2 taught, with TRL's SFTTrainer, to solve the task's
sums step by step while re-checking its work a random number of times, like an overthinking R1-distilled model.

    efficient-trl build-demo-model --output_dir my_demo_model
    efficient-trl build-demo-model --task multi_sums --output_dir /tmp/multi_sums_1          # then train it again:
    efficient-trl build-demo-model --task multi_sums --init_model /tmp/multi_sums_1 --output_dir my_multi_sums_model
    OMP_NUM_THREADS=1 efficient-trl build-demo-model --task graded --output_dir my_graded_model

The results ship in the package (efficient_trl/demo_model, efficient_trl/demo_model_multi_sums,
efficient_trl/demo_model_graded), so the demo does not need to run this; README "The CPU demo" gives each build's
time and accuracy.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from ..provenance import training_provenance
from ..rundir import check_new_output_dir
from ..synthetic import TASKS
from ..testing import build_tiny_model
from ..training import CPU_TRAINING_KWARGS, train_and_save
from .engine import START_MODELS
from .progress import stage, timed

__all__ = ["TASK_RECIPES", "DemoModelArguments", "build_demo_model"]

TRAIN_SEED = 1  # fine-tuning draws from the train split; the demo evaluates on the held-out split


@dataclass(frozen=True)
class TaskRecipe:
    """How one task's starting model is fine-tuned."""

    init: str | None  # another task whose shipped model's weights it starts from (None: random weights)
    tokenizer_style: str  # efficient_trl.testing's
    num_problems: int
    max_length: int  # fits the task's longest solutions
    sampling: str  # SFTConfig.train_sampling_strategy
    learning_rate: float
    batch_size: int


# "sums" is the shipped demo_model's recipe. "multi_sums" starts from the shipped sums model (from random weights it
# learned the format but not the sums), with the tokenizer that reloads as built (the sums model's "tiny" one
# reloads as characters without spaces or whole words under transformers 5), a length limit that fits its longest
# solutions and batches of similar lengths (its lengths vary 3x: padding would double the cost). "graded" starts
# from the shipped multi_sums model (it knows step-by-step sums of distinct digits) and samples batches at random:
# grouped by length, a batch of short shortcut solutions weighs each of them more than a batch of long reasoned ones
# weighs each of its own, and the model learned to take the shortcut twice as often as the data on the hard tier;
# 16,000 solutions (8,000 left needless re-checks that slipped on 15% of the medium and hard answers).
TASK_RECIPES = {
    "sums": TaskRecipe(None, "tiny", 20_000, 256, "random", 2e-3, 64),
    "multi_sums": TaskRecipe("sums", "tiny-byte-level", 8_000, 200, "group_by_length", 1e-3, 16),
    "graded": TaskRecipe("multi_sums", "tiny-byte-level", 16_000, 256, "random", 1e-3, 16),
}


@dataclass
class DemoModelArguments:
    """How a demo task's starting model is built (`build_demo_model`)."""

    output_dir: str = field(
        metadata={"help": "A new directory for the model (shipped: efficient_trl/demo_model, ..._multi_sums)."}
    )
    task: str = field(
        default="sums",
        metadata={"help": f"Demo task to learn, one of {list(TASK_RECIPES)}.", "choices": list(TASK_RECIPES)},
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


def build_demo_model(settings: DemoModelArguments) -> Path:
    """Fine-tune the starting model of `settings.task` into `settings.output_dir` (a new directory); returns it."""
    from trl import SFTConfig, SFTTrainer

    recipe = TASK_RECIPES[settings.task]
    output_dir = check_new_output_dir(settings.output_dir, option="--output_dir")
    with tempfile.TemporaryDirectory() as scratch:
        initial = build_tiny_model(
            Path(scratch) / "initial", hidden_size=128, num_layers=4, seed=settings.seed,
            tokenizer_style=recipe.tokenizer_style,
        )  # fmt: skip
        start = settings.init_model or (recipe.init and str(START_MODELS[recipe.init]))
        if start:  # another model's weights (another task's shipped model, an earlier build), beside this tokenizer
            from transformers import AutoModelForCausalLM

            AutoModelForCausalLM.from_pretrained(start).save_pretrained(initial)
        num_problems = settings.num_problems or recipe.num_problems
        dataset = TASKS[settings.task](num_problems, seed=TRAIN_SEED, split="train", with_solutions=True)
        config = SFTConfig(
            output_dir=str(Path(scratch) / "sft"), **CPU_TRAINING_KWARGS, num_train_epochs=settings.epochs,
            per_device_train_batch_size=recipe.batch_size, learning_rate=recipe.learning_rate,
            lr_scheduler_type="cosine", warmup_steps=0.05, weight_decay=0.0, max_length=recipe.max_length,
            train_sampling_strategy=recipe.sampling, logging_steps=25, seed=settings.seed,
        )  # fmt: skip
        rows = dataset.select_columns(["prompt", "completion"])
        model = start or "a new model"
        stage(f"fine-tuning {model} on {len(rows)} {settings.task} solutions, {settings.epochs:g} epoch(s)")
        trainer = SFTTrainer(model=initial, args=config, train_dataset=rows)
        # the base model lives only here: provenance names how to rebuild it
        data = {
            "dataset": f"efficient_trl.synthetic.TASKS[{settings.task!r}](seed={TRAIN_SEED}, split='train', "
            "with_solutions=True)", "num_problems": len(dataset), "prompt_template": None,
        }  # fmt: skip
        provenance = training_provenance("sft", config, initial, data)
        provenance["base_model"]["name_or_path"] = start or (
            f"efficient_trl.testing.build_tiny_model(hidden_size=128, num_layers=4, seed={settings.seed})"
        )
        return train_and_save(trainer, output_dir, provenance)


def main(argv: list[str] | None = None) -> None:
    from ..cli import parse_arguments

    (settings,) = parse_arguments(DemoModelArguments, argv=argv, description=__doc__)
    with timed():
        output_dir = build_demo_model(settings)
        print(f"saved the {settings.task} task's starting model to {output_dir}")
