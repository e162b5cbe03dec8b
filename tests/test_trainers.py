import math

import pytest
import torch
from datasets import Dataset
from transformers import AutoTokenizer

from efficient_trl import EfficientGRPOConfig, EfficientGRPOTrainer, EfficientRLOOConfig, EfficientRLOOTrainer
from efficient_trl.rewards import kl_returns, normalize_advantages, whiten_tokens
from efficient_trl.synthetic import sum_problems
from efficient_trl.testing import TWO_TERM_SUMS, build_tiny_tokenizer

from .recording import even_token_sum, expected_advantages, recorded_run

TRAINERS = [(EfficientRLOOTrainer, EfficientRLOOConfig), (EfficientGRPOTrainer, EfficientGRPOConfig)]
TRAINER_IDS = ["rloo", "grpo"]
EOS_ID = build_tiny_tokenizer().eos_token_id


def make_args(config_class, tmp_path, **overrides):
    arguments = dict(
        output_dir=str(tmp_path / "out"),
        use_cpu=True,
        bf16=False,
        per_device_train_batch_size=8,
        num_generations=4,
        max_completion_length=16,
        max_steps=2,
        learning_rate=1e-3,
        logging_steps=1,
        save_strategy="no",
        report_to="none",
        seed=0,
        length_penalty_alpha=0.2,
        # A random model rarely samples EOS: bias it so that groups mix finished and truncated completions.
        generation_kwargs={"sequence_bias": {(EOS_ID,): 3.5}},
    )
    arguments.update(overrides)
    return config_class(**arguments)


@pytest.mark.parametrize("trainer_class, config_class", TRAINERS, ids=TRAINER_IDS)
@pytest.mark.parametrize("normalization", ["none", "group", "batch", "batch_token"])
def test_advantages_are_exact_rloo(trainer_class, config_class, normalization, tiny_model_path, tmp_path):
    args = make_args(config_class, tmp_path, beta=0.0, advantage_normalization=normalization)
    trainer, terminators = recorded_run(trainer_class, tiny_model_path, args)
    assert len(trainer.records) == 2
    saw_mixed_group = False
    logged = [entry for entry in trainer.state.log_history if "loss" in entry]  # one generation per logged step
    for record, entry in zip(trainer.records, logged, strict=True):
        rewards, expected = expected_advantages(record["completion_ids"], terminators, 4, 0.2, normalization)
        assert torch.allclose(torch.tensor(record["advantages"]), expected, atol=1e-5)
        saw_mixed_group |= bool((rewards.view(-1, 4).gt(0).sum(1) >= 2).any())
        correct = rewards > 0  # a correct, finished completion earns 1 - alpha * sigmoid(z) > 0
        assert entry["efficiency/accuracy"] == pytest.approx(correct.float().mean().item())  # not the penalized mean
        # TRL's own metric of the replaced column is named for what it holds: the shaped reward, not the accuracy
        assert entry["rewards/length_reward/mean"] == pytest.approx(rewards.mean().item(), abs=1e-6)
        assert "rewards/even_token_sum/mean" not in entry
        if correct.any():
            assert entry["efficiency/length_penalty"] == pytest.approx((1 - rewards[correct]).mean().item(), abs=1e-6)
    assert saw_mixed_group, "no group had two correct completions: the test would not exercise the length penalty"


@pytest.mark.parametrize("trainer_class, config_class", TRAINERS, ids=TRAINER_IDS)
def test_end_to_end_training_logs_the_efficiency_metrics(trainer_class, config_class, tiny_model_path, tmp_path):
    # Default KL (beta = 1e-3, so a reference model is built from the saved path) and the math reward alongside.
    from efficient_trl import math_accuracy_reward

    args = make_args(config_class, tmp_path, correctness_reward_func="even_token_sum", max_steps=3)
    trainer = trainer_class(
        model=tiny_model_path,
        reward_funcs=[math_accuracy_reward, even_token_sum],
        args=args,
        train_dataset=sum_problems(16, seed=0, **TWO_TERM_SUMS),
    )
    before = {name: p.detach().clone() for name, p in trainer.model.named_parameters()}
    trainer.train()
    logs = [entry for entry in trainer.state.log_history if "loss" in entry]
    assert len(logs) == 3
    for entry in logs:
        assert math.isfinite(entry["loss"])
        for key in ("accuracy", "groups_0_correct", "groups_1_correct", "groups_2plus_correct", "no_think_rate"):
            assert f"efficiency/{key}" in entry
        # no completion of a random model closes a thinking it never opened: all think, and the think mode's figures
        # are the step's
        assert entry["efficiency/no_think_rate"] == 0 and "efficiency/no_think/mean_tokens" not in entry
        assert entry["efficiency/think/accuracy"] == entry["efficiency/accuracy"]
        assert entry["efficiency/groups_0_correct"] + entry["efficiency/groups_1_correct"] + entry[
            "efficiency/groups_2plus_correct"
        ] == pytest.approx(1.0)
        assert "kl" in entry
    assert any("efficiency/correct_mean_tokens" in entry for entry in logs)
    assert any("efficiency/length_penalty" in entry for entry in logs)
    changed = any(not torch.equal(before[name], p) for name, p in trainer.model.named_parameters())
    assert changed, "training did not update the model"


@pytest.mark.parametrize("config_class", [EfficientRLOOConfig, EfficientGRPOConfig])
def test_config_rejects_bad_arguments(config_class, tmp_path):
    with pytest.raises(ValueError, match="length_penalty_alpha must be in"):
        make_args(config_class, tmp_path, length_penalty_alpha=1.0)
    with pytest.raises(ValueError, match="advantage_normalization must be one of"):
        make_args(config_class, tmp_path, advantage_normalization="std")
    with pytest.raises(ValueError, match="at least 2 generations"):
        make_args(config_class, tmp_path, num_generations=1)


@pytest.mark.parametrize("kl_in_reward", [True, False], ids=["kl_in_reward", "kl_in_loss"])
def test_kl_in_reward_puts_k1_returns_inside_the_token_whitening(kl_in_reward, tiny_model_path, tmp_path):
    # Two optimizer steps per generation batch, so TRL keeps the sampling policy's log-probabilities; the second
    # batch is sampled after two updates, so the policy has left the reference; a large beta makes the KL share show.
    beta = 0.5
    args = make_args(
        EfficientGRPOConfig, tmp_path, beta=beta, steps_per_generation=2, advantage_normalization="batch_token",
        kl_in_reward=kl_in_reward, max_steps=4,
    )  # fmt: skip
    trainer, terminators = recorded_run(EfficientGRPOTrainer, tiny_model_path, args)
    assert len(trainer.records) == 2  # generation batches of 16, each for two steps
    record = trainer.records[1]
    ids = record["completion_ids"]
    lengths = torch.tensor([len(row) for row in ids])
    mask = (torch.arange(lengths.max()) < lengths[:, None]).float()
    k1 = (torch.tensor(record["old_per_token_logps"]) - torch.tensor(record["ref_per_token_logps"]))[
        :, : mask.shape[1]
    ]
    logged = [entry for entry in trainer.state.log_history if "loss" in entry][2]  # the second batch's first step
    # The metric beside the length penalty: beta * the summed k1 KL, averaged over the completions.
    kl_penalty = (beta * (k1 * mask).sum(1)).mean().item()
    assert kl_penalty != 0 and logged["efficiency/kl_penalty"] == pytest.approx(kl_penalty, rel=1e-5)
    trained = torch.tensor(record["advantages"])
    if not kl_in_reward:  # TRL's k3 KL stays in the loss, and the advantages are the sequences' (TRL logs "kl")
        _, expected = expected_advantages(ids, terminators, 4, 0.2, "batch_token")
        assert torch.allclose(trained, expected, atol=1e-5) and "kl" in logged
        return
    rewards, rloo = expected_advantages(ids, terminators, 4, 0.2, "none")
    expected = whiten_tokens((rloo[:, None] - beta * kl_returns(k1, mask)) * mask, mask)
    trained = trained[:, : mask.shape[1]]
    assert torch.allclose(trained * mask, expected * mask, atol=1e-5)
    without_kl = normalize_advantages(rloo, rewards, 4, "batch_token", completion_lengths=lengths)
    assert not torch.allclose(trained * mask, without_kl[:, None] * mask, atol=1e-3)  # the KL share shows
    assert "kl" not in logged  # no KL term in the loss: TRL computes and logs it only where it adds it


@pytest.mark.parametrize(
    "config_class, overrides, message",
    [
        (EfficientRLOOConfig, {}, "Use trainer grpo"),
        (EfficientGRPOConfig, {"advantage_normalization": "batch"}, "use 'batch_token'"),
        (EfficientGRPOConfig, {"beta": 0.0}, "needs beta > 0"),
        (EfficientGRPOConfig, {"steps_per_generation": 1}, "Set steps_per_generation to twice"),
    ],
)
def test_kl_in_reward_refuses_what_cannot_carry_it(config_class, overrides, message, tmp_path):
    with pytest.raises(ValueError, match=message):
        make_args(config_class, tmp_path, **{"kl_in_reward": True, "steps_per_generation": 2, **overrides})


def test_trl_normalization_switches_point_to_ours(tmp_path):
    with pytest.raises(ValueError, match="advantage_normalization='batch'"):
        make_args(EfficientRLOOConfig, tmp_path, normalize_advantages=True)
    with pytest.raises(ValueError, match="scale_rewards='none'"):
        make_args(EfficientGRPOConfig, tmp_path, scale_rewards="group")


def test_paper_defaults(tmp_path):
    for config_class in (EfficientRLOOConfig, EfficientGRPOConfig):
        args = config_class(output_dir=str(tmp_path), use_cpu=True, bf16=False, per_device_train_batch_size=8)
        assert (args.num_generations, args.beta, args.length_penalty_alpha) == (8, 1e-3, 0.0)
        assert args.advantage_normalization == "none" and args.length_penalty_measure == "completion"
    grpo = EfficientGRPOConfig(output_dir=str(tmp_path), use_cpu=True, bf16=False, per_device_train_batch_size=8)
    # the authors' per-sequence mean loss, and no vLLM importance-sampling reweighting (see the field's help)
    assert grpo.loss_type == "grpo" and grpo.vllm_importance_sampling_correction is False
    with pytest.raises(ValueError, match="length_penalty_measure must be one of"):
        make_args(EfficientGRPOConfig, tmp_path, length_penalty_measure="reasoning")


@pytest.mark.parametrize("trainer_class, config_class", TRAINERS, ids=TRAINER_IDS)
@pytest.mark.parametrize("measure", ["completion", "thinking"])
@pytest.mark.parametrize("length_reward", ["sigmoid", "kimi"])
def test_r1_template_one_step_and_the_measured_length(
    trainer_class, config_class, measure, length_reward, tiny_r1_model_path, tmp_path
):
    # The R1-distill template: prompts open with one BOS and pre-fill "<think>\n"; completions close their thoughts
    # with "</think>" (biased up so that most do) and end with EOS, which is also the pad token. The measure reaches
    # every registry entry, the paper's and another paper's group-relative one (Kimi's min/max over the group).
    tokenizer = AutoTokenizer.from_pretrained(tiny_r1_model_path)
    (think_end,) = tokenizer("</think>", add_special_tokens=False)["input_ids"]
    bias = {(tokenizer.eos_token_id,): 2.0, (think_end,): 3.0}
    args = make_args(
        config_class, tmp_path, beta=0.0, max_steps=1, max_completion_length=24, per_device_train_batch_size=32,
        length_penalty_measure=measure, length_reward=length_reward,
        length_penalty_alpha=0.2 if length_reward == "sigmoid" else 0.0,
        generation_kwargs={"sequence_bias": bias},
    )  # fmt: skip
    trainer, terminators = recorded_run(trainer_class, tiny_r1_model_path, args)
    (record,) = trainer.records
    assert all(ids.count(tokenizer.bos_token_id) == 1 for ids in record["prompt_ids"])
    assert all(tokenizer.decode(ids).endswith("<｜Assistant｜><think>\n") for ids in record["prompt_ids"])

    def thinking_length(ids: list[int]) -> int:
        return ids.index(think_end) if think_end in ids else len(ids)

    completions = record["completion_ids"]
    assert any(thinking_length(ids) < len(ids) for ids in completions), "no completion closed its thoughts"
    length = thinking_length if measure == "thinking" else len
    terminators = {tokenizer.eos_token_id}
    rewards, expected = expected_advantages(
        completions, terminators, 4, 0.2, length=length, length_reward=length_reward
    )
    assert torch.allclose(torch.tensor(record["advantages"]), expected, atol=1e-5)
    other = expected_advantages(
        completions, terminators, 4, 0.2, length=len if measure == "thinking" else thinking_length,
        length_reward=length_reward,
    )  # fmt: skip
    assert not torch.allclose(expected, other[1], atol=1e-5), "both measures give the same advantages here"
    # The mean length of the correct completions is logged as whole completions, and (issue 23 item 6) as the
    # thinking the reward measured when that is the measure.
    correct = [even_token_sum([ids])[0] == 1 and ids[-1] in terminators for ids in completions]
    right = [ids for ids, ok in zip(completions, correct, strict=True) if ok]
    assert right, "no completion was correct: the length metrics would not be logged"
    (entry,) = [entry for entry in trainer.state.log_history if "loss" in entry]
    assert entry["efficiency/correct_mean_tokens"] == pytest.approx(sum(map(len, right)) / len(right))
    if measure == "thinking":
        thinking = sum(map(thinking_length, right)) / len(right)
        assert entry["efficiency/correct_mean_thinking_tokens"] == pytest.approx(thinking)
        assert thinking < entry["efficiency/correct_mean_tokens"]
    else:
        assert "efficiency/correct_mean_thinking_tokens" not in entry
    # Answers without thinking (issue 27): after the "<think>\n" pre-fill, the thinking is empty when only whitespace
    # comes before `</think>`; each mode's accuracy and mean tokens are over that mode's completions.
    no_think = [
        thinking_length(ids) < len(ids) and not tokenizer.decode(ids[: thinking_length(ids)]).strip()
        for ids in completions
    ]
    assert 0 < sum(no_think) < len(completions), "one mode only: the per-mode metrics would not be exercised"
    assert entry["efficiency/no_think_rate"] == pytest.approx(sum(no_think) / len(completions))
    for mode, flag in (("think", False), ("no_think", True)):
        group = [i for i, value in enumerate(no_think) if value == flag]
        accuracy = sum(correct[i] for i in group) / len(group)
        assert entry[f"efficiency/{mode}/accuracy"] == pytest.approx(accuracy)
        assert entry[f"efficiency/{mode}/mean_tokens"] == pytest.approx(
            sum(len(completions[i]) for i in group) / len(group)
        )


@pytest.mark.parametrize("trainer_class, config_class", TRAINERS, ids=TRAINER_IDS)
def test_missing_answer_column_fails_at_construction(trainer_class, config_class, tiny_model_path, tmp_path):
    dataset = Dataset.from_list([{"prompt": "1+1=", "gold": "2"}] * 4)
    with pytest.raises(ValueError, match="no 'answer' or 'solution' column"):
        trainer_class(model=tiny_model_path, args=make_args(config_class, tmp_path), train_dataset=dataset)


@pytest.mark.parametrize("trainer_class, config_class", TRAINERS, ids=TRAINER_IDS)
def test_missing_prompt_column_fails_at_construction(trainer_class, config_class, tiny_model_path, tmp_path):
    dataset = Dataset.from_list([{"problem": "1+1=", "answer": "2"}] * 4)
    with pytest.raises(ValueError, match="no 'prompt' column.*efficient_trl.data.to_prompts"):
        trainer_class(model=tiny_model_path, args=make_args(config_class, tmp_path), train_dataset=dataset)


def test_wrong_config_type_and_unknown_correctness_reward(tiny_model_path, tmp_path):
    from trl import GRPOConfig

    plain = GRPOConfig(output_dir=str(tmp_path), use_cpu=True, bf16=False, per_device_train_batch_size=8)
    with pytest.raises(TypeError, match="needs args of type EfficientGRPOConfig"):
        EfficientGRPOTrainer(model=tiny_model_path, args=plain, train_dataset=sum_problems(4, seed=0, **TWO_TERM_SUMS))
    args = make_args(EfficientGRPOConfig, tmp_path, correctness_reward_func="nope")
    with pytest.raises(ValueError, match="names none of the reward functions"):
        EfficientGRPOTrainer(model=tiny_model_path, args=args, train_dataset=sum_problems(4, seed=0, **TWO_TERM_SUMS))


def test_non_binary_correctness_reward_is_refused(tiny_model_path, tmp_path):
    def half(completions, **kwargs):
        return [0.5] * len(completions)

    trainer = EfficientGRPOTrainer(
        model=tiny_model_path,
        reward_funcs=half,
        args=make_args(EfficientGRPOConfig, tmp_path, beta=0.0),
        train_dataset=sum_problems(8, seed=0, **TWO_TERM_SUMS),
    )
    with pytest.raises(ValueError, match="needs a binary signal"):
        trainer.train()


@pytest.mark.parametrize("trainer_class, config_class", TRAINERS, ids=TRAINER_IDS)
def test_registry_entry_with_trls_length_reward_beside(trainer_class, config_class, tiny_model_path, tmp_path):
    # One step with kimi (weight 0.5, from a JSON string as on the command line) replacing the correctness reward,
    # and TRL's own DAPO soft overlong punishment passed beside it as a second reward function (weights 1 and 1).
    from trl.rewards import get_soft_overlong_punishment

    overlong = get_soft_overlong_punishment(max_completion_len=16, soft_punish_cache=8)
    args = make_args(
        config_class, tmp_path, beta=0.0, max_steps=1, per_device_train_batch_size=16,
        length_reward="kimi", length_reward_kwargs='{"weight": 0.5}', correctness_reward_func="even_token_sum",
    )  # fmt: skip
    trainer, terminators = recorded_run(trainer_class, tiny_model_path, args, reward_funcs=[overlong, even_token_sum])
    (record,) = trainer.records
    completions = record["completion_ids"]
    punishment = torch.tensor(overlong(completion_ids=completions))
    assert (punishment < 0).any() and (punishment == 0).any(), "the overlong punishment did not bite here"
    rewards, expected = expected_advantages(
        completions, terminators, 4, 0.2, length_reward="kimi", extra_rewards=punishment, weight=0.5
    )
    assert torch.allclose(torch.tensor(record["advantages"]), expected, atol=1e-5)
    # The paper's sigmoid reward on the same completions gives other advantages: the entry was used.
    sigmoid = expected_advantages(completions, terminators, 4, 0.2, extra_rewards=punishment)[1]
    assert not torch.allclose(expected, sigmoid, atol=1e-3)
    # TRL's completions table shows each reward function's own column: the overlong one unchanged.
    assert list(trainer._logs["rewards"]["soft_overlong_punishment_reward"]) == pytest.approx(punishment.tolist())


@pytest.mark.parametrize("trainer_class, config_class", TRAINERS, ids=TRAINER_IDS)
def test_l1_budget_column_reaches_the_length_reward(trainer_class, config_class, tiny_model_path, tmp_path):
    # L1's LCPO-Max with a per-prompt `budget` column: each completion is scored against its own prompt's budget.
    dataset = sum_problems(8, seed=0, **TWO_TERM_SUMS)
    dataset = dataset.add_column("budget", [4 + 2 * (i % 4) for i in range(len(dataset))])  # 4, 6, 8, 10 tokens
    args = make_args(
        config_class, tmp_path, beta=0.0, max_steps=1, per_device_train_batch_size=16,
        length_reward="l1_max", length_reward_kwargs={"a": 0.1},
    )  # fmt: skip
    trainer, terminators = recorded_run(trainer_class, tiny_model_path, args, dataset)
    (record,) = trainer.records
    budgets = torch.tensor(record["budgets"])
    assert budgets.view(-1, 4).unique(dim=1).shape[1] == 1 and len(budgets.unique()) > 1  # one budget per prompt
    rewards, expected = expected_advantages(
        record["completion_ids"], terminators, 4, 0.2, length_reward="l1_max", budgets=budgets, a=0.1
    )
    assert torch.allclose(torch.tensor(record["advantages"]), expected, atol=1e-5)
    assert ((rewards > 0) & (rewards < 1)).any(), "no completion landed inside the budget's linear band"
    # The budgets paired with other prompts' completions would give other advantages: each row's own was read.
    other = expected_advantages(
        record["completion_ids"], terminators, 4, 0.2, length_reward="l1_max", budgets=budgets.flip(0), a=0.1
    )[1]
    assert not torch.allclose(expected, other, atol=1e-4)


def test_l1_without_a_budget_column_fails_at_construction(tiny_model_path, tmp_path):
    args = make_args(EfficientGRPOConfig, tmp_path, length_reward="l1_exact")
    with pytest.raises(ValueError, match="no 'budget' column, which length_reward='l1_exact' reads"):
        EfficientGRPOTrainer(
            model=tiny_model_path,
            reward_funcs=even_token_sum,
            args=args,
            train_dataset=sum_problems(4, seed=0, **TWO_TERM_SUMS),
        )


@pytest.mark.parametrize("trainer_class, config_class", TRAINERS, ids=TRAINER_IDS)
def test_the_python_api_saves_the_provenance_the_recipes_do(trainer_class, config_class, tiny_model_path, tmp_path):
    # A TRL user's script: construct, train, save_model(). The model and every checkpoint get provenance.json (with
    # their own step), and the training log lies beside the final weights, so the analysis draws it as trained.
    from efficient_trl.analysis import load_training_log
    from efficient_trl.provenance import model_fingerprint, read_provenance

    args = make_args(config_class, tmp_path, save_strategy="steps", save_steps=1, length_penalty_alpha=0.1)
    dataset = sum_problems(8, seed=0, **TWO_TERM_SUMS)
    trainer = trainer_class(model=tiny_model_path, reward_funcs=even_token_sum, args=args, train_dataset=dataset)
    trainer.train()
    trainer.save_model()
    out = tmp_path / "out"
    provenance = read_provenance(out)
    assert provenance["trainer"] == TRAINER_IDS[TRAINERS.index((trainer_class, config_class))]
    assert provenance["global_step"] == 2 and provenance["max_steps"] == 2 and provenance["seed"] == 0
    assert provenance["base_model"] == {
        "name_or_path": tiny_model_path,
        "fingerprint": model_fingerprint(tiny_model_path),
    }
    assert provenance["length_reward"]["alpha"] == 0.1 and provenance["data"]["num_problems"] == 8
    assert [read_provenance(out / f"checkpoint-{step}")["global_step"] for step in (1, 2)] == [1, 2]
    log = load_training_log(out)
    assert log.provenance == provenance and [entry["step"] for entry in log] == [1, 2]
