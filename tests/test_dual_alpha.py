"""A target mean length instead of alpha: the dual-ascent step, the config's checks, a real training run that moves
alpha and logs it every step, and a resumed run that carries on with the checkpoint's alpha."""

import json

import pytest

from efficient_trl import EfficientGRPOConfig, EfficientGRPOTrainer, EfficientRLOOConfig, EfficientRLOOTrainer
from efficient_trl.dual_alpha import DualAlphaCallback, dual_alpha_step
from efficient_trl.provenance import read_provenance
from efficient_trl.synthetic import sum_problems
from efficient_trl.testing import TWO_TERM_SUMS

from .recording import even_token_sum
from .test_trainers import make_args

TRAINERS = [(EfficientRLOOTrainer, EfficientRLOOConfig), (EfficientGRPOTrainer, EfficientGRPOConfig)]
TRAINER_IDS = ["rloo", "grpo"]


def test_the_step_raises_alpha_when_too_long_and_lowers_it_when_too_short():
    assert dual_alpha_step(0.2, 120.0, 100.0, 0.5, 0.9) == pytest.approx(0.2 + 0.5 * 0.2)
    assert dual_alpha_step(0.2, 80.0, 100.0, 0.5, 0.9) == pytest.approx(0.2 - 0.5 * 0.2)
    assert dual_alpha_step(0.2, 100.0, 100.0, 0.5, 0.9) == 0.2  # on target: unchanged


def test_the_step_is_projected_onto_zero_to_alpha_max():
    assert dual_alpha_step(0.85, 200.0, 100.0, 0.5, 0.9) == 0.9
    assert dual_alpha_step(0.05, 10.0, 100.0, 0.5, 0.9) == 0.0
    assert dual_alpha_step(0.0, 10.0, 100.0, 0.5, 0.9) == 0.0  # stays at no penalty while too short


def test_the_step_refuses_bad_arguments():
    with pytest.raises(ValueError, match="target > 0"):
        dual_alpha_step(0.2, 50.0, 0.0, 0.5, 0.9)
    with pytest.raises(ValueError, match="finite mean length"):
        dual_alpha_step(0.2, float("nan"), 100.0, 0.5, 0.9)


@pytest.mark.parametrize("config_class", [EfficientGRPOConfig, EfficientRLOOConfig], ids=["grpo", "rloo"])
@pytest.mark.parametrize(
    "fields, message",
    [
        ({"target_mean_tokens": 0}, r"target_mean_tokens must be a positive number of tokens .* got 0"),
        ({"target_mean_tokens": -5.0}, r"target_mean_tokens must be a positive number"),
        ({"target_mean_tokens": "60"}, r"target_mean_tokens must be a positive number"),
        (
            {"target_mean_tokens": 60, "length_reward": "kimi"},
            r"adjusts the paper's alpha \(length_reward 'sigmoid'\), but length_reward='kimi': set length_reward=",
        ),
        ({"target_mean_tokens": 60, "length_penalty_alpha_step_size": 0}, r"step_size must be a positive number"),
        ({"target_mean_tokens": 60, "length_penalty_alpha_max": 1.0}, r"length_penalty_alpha_max must be in \(0, 1\)"),
        (
            {"target_mean_tokens": 60, "length_penalty_alpha": 0.6, "length_penalty_alpha_max": 0.5},
            r"length_penalty_alpha=0.6, the starting alpha .* is above length_penalty_alpha_max=0.5: lower it",
        ),
    ],
)
def test_the_config_refuses_a_bad_target(config_class, fields, message, tmp_path):
    with pytest.raises(ValueError, match=message):
        config_class(output_dir=str(tmp_path), use_cpu=True, report_to="none", **fields)


def test_the_config_fields_do_nothing_without_a_target(tmp_path):
    # alpha above the default alpha_max is fine when alpha is not controlled
    args = EfficientGRPOConfig(output_dir=str(tmp_path), use_cpu=True, report_to="none", length_penalty_alpha=0.8)
    assert args.target_mean_tokens is None and args.length_penalty_alpha == 0.8


def _logged_steps(trainer):
    return [entry for entry in trainer.state.log_history if "loss" in entry]


@pytest.mark.parametrize("trainer_class, config_class", TRAINERS, ids=TRAINER_IDS)
def test_training_moves_alpha_towards_the_target_and_logs_it_every_step(
    trainer_class, config_class, tiny_model_path, tmp_path
):
    # From length_penalty_alpha, alpha moves every step by step_size * the batch's relative gap to the target (the
    # tiny model writes 3-6 tokens here: a target of 4 is crossed both ways), within [0, alpha_max].
    args = make_args(
        config_class, tmp_path, max_steps=4, target_mean_tokens=4, length_penalty_alpha=0.1,
        length_penalty_alpha_step_size=0.05, length_penalty_alpha_max=0.3,
    )  # fmt: skip
    trainer = trainer_class(
        model=tiny_model_path,
        reward_funcs=even_token_sum,
        args=args,
        train_dataset=sum_problems(8, seed=0, **TWO_TERM_SUMS),
    )
    trainer.train()
    logs = _logged_steps(trainer)
    assert len(logs) == 4
    expected = 0.1
    for entry in logs:
        assert entry["efficiency/alpha"] == pytest.approx(expected)
        gap = entry["efficiency/target_gap"]
        assert gap == pytest.approx((entry["efficiency/mean_penalized_tokens"] - 4) / 4)
        expected = min(max(expected + 0.05 * gap, 0.0), 0.3)
    assert len({round(entry["efficiency/alpha"], 9) for entry in logs}) == 4  # a new alpha at every step
    trainer.save_model()
    reward = read_provenance(tmp_path / "out")["length_reward"]
    assert reward["alpha"] == 0.1 and reward["target_mean_tokens"] == 4  # the start alpha and the target
    assert reward["final_alpha"] == pytest.approx(expected)  # after the last step's update
    assert (reward["alpha_step_size"], reward["alpha_max"]) == (0.05, 0.3)


@pytest.mark.parametrize("restore_callbacks", [False, True], ids=["default", "restore_callback_states"])
def test_a_resumed_run_carries_on_with_the_checkpoints_alpha(restore_callbacks, tiny_model_path, tmp_path):
    fields = dict(
        max_steps=3, target_mean_tokens=4, length_penalty_alpha=0.1, length_penalty_alpha_step_size=0.05,
        length_penalty_alpha_max=0.9, save_strategy="steps", save_steps=1,
        restore_callback_states_from_checkpoint=restore_callbacks,
    )  # fmt: skip
    dataset = sum_problems(8, seed=0, **TWO_TERM_SUMS)

    def trainer():
        args = make_args(EfficientGRPOConfig, tmp_path, **fields)
        return EfficientGRPOTrainer(
            model=tiny_model_path, reward_funcs=even_token_sum, args=args, train_dataset=dataset
        )

    whole = trainer()
    whole.train()
    alphas = [entry["efficiency/alpha"] for entry in _logged_steps(whole)]
    saved = json.loads((tmp_path / "out" / "checkpoint-2" / "trainer_state.json").read_text())
    saved_alpha = saved["stateful_callbacks"]["DualAlphaCallback"]["attributes"]["alpha"]
    assert saved_alpha > 0.1  # moved during the first two steps

    fields["target_mean_tokens"] = 5  # the resumed run's config decides the target; alpha comes from the checkpoint
    resumed = trainer()
    resumed.train(resume_from_checkpoint=str(tmp_path / "out" / "checkpoint-2"))
    assert resumed._dual_alpha().alpha != 0.1
    logs = _logged_steps(resumed)  # steps 1 and 2 from the checkpoint's log, step 3 trained now
    assert [entry["step"] for entry in logs] == [1, 2, 3]
    # the resumed step was rewarded with the alpha the checkpoint saved, the one the whole run used at step 3
    assert logs[2]["efficiency/alpha"] == pytest.approx(saved_alpha) == pytest.approx(alphas[2])
    assert logs[2]["efficiency/target_gap"] == pytest.approx((logs[2]["efficiency/mean_penalized_tokens"] - 5) / 5)


def test_the_callback_state_round_trips():
    callback = DualAlphaCallback(0.1, 60.0, 0.2, 0.5)
    callback.update(90.0)
    copy = DualAlphaCallback.from_state(callback.state())
    assert copy.alpha == callback.alpha == pytest.approx(0.1 + 0.2 * 0.5)
    assert (copy.target, copy.step_size, copy.alpha_max) == (60.0, 0.2, 0.5)


def test_the_model_card_says_alpha_was_controlled():
    from efficient_trl.analysis import provenance_fields
    from efficient_trl.model_card import model_card_section

    reward = {"name": "sigmoid", "alpha": 0.1, "measure": "completion", "target_mean_tokens": 60, "final_alpha": 0.37}
    provenance = {
        "schema": 1, "trainer": "grpo", "base_model": {"name_or_path": "a/base", "fingerprint": "f"},
        "length_reward": {**reward, "alpha_step_size": 0.1, "alpha_max": 0.5}, "advantage_normalization": "none",
        "learning_rate": 1e-6, "max_steps": 100, "global_step": 100, "seed": 0, "num_generations": 8, "beta": 1e-3,
        "data": {"dataset": "you/math", "num_problems": 10}, "lora": False,
    }  # fmt: skip
    row = {"dataset": "gsm8k", "accuracy": 0.8, "accuracy_stderr": 0.01, "mean_tokens": 100.0}
    rows = [
        {**row, "name": "base", "family": "start", "model": "a/base"},
        {**row, "name": "mine", "mean_tokens": 60.0, "provenance": provenance, **provenance_fields(provenance)},
    ]
    section = model_card_section(rows, model="mine", start="base", provenance=provenance)
    assert "with alpha adjusted towards a mean of 60 tokens (from 0.1, ending at 0.37)" in section
    assert "at alpha = 0.1" not in section
