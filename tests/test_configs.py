"""The configs' defaults: TRL's, under the names transformers 5 uses, so that no setting of ours warns; every
recipe YAML bounds the checkpoints it keeps and states whether they hold the optimizer state."""

import re
import warnings
from pathlib import Path

import pytest
import yaml
from accelerate.commands.config.config_args import load_config_from_file
from trl import DPOConfig, SFTConfig

from efficient_trl import EfficientGRPOConfig, EfficientGRPOTrainer, EfficientRLOOConfig, EfficientRLOOTrainer
from efficient_trl.scripts.quickstart import quickstart_defaults
from efficient_trl.synthetic import sum_problems
from efficient_trl.testing import TWO_TERM_SUMS
from efficient_trl.training import CPU_TRAINING_KWARGS, check_batch_sizes, parse_training_arguments

ROOT = Path(__file__).resolve().parents[1]
RECIPE_YAMLS = sorted((ROOT / "recipes").rglob("*.yaml"))

# What TRL 1.16's own code still calls by transformers 5's deprecated names, whatever the settings
# (trl.models.utils.disable_gradient_checkpointing, around generation): not ours to fix.
TRLS_OWN = (
    "`is_gradient_checkpointing` is",
    "`gradient_checkpointing_disable` is",
    "`gradient_checkpointing_enable` is",
)


def deprecations(caught: list[warnings.WarningMessage]) -> list[str]:
    return [str(w.message) for w in caught if issubclass(w.category, (FutureWarning, DeprecationWarning))]


@pytest.mark.parametrize("config_class", [EfficientGRPOConfig, EfficientRLOOConfig, SFTConfig, DPOConfig])
def test_the_cpu_settings_set_activation_checkpointing_without_a_warning(config_class, tmp_path):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        args = config_class(output_dir=str(tmp_path), **CPU_TRAINING_KWARGS)
    assert deprecations(caught) == []
    # CPU runs turn it off (a tiny model would only recompute its forward pass), under transformers 5's name
    assert args.activation_checkpointing is False and args.gradient_checkpointing is False


@pytest.mark.parametrize("config_class", [EfficientGRPOConfig, EfficientRLOOConfig])
def test_the_old_name_still_works_and_warns_only_when_written(config_class, tmp_path):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        plain = config_class(output_dir=str(tmp_path), use_cpu=True)
        off = config_class(output_dir=str(tmp_path), use_cpu=True, activation_checkpointing=False)
    assert deprecations(caught) == []
    assert plain.activation_checkpointing is True and off.activation_checkpointing is False
    with pytest.warns(FutureWarning, match="`gradient_checkpointing` is deprecated"):
        old = config_class(output_dir=str(tmp_path), use_cpu=True, gradient_checkpointing=False)
    assert old.activation_checkpointing is False and old.gradient_checkpointing is False


@pytest.mark.parametrize(
    "trainer_class, config_class",
    [(EfficientGRPOTrainer, EfficientGRPOConfig), (EfficientRLOOTrainer, EfficientRLOOConfig)],
    ids=["grpo", "rloo"],
)
def test_a_training_step_with_our_settings_warns_only_of_trls_own_calls(
    trainer_class, config_class, tiny_model_path, tmp_path
):
    settings = {**quickstart_defaults(), "output_dir": str(tmp_path), "max_steps": 1, "max_completion_length": 8}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        args = config_class(**settings)
        trainer = trainer_class(
            model=tiny_model_path, args=args, train_dataset=sum_problems(8, seed=0, **TWO_TERM_SUMS)
        )
        trainer.train()
    assert trainer.state.global_step == 1
    assert [message for message in deprecations(caught) if not message.startswith(TRLS_OWN)] == []


def test_the_recipes_are_found():
    assert len(RECIPE_YAMLS) >= 25 and {path.parent.name for path in RECIPE_YAMLS} >= {
        "deepseek-r1-distill-qwen-1.5b",
        "deepseek-r1-distill-qwen-7b",
    }


@pytest.mark.parametrize("recipe", RECIPE_YAMLS, ids=lambda path: f"{path.parent.name}/{path.stem}")
def test_every_recipe_bounds_its_checkpoints_and_says_why_they_keep_the_optimizer(recipe):
    """A 200-step run saving every 20 steps with no limit would keep 10 checkpoints of weights plus fp32 optimizer
    states (about 290 GB for the 1.5B model, 1.1 TB for the 7B; README, "Disk per run"). Each recipe keeps at most 2,
    and keeps their optimizer, scheduler and RNG state (`save_only_model: false`, written out with its reason):
    resuming exactly, the README's guarantee, needs them."""
    text = recipe.read_text()
    config = yaml.safe_load(text)
    assert config.get("save_strategy") == "steps" and config["save_steps"] >= 1
    assert config["save_total_limit"] in (1, 2)
    assert config["save_only_model"] is False
    # the reason, in the comment lines just above save_only_model
    reason = re.search(r"((?:#.*\n)+)save_only_model: false\n", text)
    assert reason and re.search(r"optimizer.*resuming (RL )?exactly needs", reason.group(1), re.S), recipe
    rl = recipe.stem.startswith(("alpha_", "authors_code_alpha_", "l1_", "lora_", "adapt_think"))
    assert config["save_total_limit"] == (2 if rl else 1)
    if rl:  # the value the trainer gets, through the real parser (on this CPU)
        _, args, _ = parse_training_arguments(["--config", str(recipe), "--bf16", "false", "--use_cpu", "true"])
        assert (args.save_total_limit, args.save_only_model) == (2, False)


def test_the_readmes_disk_per_run_is_the_arithmetic_of_the_recipes():
    """README's "Disk per run" table, recomputed from the parameter counts of the models' config.json (gpu_shapes)
    and each recipe's checkpoint settings and DeepSpeed stage: a checkpoint holds the bf16 weights (2 bytes per
    parameter), the fp32 master weights and Adam's two moments (12) and, under ZeRO-2, DeepSpeed's bf16 copy of the
    module (2); the final model is the bf16 weights. Computed, not measured (the README says so)."""
    from accelerate.commands.config.config_args import load_config_from_file

    from efficient_trl.gpu_shapes import R1_DISTILL_QWEN_1_5B, R1_DISTILL_QWEN_7B, parameter_count

    readme = (ROOT / "README.md").read_text()
    assert "**Disk per run** (computed from parameter counts, not measured)" in readme
    columns, kept, every = [], set(), set()
    for shape, folder in ((R1_DISTILL_QWEN_1_5B, "1.5b"), (R1_DISTILL_QWEN_7B, "7b")):
        text = (ROOT / "recipes" / f"deepseek-r1-distill-qwen-{folder}" / "alpha_0.2.yaml").read_text()
        recipe = yaml.safe_load(text)
        launcher = re.search(r"accelerate_configs/(\w+)\.yaml", text).group(1)
        stage = load_config_from_file(str(ROOT / "accelerate_configs" / f"{launcher}.yaml")).deepspeed_config
        per_parameter = 2 + 12 + (2 if stage["zero_stage"] < 3 else 0)
        params = parameter_count(shape)
        assert f"{params:,}" in readme  # the count the paragraph quotes
        final, checkpoint, billions = 2 * params / 1e9, per_parameter * params / 1e9, f"{params / 1e9:.3f}e9"
        limit, unbounded = recipe["save_total_limit"], recipe["max_steps"] // recipe["save_steps"]
        kept.add(limit)
        every.add(unbounded)
        columns.append(
            [
                f"2 x {billions} = {final:.1f} GB",
                f"{per_parameter} x {billions} = {checkpoint:.1f} GB",
                f"{limit} x {checkpoint:.1f} + {final:.1f} = {limit * checkpoint + final:.1f} GB",
                f"{limit + 1} x {checkpoint:.1f} = {(limit + 1) * checkpoint:.1f} GB",
                f"{unbounded} x {checkpoint:.1f} + {final:.1f} = {unbounded * checkpoint + final:,.1f} GB",
            ]
        )
    assert kept == {2} and every == {10}  # the rows' labels say 2 kept, a third written, 10 without a limit
    labels = [
        "final model (bf16)",
        "one checkpoint",
        "end of the run: 2 checkpoints + final model",
        "peak, while a third checkpoint is written",
        "without `save_total_limit` (10 checkpoints, steps 20 to 200)",
    ]
    for label, small, large in zip(labels, *columns, strict=True):
        assert f"| {label} | {small} | {large} |" in readme


AUTHORS_CODE_RECIPES = sorted(ROOT.glob("recipes/*/authors_code_alpha_*.yaml"))


def test_every_paper_recipe_has_an_authors_code_twin():
    paper = {path.relative_to(ROOT / "recipes") for path in ROOT.glob("recipes/*/alpha_*.yaml")}
    twins = {path.relative_to(ROOT / "recipes").with_name(path.name.removeprefix("authors_code_")) for path in
             AUTHORS_CODE_RECIPES}  # fmt: skip
    assert twins == paper and len(paper) == 10


@pytest.mark.parametrize("recipe", AUTHORS_CODE_RECIPES, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_an_authors_code_recipe_is_its_paper_recipe_plus_the_two_switches(recipe):
    # Everything else, the batch arithmetic included, is the paper recipe's (tests/test_recipes.py checks those).
    cpu = ["--bf16", "false", "--use_cpu", "true"]
    paper = recipe.with_name(recipe.name.removeprefix("authors_code_"))
    script_args, args, model_args = parse_training_arguments(["--config", str(recipe), *cpu])
    paper_script_args, paper_args, paper_model_args = parse_training_arguments(["--config", str(paper), *cpu])
    assert (args.advantage_normalization, args.kl_in_reward) == ("batch_token", True)
    assert (paper_args.advantage_normalization, paper_args.kl_in_reward) == ("none", False)
    assert args.output_dir == f"runs/{recipe.parent.name}/{recipe.stem}"
    differing = {k for k, v in args.to_dict().items() if paper_args.to_dict()[k] != v}
    assert differing == {"advantage_normalization", "kl_in_reward", "output_dir"}, differing
    assert (script_args, model_args) == (paper_script_args, paper_model_args)
    launch = re.search(
        r"--config_file accelerate_configs/(\w+)\.yaml recipes/train\.py --config (\S+)", recipe.read_text()
    )
    assert launch.group(2) == f"recipes/{recipe.parent.name}/{recipe.name}"
    processes = load_config_from_file(str(ROOT / "accelerate_configs" / f"{launch.group(1)}.yaml")).num_processes
    check_batch_sizes(script_args, args, processes)
