import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from efficient_trl.rewards import (
    kl_returns,
    length_penalized_rewards,
    normalize_advantages,
    rloo_advantages,
    whiten_tokens,
)


def sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def test_hand_computed_group():
    # Correct lengths 10, 20, 30: mean 20, population std sqrt(200/3).
    correct = torch.tensor([True, True, True, False])
    lengths = torch.tensor([10, 20, 30, 5])
    std = math.sqrt(200 / 3)
    expected = [1 - 0.4 * sigmoid(-10 / std), 1 - 0.4 * 0.5, 1 - 0.4 * sigmoid(10 / std), 0.0]
    rewards = length_penalized_rewards(correct, lengths, num_generations=4, alpha=0.4)
    assert rewards.tolist() == pytest.approx(expected, abs=1e-6)


def test_groups_are_independent():
    # The second group's lengths are 100x the first's: same z-scores, same rewards.
    correct = torch.tensor([True, False, True, True, False, True])
    lengths = torch.tensor([3, 9, 5, 300, 900, 500])
    rewards = length_penalized_rewards(correct, lengths, num_generations=3, alpha=0.2)
    assert rewards[:3].tolist() == pytest.approx(rewards[3:].tolist(), abs=1e-6)
    assert rewards[1] == 0 and rewards[4] == 0


def test_single_correct_and_equal_lengths_give_z_zero():
    alpha = 0.3
    one_correct = length_penalized_rewards(torch.tensor([False, True, False]), torch.tensor([1, 7, 2]), 3, alpha)
    assert one_correct.tolist() == pytest.approx([0.0, 1 - alpha / 2, 0.0])
    equal = length_penalized_rewards(torch.tensor([True, True, True]), torch.tensor([4, 4, 4]), 3, alpha)
    assert equal.tolist() == pytest.approx([1 - alpha / 2] * 3)
    none_correct = length_penalized_rewards(torch.tensor([False, False]), torch.tensor([4, 9]), 2, alpha)
    assert none_correct.tolist() == [0.0, 0.0]


def test_wrong_lengths_do_not_enter_the_statistics():
    correct = torch.tensor([True, True, False, False])
    a = length_penalized_rewards(correct, torch.tensor([10, 20, 1, 1]), 4, 0.5)
    b = length_penalized_rewards(correct, torch.tensor([10, 20, 999, 5000]), 4, 0.5)
    assert torch.equal(a, b)


def test_alpha_zero_is_pure_correctness():
    correct = torch.tensor([True, False, True, True])
    rewards = length_penalized_rewards(correct, torch.tensor([3, 8, 100, 7]), 4, 0.0)
    assert rewards.tolist() == [1.0, 0.0, 1.0, 1.0]


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(alpha=1.0), "alpha must be in"),
        (dict(alpha=-0.1), "alpha must be in"),
        (dict(alpha=float("nan")), "alpha must be in"),
        (dict(num_generations=1), "num_generations must be an integer >= 2"),
        (dict(num_generations=3), "not a whole number of groups"),
        (dict(lengths=torch.tensor([1, 2, 3])), "same shape"),
        (dict(correct=torch.tensor([1, 0, 1, 1])), "bool tensor"),
        (dict(lengths=torch.tensor([1, -2, 3, 4])), "non-negative"),
        (dict(correct=torch.ones(2, 2, dtype=torch.bool)), "1-D tensor"),
    ],
)
def test_invalid_arguments_raise(kwargs, message):
    arguments = dict(correct=torch.tensor([True, False, True, True]), lengths=torch.tensor([1, 2, 3, 4]))
    arguments.update(num_generations=2, alpha=0.1)
    arguments.update(kwargs)
    with pytest.raises(ValueError, match=message):
        length_penalized_rewards(**arguments)


groups = st.integers(min_value=2, max_value=8).flatmap(
    lambda g: st.tuples(
        st.just(g),
        st.lists(st.tuples(st.booleans(), st.integers(0, 40_000)), min_size=g, max_size=4 * g).map(
            lambda rows: rows[: len(rows) - len(rows) % g]
        ),
        st.floats(0.0, 0.99),
    )
)


@settings(max_examples=200, deadline=None, derandomize=True)
@given(groups)
def test_properties(case):
    num_generations, rows, alpha = case
    correct = torch.tensor([c for c, _ in rows], dtype=torch.bool)
    lengths = torch.tensor([n for _, n in rows])
    rewards = length_penalized_rewards(correct, lengths, num_generations, alpha)
    assert ((rewards >= 0) & (rewards <= 1)).all()
    assert (rewards[~correct] == 0).all()
    assert (rewards[correct] >= 1 - alpha - 1e-6).all()  # every correct answer outranks every wrong one
    if alpha > 0:
        assert (rewards[correct] > 0).all()
    shifted = length_penalized_rewards(correct, lengths + 1234, num_generations, alpha)
    assert torch.allclose(rewards, shifted, atol=1e-6)  # only relative lengths within the group matter
    for group_correct, group_lengths, group_rewards in zip(
        correct.view(-1, num_generations),
        lengths.view(-1, num_generations),
        rewards.view(-1, num_generations),
        strict=True,
    ):
        order = torch.argsort(group_lengths[group_correct], stable=True)
        ranked = group_rewards[group_correct][order]
        assert (ranked[1:] <= ranked[:-1] + 1e-6).all()  # within a group reward falls as length grows


@settings(max_examples=50, deadline=None, derandomize=True)
@given(groups)
def test_alpha_zero_property(case):
    num_generations, rows, _ = case
    correct = torch.tensor([c for c, _ in rows], dtype=torch.bool)
    rewards = length_penalized_rewards(correct, torch.tensor([n for _, n in rows]), num_generations, 0.0)
    assert torch.equal(rewards, correct.float())


def test_rloo_advantages_leave_one_out():
    rewards = torch.tensor([1.0, 0.0, 0.5, 0.9, 0.2, 0.2])
    advantages = rloo_advantages(rewards, 3)
    expected = [r - (sum(group) - r) / 2 for group in (rewards[:3].tolist(), rewards[3:].tolist()) for r in group]
    assert advantages.tolist() == pytest.approx(expected, abs=1e-6)
    assert torch.allclose(advantages, 3 / 2 * (rewards.view(2, 3) - rewards.view(2, 3).mean(1, keepdim=True)).view(-1))


@pytest.mark.parametrize("alpha", [0.05, 0.1, 0.2, 0.4])
def test_group_normalization_makes_the_push_independent_of_alpha(alpha):
    # The paper's ablation: correct rewards spread uniformly over [1 - alpha, 1]. Group-normalized, the shortest
    # answer's advantage tends to (alpha/2) / (alpha/sqrt(12)) = sqrt(3) for every alpha; unnormalized it is ~alpha/2.
    num_generations = 4000
    rewards = torch.linspace(1.0, 1.0 - alpha, num_generations, dtype=torch.float64)
    advantages = rloo_advantages(rewards, num_generations)
    group = normalize_advantages(advantages, rewards, num_generations, "group", eps=0.0)
    assert group[0].item() == pytest.approx(math.sqrt(3), rel=2e-3)
    none = normalize_advantages(advantages, rewards, num_generations, "none")
    assert none[0].item() == pytest.approx(alpha / 2, rel=2e-3)


def test_batch_normalization_whitens():
    rewards = torch.tensor([1.0, 0.0, 0.7, 0.9, 0.0, 0.0, 1.0, 0.8])
    advantages = rloo_advantages(rewards, 4)
    whitened = normalize_advantages(advantages, rewards, 4, "batch", eps=0.0)
    assert whitened.mean().item() == pytest.approx(0.0, abs=1e-6)
    assert whitened.std().item() == pytest.approx(1.0, abs=1e-6)
    with pytest.raises(ValueError, match="must be one of"):
        normalize_advantages(advantages, rewards, 4, "std")


def test_batch_token_whitens_every_token_of_the_batch():
    # The authors' whitening on a padded (N, T) batch where each completion's tokens carry its advantage equals the
    # length-weighted whitening of the sequence-level advantages.
    rewards = torch.tensor([1.0, 0.0, 0.7, 0.9, 0.0, 0.0, 1.0, 0.8])
    lengths = torch.tensor([3, 9, 5, 4, 7, 7, 2, 6])
    advantages = rloo_advantages(rewards, 4)
    whitened = normalize_advantages(advantages, rewards, 4, "batch_token", completion_lengths=lengths)
    mask = (torch.arange(9) < lengths[:, None]).float()
    tokens = whiten_tokens(advantages[:, None].expand(-1, 9) * mask, mask)
    assert torch.allclose(tokens * mask, whitened[:, None] * mask, atol=1e-6)
    flat = tokens[mask.bool()].double()
    assert flat.mean().item() == pytest.approx(0.0, abs=1e-6)
    assert flat.var(correction=0).item() == pytest.approx(1.0, abs=1e-6)  # population variance, as the authors'


def test_batch_token_shifts_every_advantage_by_the_same_amount():
    # A short answer outranking a longer one (the length penalty), and an all-wrong group. Token-weighted, the batch
    # mean is (2 * 0.5 + 6 * -0.5) / 16 = -1/8 and the population variance
    # (2 * 0.625^2 + 6 * 0.375^2 + 8 * 0.125^2) / 16 = 7/64, so the all-wrong group, whose advantage was 0, is pushed
    # up by (1/8) / sqrt(7/64) = 1/sqrt(7).
    rewards = torch.tensor([1.0, 0.5, 0.0, 0.0])
    advantages = torch.tensor([0.5, -0.5, 0.0, 0.0])
    lengths = torch.tensor([2, 6, 4, 4])
    whitened = normalize_advantages(advantages, rewards, 2, "batch_token", completion_lengths=lengths)
    assert whitened.tolist() == pytest.approx([5 / 7**0.5, -3 / 7**0.5, 1 / 7**0.5, 1 / 7**0.5], rel=1e-6)
    per_sequence = normalize_advantages(advantages, rewards, 2, "batch", eps=0.0)  # a pure rescale: 0 stays 0
    assert per_sequence[2:].tolist() == [0.0, 0.0]
    equal = normalize_advantages(torch.zeros(4), rewards, 2, "batch_token", completion_lengths=lengths)
    assert equal.tolist() == [0.0, 0.0, 0.0, 0.0]  # zero variance: floored at 1e-8, no division by zero


@pytest.mark.parametrize(
    "lengths, message",
    [
        (None, "pass completion_lengths"),
        (torch.tensor([1, 2]), "must have the advantages' shape"),
        (torch.tensor([0, 0, 0, 0]), "at least one token"),
        (torch.tensor([1, -1, 2, 2]), "non-negative"),
    ],
)
def test_batch_token_needs_the_lengths(lengths, message):
    rewards = torch.tensor([1.0, 0.0, 1.0, 1.0])
    with pytest.raises(ValueError, match=message):
        normalize_advantages(rewards, rewards, 2, "batch_token", completion_lengths=lengths)


def test_whiten_tokens_takes_the_statistics_of_every_process():
    # Two processes holding the same tokens: the summed statistics are those of either, so the result is unchanged,
    # and both reductions go through sum_across (the 2-process trainer test checks a real split).
    values = torch.tensor([[0.5, 0.2, 0.0], [-1.0, 0.3, 0.7]])
    mask = torch.tensor([[1.0, 1.0, 0.0], [1.0, 1.0, 1.0]])
    alone = whiten_tokens(values, mask)
    calls = []

    def doubled(tensor):
        calls.append(tensor.shape)
        return 2 * tensor

    assert torch.allclose(whiten_tokens(values, mask, sum_across=doubled), alone)
    assert calls == [torch.Size([2]), torch.Size([])]  # (sum, count), then the squared deviations


def test_kl_returns_sum_the_kl_of_the_tokens_from_each_one_on():
    kl = torch.tensor([[0.1, -0.2, 0.4, 9.0], [0.3, 0.3, 0.0, 0.0]])
    mask = torch.tensor([[1.0, 1.0, 1.0, 0.0], [1.0, 1.0, 0.0, 0.0]])
    expected = [[0.3, 0.2, 0.4, 0.0], [0.6, 0.3, 0.0, 0.0]]  # padding (the 9.0) never counts
    assert kl_returns(kl, mask).tolist() == [pytest.approx(row, abs=1e-7) for row in expected]
    with pytest.raises(ValueError, match="2-D of the same shape"):
        kl_returns(kl[0], mask[0])
