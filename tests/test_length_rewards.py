import inspect
import math
import re

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from efficient_trl import LENGTH_REWARDS, EfficientGRPOConfig, EfficientGRPOTrainer, EfficientRLOOConfig
from efficient_trl.length_rewards import (
    AS_PUBLISHED,
    completion_inputs,
    dataset_inputs,
    grpo_lead,
    length_reward_at_step,
    length_reward_parameters,
    penalty_warmup_steps,
)
from efficient_trl.rewards import ADVANTAGE_NORMALIZATIONS, length_penalized_rewards

from .recording import expected_advantages, recorded_run
from .test_trainers import make_args


def rewards_of(name, correct, lengths, num_generations, **params):
    params = {key: torch.tensor(value) if key == "budgets" else value for key, value in params.items()}
    return LENGTH_REWARDS[name](torch.tensor(correct), torch.tensor(lengths), num_generations, **params).tolist()


def test_sigmoid_is_the_papers_reward():
    assert LENGTH_REWARDS["sigmoid"] is length_penalized_rewards
    # Correct lengths 10 and 30: mean 20, population std 10, z = -1 and +1; wrong ones earn 0.
    s = 1 / (1 + math.exp(1))  # sigmoid(-1) = 0.268941
    expected = [1 - 0.2 * s, 1 - 0.2 * (1 - s), 0.0, 0.0]  # 0.946212, 0.853788
    assert rewards_of("sigmoid", [True, True, False, False], [10, 30, 5, 5], 4, alpha=0.2) == pytest.approx(expected)


def test_kimi_hand_computed():
    # Lengths 10, 20, 30, 50: min 10, max 50, lam = 0.5 - (L - 10) / 40 = 0.5, 0.25, 0, -0.5.
    # Correct: 1 + lam = 1.5, 1.25. Wrong: 0 + min(0, lam) = 0, -0.5.
    correct, lengths = [True, True, False, False], [10, 20, 30, 50]
    assert rewards_of("kimi", correct, lengths, 4) == pytest.approx([1.5, 1.25, 0.0, -0.5])
    # weight 0.5 halves the length term: 1.25, 1.125, 0, -0.25.
    assert rewards_of("kimi", correct, lengths, 4, weight=0.5) == pytest.approx([1.25, 1.125, 0.0, -0.25])
    # min and max are over all G completions, wrong ones included; equal lengths give lam = 0.
    assert rewards_of("kimi", [True, False, True, False], [7, 7, 7, 7], 4) == [1.0, 0.0, 1.0, 0.0]


def test_shorterbetter_hand_computed():
    # L_SOL = shortest correct = 300: 0 - 0.001 * 200 = -0.2; 2 - 0 = 2; 0 - 0.001 * 250 = -0.25; 2 - 0.1 = 1.9.
    got = rewards_of("shorterbetter", [False, True, False, True], [100, 300, 50, 400], 4)
    assert got == pytest.approx([-0.2, 2.0, -0.25, 1.9])
    # None correct: L_SOL = mean length 250, so -0.001 * |L - 250| = -0.15, -0.05, -0.05, -0.15.
    got = rewards_of("shorterbetter", [False] * 4, [100, 200, 300, 400], 4)
    assert got == pytest.approx([-0.15, -0.05, -0.05, -0.15])
    got = rewards_of("shorterbetter", [True, False], [10, 30], 2, correct_weight=1.0, length_weight=0.01)
    assert got == pytest.approx([1.0, -0.2])  # 1 - 0; 0 - 0.01 * 20


def test_grpo_lead_hand_computed():
    # Correct lengths 10, 20, 30: mean 20, population std sqrt(200 / 3) = 8.165, z = -sqrt(1.5), 0, +sqrt(1.5).
    # exp(-0.05 * z) = exp(0.061237) = 1.063151, 1, exp(-0.061237) = 0.940604; the wrong one earns -1.
    z = math.sqrt(1.5)
    expected = [math.exp(0.05 * z), 1.0, math.exp(-0.05 * z), -1.0]
    assert rewards_of("grpo_lead", [True, True, True, False], [10, 20, 30, 99], 4) == pytest.approx(expected)
    assert rewards_of("grpo_lead", [True, False], [10, 30], 2, wrong_reward=0.0) == [1.0, 0.0]  # one correct: z = 0


def test_alp_hand_computed():
    # Solve rate 3/4; per-token cost 0.5 / 100 * 0.75 = 0.00375: 1 - 0.0375, 1 - 0.075, 1 - 0.15, 0 - 0.3.
    got = rewards_of("alp", [True, True, True, False], [10, 20, 40, 80], 4, beta=0.5, normalizer=100)
    assert got == pytest.approx([0.9625, 0.925, 0.85, -0.3])
    # None correct: the solve rate is floored at 1 / K = 0.25, cost 0.5 / 100 * 0.25 = 0.00125 per token.
    got = rewards_of("alp", [False] * 4, [40, 40, 80, 0], 4, beta=0.5, normalizer=100)
    assert got == pytest.approx([-0.05, -0.05, -0.1, 0.0])
    # Defaults beta = 1, N = 16384: an always-solved prompt's 16384-token answer earns 1 - 1 = 0.
    assert rewards_of("alp", [True, True], [16384, 0], 2) == pytest.approx([0.0, 1.0])


def test_l1_exact_hand_computed():
    # 1{c} - 0.0003 * |N - L|: 1 - 0.0003 * 1000 = 0.7; 0 - 0.0003 * 500 = -0.15; 1 - 0; 0 - 0.0003 * 100 = -0.03.
    got = rewards_of("l1_exact", [True, False, True, False], [3000, 500, 80, 180], 2, budgets=[4000, 1000, 80, 80])
    assert got == pytest.approx([0.7, -0.15, 1.0, -0.03])


def test_l1_max_hand_computed():
    # 1{c} * clip(0.0003 * (N - L) + 0.5, 0, 1): under budget by 1000 -> 0.8; over by 1000 -> 0.2; under by 4000
    # -> clipped to 1; over by 2000 -> clipped to 0; wrong -> 0 whatever its length.
    got = rewards_of(
        "l1_max", [True, True, True, True, False, False], [1000, 3000, 0, 4000, 10, 10], 2,
        budgets=[2000, 2000, 4000, 2000, 4000, 4000],
    )  # fmt: skip
    assert got == pytest.approx([0.8, 0.2, 1.0, 0.0, 0.0, 0.0])
    got = rewards_of("l1_max", [True, True], [100, 300], 2, budgets=[200, 200], a=0.001, d=0.4)
    assert got == pytest.approx([0.5, 0.3])  # 0.001 * 100 + 0.4; 0.001 * -100 + 0.4


# Defaults of every entry, and alpha for the sigmoid (which has none).
PARAMS = {name: {"alpha": 0.4} if name == "sigmoid" else {} for name in LENGTH_REWARDS}
NEEDS_BUDGETS = {"l1_exact", "l1_max"}
# Where the paper intends that a correct answer never earns less than a wrong one of its group (see the docstrings):
# shorterbetter, alp and l1_exact trade correctness against length on purpose.
CORRECT_OUTRANKS_WRONG = {"sigmoid", "kimi", "grpo_lead", "l1_max"}


def call(name, correct, lengths, num_generations, budgets):
    inputs = {"budgets": budgets} if name in NEEDS_BUDGETS else {}
    if name == "adapt_think":  # a start accuracy in [0, 1] and a no-thinking flag per completion, from the budgets
        inputs = {"start_accuracy": (budgets % 5) / 4, "no_think": budgets % 2 == 1}
    return LENGTH_REWARDS[name](correct, lengths, num_generations, **inputs, **PARAMS[name])


groups = st.integers(min_value=2, max_value=16).flatmap(
    lambda g: st.tuples(
        st.just(g),
        st.lists(st.tuples(st.booleans(), st.integers(0, 40_000)), min_size=g, max_size=3 * g).map(
            lambda rows: rows[: len(rows) - len(rows) % g]
        ),
        st.randoms(use_true_random=False),
    )
)


@pytest.mark.parametrize("name", sorted(LENGTH_REWARDS))
@settings(max_examples=100, deadline=None, derandomize=True)
@given(case=groups)
def test_properties(name, case):
    num_generations, rows, random = case
    correct = torch.tensor([c for c, _ in rows], dtype=torch.bool)
    lengths = torch.tensor([n for _, n in rows])
    budgets = torch.tensor([random.randint(0, 40_000) for _ in rows])
    rewards = call(name, correct, lengths, num_generations, budgets)
    assert rewards.dtype == torch.float32 and rewards.shape == lengths.shape
    assert torch.isfinite(rewards).all()
    # Permuting the completions within each group permutes their rewards the same way.
    order = torch.cat(
        [
            start + torch.tensor(random.sample(range(num_generations), num_generations))
            for start in range(0, len(rows), num_generations)
        ]
    )
    permuted = call(name, correct[order], lengths[order], num_generations, budgets[order])
    assert torch.allclose(permuted, rewards[order], atol=1e-6)
    if name in CORRECT_OUTRANKS_WRONG:
        for group_correct, group_rewards in zip(
            correct.view(-1, num_generations), rewards.view(-1, num_generations), strict=True
        ):
            if group_correct.any() and (~group_correct).any():
                assert group_rewards[group_correct].min() >= group_rewards[~group_correct].max()


@pytest.mark.parametrize("name", ["shorterbetter", "alp", "l1_exact"])
def test_correct_can_earn_less_than_wrong_where_the_paper_trades_them(name):
    # A 40000-token correct answer against a 10-token wrong one (both with a 10-token budget): the length cost
    # outweighs correctness.
    budgets = {"budgets": [10] * 4} if name in NEEDS_BUDGETS else {}
    rewards = rewards_of(name, [True, True, False, False], [10, 40_000, 10, 10], 4, **budgets)
    assert rewards[1] < rewards[2]


@pytest.mark.parametrize("name", sorted(LENGTH_REWARDS))
def test_every_entry_follows_the_signature(name):
    entry = LENGTH_REWARDS[name]
    parameters = list(inspect.signature(entry).parameters.values())
    assert [p.name for p in parameters[:3]] == ["correct", "lengths", "num_generations"]
    assert "arXiv:" in inspect.getdoc(entry) or name == "sigmoid", "the docstring names the paper"
    required = [p.name for p in parameters[3:] if p.default is inspect.Parameter.empty]
    # Every parameter has its paper's default, but the sigmoid's alpha (length_penalty_alpha) and the per-completion
    # dataset inputs (L1's budgets, keyword-only).
    assert required == (
        ["alpha"] if name == "sigmoid" else ["budgets"] if name in NEEDS_BUDGETS
        else ["start_accuracy", "no_think"] if name == "adapt_think" else []
    )  # fmt: skip
    assert set(dataset_inputs(name)) == (
        {"budgets"} if name in NEEDS_BUDGETS else {"start_accuracy"} if name == "adapt_think" else set()
    )
    # and the inputs read from the completions (GRPO-LEAD's answered, AdaptThink's no_think)
    assert set(completion_inputs(name)) == {"grpo_lead": {"answered"}, "adapt_think": {"no_think"}}.get(name, set())
    inputs = set(dataset_inputs(name)) | set(completion_inputs(name))
    assert set(length_reward_parameters(name)) == {p.name for p in parameters[3:]} - inputs
    # The shared input checks apply to every entry.
    with pytest.raises(ValueError, match="same shape"):
        call(name, torch.tensor([True, False]), torch.tensor([1, 2, 3]), 2, torch.tensor([1, 2, 3]))
    with pytest.raises(ValueError, match="whole number of groups"):
        call(name, torch.tensor([True, False, True]), torch.tensor([1, 2, 3]), 2, torch.tensor([1, 2, 3]))
    with pytest.raises(ValueError, match="bool tensor"):
        call(name, torch.tensor([1, 0]), torch.tensor([1, 2]), 2, torch.tensor([1, 2]))
    with pytest.raises(ValueError, match="non-negative"):
        call(name, torch.tensor([True, False]), torch.tensor([1, -2]), 2, torch.tensor([1, 2]))
    if name in NEEDS_BUDGETS:
        with pytest.raises(ValueError, match="one token budget per completion"):
            call(name, torch.tensor([True, False]), torch.tensor([1, 2]), 2, torch.tensor([1, 2, 3]))


@pytest.mark.parametrize("config_class", [EfficientRLOOConfig, EfficientGRPOConfig])
def test_config_selects_and_checks_the_length_reward(config_class, tmp_path):
    def make(**fields):
        return config_class(output_dir=str(tmp_path), use_cpu=True, bf16=False, **fields)

    assert make(length_penalty_alpha=0.2).resolved_length_reward() == ("sigmoid", {"alpha": 0.2, "eps": 1e-7})
    # A JSON string, as from the command line, overrides the paper's defaults; the rest stay.
    config = make(length_reward="shorterbetter", length_reward_kwargs='{"length_weight": 0.01}')
    assert config.resolved_length_reward() == ("shorterbetter", {"correct_weight": 2.0, "length_weight": 0.01})
    with pytest.raises(ValueError, match=r"not a registered length reward; choose one of \['adapt_think', 'alp'"):
        make(length_reward="l1")
    assert make(length_reward="l1_max").resolved_length_reward() == ("l1_max", {"a": 0.0003, "d": 0.5})
    with pytest.raises(ValueError, match=r"its parameters are \['a', 'd'\]"):
        make(length_reward="l1_max", length_reward_kwargs={"budgets": [1, 2]})  # a dataset column, not a parameter
    with pytest.raises(ValueError, match=r"'kimi' does not take; its parameters are \['weight'\]"):
        make(length_reward="kimi", length_reward_kwargs={"alpha": 0.5})
    with pytest.raises(ValueError, match="alpha is length_penalty_alpha"):
        make(length_reward_kwargs={"alpha": 0.5})
    with pytest.raises(ValueError, match="must be a JSON object"):
        make(length_reward="kimi", length_reward_kwargs="weight=0.5")
    with pytest.raises(ValueError, match="weight must be >= 0"):
        make(length_reward="kimi", length_reward_kwargs={"weight": -1})


def test_selected_from_a_recipe_yaml_and_the_command_line(tmp_path):
    from pathlib import Path

    from efficient_trl.training import parse_training_arguments

    recipe = Path(__file__).resolve().parents[1] / "recipes" / "deepseek-r1-distill-qwen-1.5b" / "alpha_0.2.yaml"
    config = tmp_path / "shorterbetter.yaml"  # the README's snippet appended to a paper recipe
    config.write_text(
        recipe.read_text() + "length_reward: shorterbetter\nlength_reward_kwargs:\n  length_weight: 0.002\n"
    )
    cpu = ["--bf16", "false", "--use_cpu", "true"]
    _, args, _ = parse_training_arguments(["--config", str(config), *cpu])
    assert args.resolved_length_reward() == ("shorterbetter", {"correct_weight": 2.0, "length_weight": 0.002})
    argv = ["--config", str(recipe), *cpu, "--length_reward", "kimi", "--length_reward_kwargs", '{"weight": 0.5}']
    assert parse_training_arguments(argv)[1].resolved_length_reward() == ("kimi", {"weight": 0.5})


# --- How each entry's authors trained it (AS_PUBLISHED), the warm-up, and GRPO-LEAD's unanswered completions


@pytest.mark.parametrize("name", sorted(LENGTH_REWARDS))
def test_every_entry_records_how_its_authors_trained_it(name):
    published = AS_PUBLISHED[name]
    assert published.normalization in ADVANTAGE_NORMALIZATIONS
    assert published.warmup >= 0 and penalty_warmup_steps(published.warmup, 100) >= 0
    assert published.no_answer.strip()
    # Where it was read: a paper (arXiv id) or a repository file (owner/name: path), never left empty.
    assert "arXiv:" in published.citation or re.search(r"[\w-]+/[\w-]+: \S+\.(py|sh)", published.citation)
    assert set(AS_PUBLISHED) == set(LENGTH_REWARDS)


def test_as_published_values_read_from_the_authors_code():
    # verl's GRPO (the group's reward std) for every reward trained with it; Kimi's mean baseline and warm-up; the
    # authors' released code's token whitening for the sigmoid.
    assert {name: p.normalization for name, p in AS_PUBLISHED.items()} == {
        "sigmoid": "batch_token", "kimi": "none", "shorterbetter": "group", "grpo_lead": "group", "alp": "group",
        "l1_exact": "group", "l1_max": "group", "adapt_think": "none",
    }  # fmt: skip
    assert [name for name, p in AS_PUBLISHED.items() if p.warmup] == ["kimi"]
    assert "0 (no_answer_reward)" in AS_PUBLISHED["grpo_lead"].no_answer


def test_penalty_warmup_steps_reads_steps_or_a_share_of_training():
    assert penalty_warmup_steps(0, 30) == 0
    assert penalty_warmup_steps(5, 30) == 5
    assert penalty_warmup_steps(0.2, 30) == 6
    assert penalty_warmup_steps(0.2, 31) == 7  # rounded up, as transformers' warmup_steps
    with pytest.raises(ValueError, match="warm-up must be >= 0"):
        penalty_warmup_steps(-1, 30)


def test_kimi_penalty_is_off_during_the_warm_up_and_on_after():
    correct, lengths = torch.tensor([True, True, False, True]), torch.tensor([10, 30, 20, 50])
    params = {"weight": 1.0}
    during = length_reward_at_step("kimi", params, correct, lengths, 4, step=2, warmup_steps=3)
    assert during.tolist() == [1.0, 1.0, 0.0, 1.0]  # correctness alone: no length penalty yet
    after = length_reward_at_step("kimi", params, correct, lengths, 4, step=3, warmup_steps=3)
    assert after.tolist() == pytest.approx(rewards_of("kimi", [True, True, False, True], [10, 30, 20, 50], 4))
    assert after.tolist() != during.tolist()


def test_grpo_lead_unanswered_completion_earns_zero_as_in_its_code():
    # aeroplanepaper/GRPO-LEAD main_ppo.py: a wrong answer earns -1, a completion with no answer 0.
    correct = torch.tensor([True, False, False, True])
    answered = torch.tensor([True, True, False, True])
    got = grpo_lead(correct, torch.tensor([10, 20, 30, 30]), 4, answered=answered).tolist()
    assert got[1:3] == [-1.0, 0.0]
    assert got[0] == pytest.approx(math.exp(-0.05 * -1 / (1 + 1e-7)))  # z = (10 - 20) / 10
    assert grpo_lead(correct, torch.tensor([10, 20, 30, 30]), 4, answered=answered, no_answer_reward=-0.5)[2] == -0.5
    # Without `answered`, every completion counts as answered (a direct call as before).
    assert grpo_lead(correct, torch.tensor([10, 20, 30, 30]), 4).tolist()[1:3] == [-1.0, -1.0]
    with pytest.raises(ValueError, match="answered must be a bool tensor"):
        grpo_lead(correct, torch.tensor([10, 20, 30, 30]), 4, answered=torch.tensor([1, 1, 0, 1]))


@pytest.mark.parametrize("config_class", [EfficientRLOOConfig, EfficientGRPOConfig])
def test_reward_as_published_resolves_the_normalization_and_warm_up(config_class, tmp_path):
    def make(**fields):
        return config_class(output_dir=str(tmp_path), use_cpu=True, bf16=False, **fields)

    for name, published in AS_PUBLISHED.items():
        kwargs = {"length_penalty_alpha": 0.2} if name == "sigmoid" else {}
        config = make(length_reward=name, reward_as_published=True, **kwargs)
        assert config.advantage_normalization == published.normalization
        assert config.length_penalty_warmup_steps == published.warmup
    common = make(length_reward="shorterbetter")
    assert (common.advantage_normalization, common.length_penalty_warmup_steps) == ("none", 0.0)
    # The value it would set anyway is accepted; a third one is an error naming both.
    assert make(length_reward="l1_max", reward_as_published=True, advantage_normalization="group")
    with pytest.raises(ValueError, match="sets advantage_normalization to 'group'.*'batch' is given too"):
        make(length_reward="l1_max", reward_as_published=True, advantage_normalization="batch")
    with pytest.raises(ValueError, match="sets length_penalty_warmup_steps to 0.2.*5 is given too"):
        make(length_reward="kimi", reward_as_published=True, length_penalty_warmup_steps=5)
    with pytest.raises(ValueError, match="warm-up must be >= 0"):
        make(length_penalty_warmup_steps=-1)


def test_reward_as_published_from_a_recipe_and_the_command_line():
    from pathlib import Path

    from efficient_trl.training import parse_training_arguments

    recipe = Path(__file__).resolve().parents[1] / "recipes" / "deepseek-r1-distill-qwen-1.5b" / "alpha_0.2.yaml"
    argv = ["--config", str(recipe), "--bf16", "false", "--use_cpu", "true", "--length_reward", "grpo_lead"]
    args = parse_training_arguments([*argv, "--reward_as_published", "true"])[1]
    assert (args.advantage_normalization, args.reward_as_published) == ("group", True)
    assert parse_training_arguments(argv)[1].advantage_normalization == "none"


def test_kimi_warm_up_in_a_real_training_run(tiny_model_path, tmp_path):
    # Two optimizer steps with a one-step warm-up: the first trains on correctness alone, the second on Kimi's reward.
    args = make_args(
        EfficientGRPOConfig, tmp_path, beta=0.0, length_reward="kimi", length_penalty_warmup_steps=1,
        per_device_train_batch_size=16,
    )  # fmt: skip
    trainer, terminators = recorded_run(EfficientGRPOTrainer, tiny_model_path, args)
    first, second = (record["completion_ids"] for record in trainer.records)
    correctness_alone = expected_advantages(first, terminators, 4, 0.0)[1]  # the sigmoid at alpha 0: 1{correct}
    assert torch.allclose(torch.tensor(trainer.records[0]["advantages"]), correctness_alone, atol=1e-5)
    kimi = expected_advantages(second, terminators, 4, 0.0, length_reward="kimi", weight=1.0)[1]
    assert torch.allclose(torch.tensor(trainer.records[1]["advantages"]), kimi, atol=1e-5)
    assert not torch.allclose(kimi, expected_advantages(second, terminators, 4, 0.0)[1], atol=1e-3)
    penalties = [entry["efficiency/length_penalty"] for entry in trainer.state.log_history if "loss" in entry]
    assert penalties[0] == 0.0 and penalties[1] != 0.0  # what the training log shows


def test_grpo_lead_as_published_in_a_real_training_run(tiny_model_path, tmp_path):
    # reward_as_published: the group-normalized advantages of the authors' verl GRPO, and their 0 for a completion
    # without an answer (the tiny model's random completions never box one), -1 only for a wrong answer.
    args = make_args(
        EfficientGRPOConfig, tmp_path, beta=0.0, max_steps=1, per_device_train_batch_size=16,
        length_reward="grpo_lead", reward_as_published=True,
    )  # fmt: skip
    trainer, terminators = recorded_run(EfficientGRPOTrainer, tiny_model_path, args)
    assert trainer.args.advantage_normalization == "group"
    (record,) = trainer.records
    completions = record["completion_ids"]
    unanswered = torch.zeros(len(completions), dtype=torch.bool)
    rewards, expected = expected_advantages(
        completions, terminators, 4, 0.0, "group", length_reward="grpo_lead", answered=unanswered
    )
    assert torch.allclose(torch.tensor(record["advantages"]), expected, atol=1e-5)
    assert (rewards == 0).any() and not (rewards == -1).any()  # wrong ones earned 0, not -1
    as_wrong = expected_advantages(completions, terminators, 4, 0.0, "group", length_reward="grpo_lead")[1]
    assert not torch.allclose(expected, as_wrong, atol=1e-3)
