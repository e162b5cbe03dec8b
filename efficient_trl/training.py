"""The training entry point behind `recipes/train.py`: YAML + command line in, a trained (and resumable) run out.

    accelerate launch --config_file accelerate_configs/zero2.yaml recipes/train.py \\
        --config recipes/deepseek-r1-distill-qwen-1.5b/alpha_0.2.yaml

`trainer: grpo` or `trainer: rloo` in the YAML (or `--trainer`) picks the trainer; the rest of the file is parsed by
TRL's `TrlParser` into `TrainScriptArguments`, that trainer's config and TRL's `ModelConfig` (LoRA through peft),
and an unknown key is an error.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml
from accelerate import PartialState
from datasets import load_from_disk
from transformers import AutoTokenizer, TrainerCallback
from trl import DPOConfig, DPOTrainer, ModelConfig, SFTConfig, SFTTrainer, TrlParser, get_peft_config

from .budgets import L1_BUDGET_RANGE, budget_template, check_budget_range, with_sampled_budgets
from .cli import check_options
from .configs import EfficientGRPOConfig, EfficientRLOOConfig, json_object
from .data import (
    PAPER_PROMPT,
    PREPARED_TRAINING_SET,
    check_gold_answers,
    load_problems,
    to_prompts,
    to_raw_prompts,
)
from .evaluation import check_model_reference
from .length_rewards import EXTRA_REWARD_COLUMNS, EXTRA_REWARDS, extra_reward_funcs
from .math_grader import math_accuracy_reward
from .provenance import training_provenance, write_provenance
from .rundir import (
    RUN_SETTINGS_FILE,
    check_output_dir_apart,
    check_same_run,
    clear_training_run,
    finished,
    last_complete_checkpoint,
    read_card_section,
    restore_card_section,
    run_settings,
    write_atomically,
)
from .trainers import EfficientGRPOTrainer, EfficientRLOOTrainer

__all__ = [
    "BASELINES",
    "CPU_RL_KWARGS",
    "CPU_TRAINING_KWARGS",
    "TRAINERS",
    "BaselineScriptArguments",
    "TrainScriptArguments",
    "check_batch_sizes",
    "make_parser",
    "parse_training_arguments",
    "train",
    "train_and_save",
    "train_baseline",
]

TRAINERS = {"grpo": (EfficientGRPOTrainer, EfficientGRPOConfig), "rloo": (EfficientRLOOTrainer, EfficientRLOOConfig)}

# The training-config keywords of every CPU run (the demo, the quickstart, the demo model): no GPU, float32, no
# tracker, no checkpoints (train_and_save writes the final model), and no activation checkpointing (TRL turns it on by
# default; for a tiny model it only recomputes the forward pass).
CPU_TRAINING_KWARGS: dict[str, Any] = {
    "use_cpu": True, "bf16": False, "report_to": "none", "save_strategy": "no", "activation_checkpointing": False,
}  # fmt: skip
# ... and of every CPU RL run (the demo's, the quickstart's): log-probability passes on 4 groups of rows of similar
# completion length, which spend less compute on padding and give the same numbers (README, Benchmarks).
CPU_RL_KWARGS: dict[str, Any] = {**CPU_TRAINING_KWARGS, "logprob_length_groups": 4}


def train_and_save(
    trainer: Any,
    output_dir: str | Path,
    provenance: dict[str, Any] | None,
    resume_from_checkpoint: str | None = None,
) -> Path:
    """Train `trainer` (from `resume_from_checkpoint` if given), then save the trained model, its training log
    (trainer_state.json, which efficient_trl.analysis reads) and its `provenance` (`provenance.training_provenance`,
    completed with the step reached; None only for a model that is not a training result) together in `output_dir`;
    returns `output_dir`.

    The one place where a trained model is saved: the training and baseline recipes, the demo, the quickstart and the
    demo model all save through it.
    """
    output_dir = Path(output_dir)
    own = hasattr(trainer, "provenance")  # the efficient trainers write both files in save_model (trainers.py)
    if own:
        trainer.provenance = provenance
    trainer.train(resume_from_checkpoint=resume_from_checkpoint)
    trainer.save_model(str(output_dir))
    if trainer.is_world_process_zero() and not own:  # what Trainer.save_state does, but next to the weights
        trainer.state.save_to_json(str(output_dir / "trainer_state.json"))
        if provenance is not None:
            write_provenance(output_dir, {**provenance, "global_step": trainer.state.global_step})
    return output_dir


_OVERWRITE_HELP = (
    "Start over in an output_dir that holds another (or a finished) run: what that run wrote is deleted first (other "
    "files are kept). Without it, a relaunch resumes the run recorded there and a different run is refused."
)


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
        default=PREPARED_TRAINING_SET,
        metadata={
            "help": "Training problems: a directory written by recipes/prepare_data.py, a shipped set "
            "(math_train, aime_1983_2023), a .jsonl file or a hub dataset name."
        },
    )
    dataset_train_split: str = field(default="train", metadata={"help": "Split to train on (hub datasets)."})
    prompt_template: str = field(
        default=PAPER_PROMPT, metadata={"help": "User turn of the prompt; '{problem}' is replaced by the problem."}
    )
    think_prefill: bool = field(
        default=True,
        metadata={
            "help": "Prompt as chat turns, which TRL renders with the model's chat template: for R1-distill models it "
            "ends with the template's `<think>\\n` prefill. False: the authors' training prompt instead, the same "
            "rendering as raw text without the prefill (`<｜User｜>...<｜Assistant｜>`; data.to_raw_prompts), so that "
            "the model opens its thoughts itself. A difference from the paper's evaluation prompt, which keeps it."
        },
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
    overwrite_output_dir: bool = field(default=False, metadata={"help": _OVERWRITE_HELP})
    # Token budgets in the prompts (L1 / LCPO): train with length_reward l1_exact or l1_max.
    budget_range: list[int] | None = field(
        default=None,
        metadata={
            "help": "Write a token budget into each training prompt, drawn uniformly from [low, high] (both "
            f"included; L1's: {list(L1_BUDGET_RANGE)}) with the run's seed, and add the `budget` column that "
            "length_reward l1_exact / l1_max reads. None: no budgets."
        },
    )
    budget_template: str = field(
        default="exact",
        metadata={
            "help": "The budget's sentence, appended to the user turn: 'exact' (L1's 'Think for {budget} tokens.'), "
            "'max' ('Think for maximum {budget} tokens.') or a string of your own containing '{budget}', and "
            "'{prompt}' to place the user's text (e.g. 'Think for {budget} tokens. {prompt}')."
        },
    )

    extra_rewards: dict[str, Any] | str | None = field(
        default=None,
        metadata={
            "help": "TRL's per-completion length rewards to add beside the correctness reward (and so to the chosen "
            f"length_reward), by name ({', '.join(EXTRA_REWARDS)}) with their trl.rewards factory's arguments: in "
            "YAML `extra_rewards: {soft_overlong_punishment: {max_completion_len: 32000, soft_punish_cache: 4000}}`, "
            "on the command line the same as JSON. None: none."
        },
    )

    def __post_init__(self) -> None:
        example = '{"soft_overlong_punishment": {"max_completion_len": 32000, "soft_punish_cache": 4000}}'
        self.extra_rewards = json_object(self.extra_rewards, "extra_rewards", example)
        extra_reward_funcs(self.extra_rewards)  # unknown names and arguments fail before anything loads
        if self.budget_range is not None:
            check_budget_range(self.budget_range)
        budget_template(self.budget_template)
        if self.num_train_problems is not None and self.num_train_problems < 1:
            raise ValueError(
                f"num_train_problems must be >= 1, got {self.num_train_problems}; leave it out to train on every "
                "problem."
            )


TRAIN_USAGE = """accelerate launch [--config_file accelerate_configs/zero2.yaml] recipes/train.py \\
           --config recipe.yaml [--field value ...]

  e.g.     recipes/train.py --config recipes/deepseek-r1-distill-qwen-1.5b/alpha_0.2.yaml --learning_rate 1e-6"""

TRAIN_DESCRIPTION = (
    "Train a model to reason efficiently (RL with a length-penalized reward). The recipe YAML given with --config "
    "sets every field below (the shipped ones are in recipes/<model>/alpha_<alpha>.yaml); a command-line flag "
    "overrides the YAML. Relaunching the same command resumes the run in output_dir."
)


def make_parser(trainer: str) -> TrlParser:
    if trainer not in TRAINERS:
        raise ValueError(f"trainer must be one of {sorted(TRAINERS)}, got {trainer!r}.")
    return TrlParser(
        (TrainScriptArguments, TRAINERS[trainer][1], ModelConfig), usage=TRAIN_USAGE, description=TRAIN_DESCRIPTION
    )


def _chosen_trainer(argv: list[str] | None) -> str:
    """Read `trainer` from the command line or the YAML before the full parse (the config class depends on it)."""
    peek = argparse.ArgumentParser(add_help=False)
    peek.add_argument("--config")
    peek.add_argument("--trainer")
    known, _ = peek.parse_known_args(argv)
    trainer = known.trainer or "grpo"
    if known.config:
        config = read_config(known.config)
        trainer = known.trainer or config.get("trainer", "grpo")
    if trainer not in TRAINERS:
        make_parser("grpo").error(f"--trainer must be one of {list(TRAINERS)}, got {trainer!r}.")
    return trainer


def read_config(path: str) -> dict[str, Any]:
    """The recipe YAML at `path` as a mapping of field: value; anything else is a usage error naming the fix."""
    parser = make_parser("grpo")
    try:
        with open(path) as f:
            config = yaml.safe_load(f)
    except OSError as error:
        parser.error(f"--config {path}: {error.strerror or error}.")
    except yaml.YAMLError as error:
        parser.error(f"--config {path} is not valid YAML: {error}")
    if config is not None and not isinstance(config, dict):
        parser.error(
            f"--config {path} must hold a mapping of field: value (e.g. `learning_rate: 1e-6`), got a "
            f"{type(config).__name__}."
        )
    return config or {}


def parse_training_arguments(argv: list[str] | None = None) -> tuple[TrainScriptArguments, Any, ModelConfig]:
    """Parse YAML (`--config`) and command-line overrides; unknown keys raise.

    A recipe written for one trainer works with the other: YAML fields that only the other trainer's config has
    (e.g. GRPO's `loss_type` under `--trainer rloo`) are left out, with a printed note naming them. Values that
    would fail only inside TRL or transformers, after the output directory exists, are usage errors here.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    trainer = _chosen_trainer(argv)
    parser = make_parser(trainer)
    config = read_config(argv[argv.index("--config") + 1]) if "--config" in argv else {}
    own = {f.name for f in fields(TRAINERS[trainer][1])}
    other = {f.name for name, (_, config_class) in TRAINERS.items() if name != trainer for f in fields(config_class)}
    check_options(parser, argv, config, also_allowed=other)  # typos first, before any other error
    dropped = sorted(key for key in config if key in other and key not in own)
    if not dropped:
        return _checked(parser, parser.parse_args_and_config(args=argv))
    config_index = argv.index("--config") + 1
    print(
        f"{trainer} has no {', '.join(f'{key}={config[key]!r}' for key in dropped)} (fields of another trainer's "
        f"config in {argv[config_index]}): left out."
    )
    with tempfile.TemporaryDirectory() as scratch:
        filtered = Path(scratch) / Path(argv[config_index]).name
        filtered.write_text(yaml.safe_dump({key: value for key, value in config.items() if key not in dropped}))
        argv[config_index] = str(filtered)
        return _checked(parser, parser.parse_args_and_config(args=argv))


def _checked(parser: TrlParser, parsed: tuple) -> tuple:
    _, training_args, _ = parsed
    if training_args.max_completion_length is not None and training_args.max_completion_length < 1:
        parser.error(f"--max_completion_length must be >= 1, got {training_args.max_completion_length}.")
    return parsed


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
    check_batch_sizes(script_args, training_args, PartialState().num_processes)

    dataset = load_problems(script_args.dataset_name, split=script_args.dataset_train_split)
    if script_args.num_train_problems is not None:
        dataset = dataset.select(range(min(script_args.num_train_problems, len(dataset))))
    check_gold_answers(dataset, script_args.dataset_name)
    dataset = to_prompts(dataset, script_args.prompt_template)
    data = {"dataset": script_args.dataset_name, "num_problems": len(dataset)}
    data["prompt_template"] = script_args.prompt_template
    if script_args.budget_range is not None:  # a budget-conditioned model: what its prompts asked for
        dataset, budget_data = with_sampled_budgets(
            dataset, script_args.budget_range, script_args.budget_template, seed=training_args.seed
        )
        data.update(budget_data)
    if not script_args.think_prefill:  # the authors' raw prompt, rendered once here as TRL would render the chat
        tokenizer = AutoTokenizer.from_pretrained(model_args.model_name_or_path, revision=model_args.model_revision)
        dataset = to_raw_prompts(dataset, tokenizer, getattr(training_args, "chat_template_kwargs", None))
        data["think_prefill"] = False
    for name in script_args.extra_rewards or {}:
        for column in EXTRA_REWARD_COLUMNS.get(name, ()):
            if column not in dataset.column_names:  # TRL's math-verify rewards read the gold answer as `solution`
                dataset = dataset.add_column(column, dataset["answer"])
    # The correctness reward first: the trainers scale the first reward function (correctness_reward_func)
    reward_funcs = [math_accuracy_reward, *extra_reward_funcs(script_args.extra_rewards)]
    return _train_resuming(script_args.trainer, training_args, model_args, dataset, data, script_args, reward_funcs)


def _model_init_kwargs(training_args: Any, model_args: ModelConfig) -> dict[str, Any]:
    if not model_args.model_name_or_path:
        raise ValueError("model_name_or_path is required (a hub name or a local directory).")
    check_model_reference(model_args.model_name_or_path)
    model_init_kwargs = {
        "revision": model_args.model_revision,
        "attn_implementation": model_args.attn_implementation,
        "dtype": model_args.dtype,
    }
    return {**model_init_kwargs, **(training_args.model_init_kwargs or {})}


def _train_resuming(
    kind: str,
    args: Any,
    model_args: ModelConfig,
    dataset: Any,
    data: dict[str, Any],
    script_args: Any = None,
    reward_funcs: list | None = None,
) -> Any | None:
    """Build the `kind` trainer ("grpo", "rloo", "sft", "dpo"; the RL ones with `reward_funcs`, default the
    correctness reward alone) and train, from the last complete checkpoint in output_dir if an earlier launch was
    interrupted; save the model, the training log and its provenance.json (also into every checkpoint; `data`
    describes the training data there). Returns the trainer, or None when output_dir already holds this run,
    finished.

    The run's settings go to output_dir/efficient_trl_run.json: a relaunch with other settings is refused (naming
    what differs) unless `script_args.overwrite_output_dir`, which deletes what the earlier run wrote there first
    (`rundir.clear_training_run`). An output_dir that is, lies inside or contains the start model (which is also
    the reference model) or the data is refused before anything is written.
    """
    trainer_class = {**TRAINERS, **BASELINES}[kind][0]
    args.model_init_kwargs = _model_init_kwargs(args, model_args)
    output_dir = Path(args.output_dir)
    check_output_dir_apart(
        output_dir,
        {
            "the start model (model_name_or_path)": model_args.model_name_or_path,
            "the training data": data["dataset"],
            "the chat template (chat_template_path)": getattr(args, "chat_template_path", None),
        },
    )
    settings = run_settings(trainer_class, args, model_args, script_args)
    is_main = args.process_index == 0
    if getattr(script_args, "overwrite_output_dir", False):
        kept = clear_training_run(output_dir, delete=is_main)
        if is_main and output_dir.exists():
            print(
                f"--overwrite_output_dir: deleted the earlier run in {output_dir}"
                + (f"; kept the files it did not write: {', '.join(kept)}" if kept else "")
            )
        resume_from = args.resume_from_checkpoint
    else:
        check_same_run(output_dir, settings)
        if finished(output_dir):
            if is_main:
                print(
                    f"{output_dir} holds this run, finished (trainer_state.json at its last step): nothing to do. "
                    "Pass --overwrite_output_dir true to train it again from the start."
                )
            return None
        resume_from = args.resume_from_checkpoint or last_complete_checkpoint(
            output_dir, world_size=args.world_size, save_only_model=args.save_only_model
        )
    if is_main:
        output_dir.mkdir(parents=True, exist_ok=True)
        write_atomically(output_dir / RUN_SETTINGS_FILE, json.dumps(settings, indent=1) + "\n")
    card_section = read_card_section(output_dir / "README.md")
    peft_config = get_peft_config(model_args)
    provenance = training_provenance(
        kind, args, model_args.model_name_or_path, data, lora=peft_config is not None,
        extra_rewards=getattr(script_args, "extra_rewards", None),
    )  # fmt: skip
    # the RL trainers write provenance.json into every checkpoint themselves (save_model, given it by train_and_save);
    # TRL's SFT/DPO by callback
    extra = {"reward_funcs": reward_funcs} if kind in TRAINERS else {}
    callbacks = [] if kind in TRAINERS else [ProvenanceCallback(provenance)]
    trainer = trainer_class(
        model=model_args.model_name_or_path, args=args, train_dataset=dataset, peft_config=peft_config,
        callbacks=callbacks, **extra,
    )  # fmt: skip
    if resume_from:
        trainer.accelerator.print(f"Resuming from {resume_from}")
    try:
        train_and_save(trainer, args.output_dir, provenance, resume_from_checkpoint=resume_from)
    finally:
        if card_section and trainer.is_world_process_zero():  # TRL rewrites README.md at every save
            restore_card_section(output_dir / "README.md", card_section)
    return trainer


class ProvenanceCallback(TrainerCallback):
    """Writes the run's provenance.json into every checkpoint-N/ TRL saves, so that a checkpoint evaluated on its
    own records how it was trained (with its own step)."""

    def __init__(self, provenance: dict[str, Any]) -> None:
        self.provenance = provenance

    def on_save(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        checkpoint = Path(args.output_dir) / f"checkpoint-{state.global_step}"
        if state.is_world_process_zero and checkpoint.is_dir():
            write_provenance(checkpoint, {**self.provenance, "global_step": state.global_step})


@dataclass
class BaselineScriptArguments:
    dataset_path: str = field(
        default="data/rejection-sampling/sft",
        metadata={"help": "The sft/ or dpo/ directory written by recipes/rejection_sampling.py."},
    )
    overwrite_output_dir: bool = field(default=False, metadata={"help": _OVERWRITE_HELP})


BASELINES = {"sft": (SFTTrainer, SFTConfig), "dpo": (DPOTrainer, DPOConfig)}


def train_baseline(kind: str, argv: list[str] | None = None) -> Any:
    """The SFT or DPO baseline on rejection-sampled data, with TRL's own trainer; YAML (`--config`) and overrides."""
    if kind not in BASELINES:
        raise ValueError(f"kind must be one of {sorted(BASELINES)}, got {kind!r}.")
    config_class = BASELINES[kind][1]
    parser = TrlParser(
        (BaselineScriptArguments, config_class, ModelConfig),
        usage=f"accelerate launch recipes/{kind}.py --config recipes/<model>/{kind}_lr_<lr>.yaml [--field value ...]",
        description=f"The {kind.upper()} baseline on rejection-sampled data (recipes/rejection_sampling.py).",
    )
    argv = list(sys.argv[1:] if argv is None else argv)
    check_options(parser, argv)  # typos first, before any other error
    script_args, training_args, model_args = parser.parse_args_and_config(args=argv)
    dataset = load_from_disk(script_args.dataset_path)
    if len(dataset) == 0:
        raise ValueError(
            f"{script_args.dataset_path} holds no examples: rejection sampling found no usable responses "
            "(see its report.json)."
        )
    data = {"dataset": script_args.dataset_path, "num_problems": len(dataset), "prompt_template": None}
    return _train_resuming(kind, training_args, model_args, dataset, data, script_args)
