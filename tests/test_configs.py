"""The configs' defaults: TRL's, under the names transformers 5 uses, so that no setting of ours warns."""

import warnings

import pytest
from trl import DPOConfig, SFTConfig

from efficient_trl import EfficientGRPOConfig, EfficientGRPOTrainer, EfficientRLOOConfig, EfficientRLOOTrainer
from efficient_trl.scripts.quickstart import quickstart_defaults
from efficient_trl.synthetic import sum_problems
from efficient_trl.testing import TWO_TERM_SUMS
from efficient_trl.training import CPU_TRAINING_KWARGS

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
