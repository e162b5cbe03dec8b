"""The configs' defaults: TRL's, under the names transformers 5 uses, so that no setting of ours warns."""

import re
import warnings
from pathlib import Path

import pytest
from accelerate.commands.config.config_args import load_config_from_file
from trl import DPOConfig, SFTConfig

from efficient_trl import EfficientGRPOConfig, EfficientGRPOTrainer, EfficientRLOOConfig, EfficientRLOOTrainer
from efficient_trl.synthetic import sum_problems
from efficient_trl.testing import TWO_TERM_SUMS, quickstart_defaults
from efficient_trl.training import CPU_TRAINING_KWARGS, check_batch_sizes, parse_training_arguments

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


ROOT = Path(__file__).resolve().parents[1]
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
