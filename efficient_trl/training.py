"""The training entry point behind `recipes/train.py`: YAML + command line in, a trained (and resumable) run out.

    accelerate launch --config_file accelerate_configs/zero2.yaml recipes/train.py \\
        --config recipes/deepseek-r1-distill-qwen-1.5b/alpha_0.2.yaml

`trainer: grpo` or `trainer: rloo` in the YAML (or `--trainer`) picks the trainer; the rest of the file is parsed by
TRL's `TrlParser` into `TrainScriptArguments`, that trainer's config and TRL's `ModelConfig` (LoRA through peft),
and an unknown key is an error.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from accelerate import PartialState
from datasets import load_from_disk
from transformers.trainer_utils import get_last_checkpoint
from trl import DPOConfig, DPOTrainer, ModelConfig, SFTConfig, SFTTrainer, TrlParser, get_peft_config

from .configs import EfficientGRPOConfig, EfficientRLOOConfig
from .data import PAPER_PROMPT, load_problems, to_prompts
from .trainers import EfficientGRPOTrainer, EfficientRLOOTrainer

__all__ = [
    "BASELINES",
    "TRAINERS",
    "BaselineScriptArguments",
    "TrainScriptArguments",
    "check_batch_sizes",
    "make_parser",
    "parse_training_arguments",
    "train",
    "train_baseline",
]

TRAINERS = {"grpo": (EfficientGRPOTrainer, EfficientGRPOConfig), "rloo": (EfficientRLOOTrainer, EfficientRLOOConfig)}


@dataclass
class TrainScriptArguments:
    trainer: str = field(
        default="grpo",
        metadata={
            "help": "Which trainer: 'grpo' (per-token PPO clipping, the paper's loss) or 'rloo' (TRL's RLOO).",
            "choices": list(TRAINERS),
        },
    )
    dataset_name: str = field(
        default="data/train-3.2k",
        metadata={
            "help": "Training problems: a directory written by recipes/prepare_data.py, a shipped set "
            "(math_train, aime_1983_2023), a .jsonl file or a hub dataset name."
        },
    )
    dataset_train_split: str = field(default="train", metadata={"help": "Split to train on (hub datasets)."})
    prompt_template: str = field(
        default=PAPER_PROMPT, metadata={"help": "User turn of the prompt; '{problem}' is replaced by the problem."}
    )
    num_train_problems: int | None = field(
        default=None, metadata={"help": "Train on the first N problems only (for smoke tests)."}
    )
    completions_per_step: int | None = field(
        default=None,
        metadata={
            "help": "Completions per optimizer step that the run must get (the paper: 128), checked at start-up "
            "against per_device_train_batch_size x processes x gradient_accumulation_steps. None: no check."
        },
    )
    completions_per_generation: int | None = field(
        default=None,
        metadata={
            "help": "Completions per generation round that the run must get (the paper: 256, i.e. 32 prompts x 8), "
            "checked at start-up against per_device_train_batch_size x processes x steps_per_generation. None: no "
            "check."
        },
    )


def make_parser(trainer: str) -> TrlParser:
    if trainer not in TRAINERS:
        raise ValueError(f"trainer must be one of {sorted(TRAINERS)}, got {trainer!r}.")
    return TrlParser((TrainScriptArguments, TRAINERS[trainer][1], ModelConfig))


def _chosen_trainer(argv: list[str] | None) -> str:
    """Read `trainer` from the command line or the YAML before the full parse (the config class depends on it)."""
    peek = argparse.ArgumentParser(add_help=False)
    peek.add_argument("--config")
    peek.add_argument("--trainer")
    known, _ = peek.parse_known_args(argv)
    if known.trainer:
        return known.trainer
    if known.config:
        with open(known.config) as f:
            return (yaml.safe_load(f) or {}).get("trainer", "grpo")
    return "grpo"


def parse_training_arguments(argv: list[str] | None = None) -> tuple[TrainScriptArguments, Any, ModelConfig]:
    """Parse YAML (`--config`) and command-line overrides; unknown keys raise."""
    return make_parser(_chosen_trainer(argv)).parse_args_and_config(args=argv)


def check_batch_sizes(script_args: TrainScriptArguments, training_args: Any, num_processes: int) -> None:
    """Refuse a launch whose process count gives other batches than the recipe's totals, naming the fix.

    The recipes fix the totals (128 completions per optimizer step, 256 per generation round) for 4 or 8 GPUs;
    launched on another number they would silently train something else. An error, not a silent adjustment: the
    user sees which setting changes, and the YAML stays the record of the run.
    """
    per_device = training_args.per_device_train_batch_size
    per_micro_step = per_device * num_processes
    problems = []
    for total, field_name, value, what in (
        (script_args.completions_per_step, "gradient_accumulation_steps", training_args.gradient_accumulation_steps,
         "completions per optimizer step"),
        (script_args.completions_per_generation, "steps_per_generation", training_args.steps_per_generation,
         "completions per generation round"),
    ):  # fmt: skip
        if total is None or per_micro_step * value == total:
            continue
        if total % per_micro_step == 0:
            fix = f"set {field_name}: {total // per_micro_step} (--{field_name} {total // per_micro_step})"
        else:
            fix = (
                f"no whole {field_name} gives it with per_device_train_batch_size {per_device}: change "
                f"per_device_train_batch_size or the process count so that {total} is a multiple of their product"
            )
        problems.append(
            f"{what}: per_device_train_batch_size {per_device} x {num_processes} processes x {field_name} {value} "
            f"= {per_micro_step * value}, but the recipe asks for {total}; {fix}"
        )
    if problems:
        raise ValueError(
            f"the batch sizes do not add up on {num_processes} processes:\n  "
            + "\n  ".join(problems)
            + "\n(or launch with the number of processes the recipe names in its header)."
        )


def train(script_args: TrainScriptArguments, training_args: Any, model_args: ModelConfig) -> Any:
    """Train, resuming from the last checkpoint in `output_dir` if an earlier launch was interrupted."""
    trainer_class, _ = TRAINERS[script_args.trainer]
    check_batch_sizes(script_args, training_args, PartialState().num_processes)

    dataset = load_problems(script_args.dataset_name, split=script_args.dataset_train_split)
    if script_args.num_train_problems is not None:
        dataset = dataset.select(range(min(script_args.num_train_problems, len(dataset))))
    dataset = to_prompts(dataset, script_args.prompt_template)

    return _train_resuming(trainer_class, training_args, model_args, dataset)


def _model_init_kwargs(training_args: Any, model_args: ModelConfig) -> dict[str, Any]:
    if not model_args.model_name_or_path:
        raise ValueError("model_name_or_path is required (a hub name or a local directory).")
    model_init_kwargs = {
        "revision": model_args.model_revision,
        "attn_implementation": model_args.attn_implementation,
        "dtype": model_args.dtype,
    }
    return {**model_init_kwargs, **(training_args.model_init_kwargs or {})}


def _train_resuming(trainer_class: type, args: Any, model_args: ModelConfig, dataset: Any) -> Any:
    """Build the trainer and train, from the last checkpoint in output_dir if an earlier launch was interrupted;
    save the model and the training log."""
    args.model_init_kwargs = _model_init_kwargs(args, model_args)
    trainer = trainer_class(
        model=model_args.model_name_or_path, args=args, train_dataset=dataset, peft_config=get_peft_config(model_args)
    )
    resume_from = args.resume_from_checkpoint
    if resume_from is None and Path(args.output_dir).is_dir():
        resume_from = get_last_checkpoint(args.output_dir)
    if resume_from:
        trainer.accelerator.print(f"Resuming from {resume_from}")
    trainer.train(resume_from_checkpoint=resume_from)
    trainer.save_model(args.output_dir)
    trainer.save_state()  # trainer_state.json: the whole training log, read by efficient_trl.analysis
    return trainer


@dataclass
class BaselineScriptArguments:
    dataset_path: str = field(
        default="data/rejection-sampling/sft",
        metadata={"help": "The sft/ or dpo/ directory written by recipes/rejection_sampling.py."},
    )


BASELINES = {"sft": (SFTTrainer, SFTConfig), "dpo": (DPOTrainer, DPOConfig)}


def train_baseline(kind: str, argv: list[str] | None = None) -> Any:
    """The SFT or DPO baseline on rejection-sampled data, with TRL's own trainer; YAML (`--config`) and overrides."""
    if kind not in BASELINES:
        raise ValueError(f"kind must be one of {sorted(BASELINES)}, got {kind!r}.")
    trainer_class, config_class = BASELINES[kind]
    parser = TrlParser((BaselineScriptArguments, config_class, ModelConfig))
    script_args, training_args, model_args = parser.parse_args_and_config(args=argv)
    dataset = load_from_disk(script_args.dataset_path)
    if len(dataset) == 0:
        raise ValueError(
            f"{script_args.dataset_path} holds no examples: rejection sampling found no usable responses "
            "(see its report.json)."
        )
    return _train_resuming(trainer_class, training_args, model_args, dataset)
