"""The method of "Training Language Models to Reason Efficiently" (Arora & Zanette, 2025), as pure tensor functions.

For each prompt x the policy samples a group of G completions. A completion z is rewarded

    R(z) = 1{z correct} * (1 - alpha * sigmoid((LEN(z) - MEAN(x)) / STD(x)))

where MEAN and STD are the mean and population standard deviation of the token lengths of the *correct* completions
of the same prompt. Because the penalty is normalized per prompt, hard prompts (long answers) and easy prompts (short
answers) are pushed equally, and a correct answer always outranks a wrong one (its reward is at least 1 - alpha > 0).

The advantage is RLOO's leave-one-out estimate A_i = R_i - mean_{j != i} R_j, used as is: dividing by a reward std
(`normalize_advantages(..., "group")`) makes the size of the length push independent of alpha, which the paper shows
collapses accuracy. The authors' released code (Zanette-Labs/efficient-reasoning, an OpenRLHF fork) does two things
the paper does not say, available here as options: it whitens the per-token advantages of the whole rollout batch
(`normalize_advantages(..., "batch_token")`, `whiten_tokens`) and subtracts a k1 KL estimate from each token's reward
with cumulative returns (`kl_returns`). The trainers (`efficient_trl.trainers`) apply these functions to the rewards
and lengths gathered from all processes; everything here is deterministic and side-effect free.

`math_accuracy_reward`, the default correctness signal, lives in `efficient_trl.math_grader`.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

# Importable from here as before; their homes are math_grader.py and thinking.py.
from .math_grader import math_accuracy_reward as math_accuracy_reward
from .thinking import thinking_length as thinking_length

__all__ = [
    "ADVANTAGE_NORMALIZATIONS",
    "check_completions",
    "correct_length_zscores",
    "kl_returns",
    "length_penalized_rewards",
    "normalize_advantages",
    "rloo_advantages",
    "whiten_tokens",
]

ADVANTAGE_NORMALIZATIONS = ("none", "group", "batch", "batch_token")
# The floor on the token variance in the authors' whitening (OpenRLHF's replay buffer: `clamp(min=1e-8).rsqrt()`).
TOKEN_MIN_VARIANCE = 1e-8


def _check_groups(numel: int, num_generations: int) -> None:
    if isinstance(num_generations, bool) or not isinstance(num_generations, int) or num_generations < 2:
        raise ValueError(
            f"num_generations must be an integer >= 2 (a group needs at least two completions to compare), "
            f"got {num_generations!r}."
        )
    if numel % num_generations != 0:
        raise ValueError(
            f"got {numel} completions, which is not a whole number of groups of num_generations={num_generations}; "
            "pass consecutive groups of num_generations completions of the same prompt."
        )


def _check_flat(name: str, tensor: torch.Tensor) -> None:
    if not isinstance(tensor, torch.Tensor) or tensor.dim() != 1:
        raise ValueError(f"{name} must be a 1-D tensor, got {type(tensor).__name__} {getattr(tensor, 'shape', '')}.")


def check_completions(correct: torch.Tensor, lengths: torch.Tensor, num_generations: int) -> None:
    """Check the inputs every length reward takes: a bool `correct` and real, non-negative `lengths`, both 1-D, of the
    same shape, in whole groups of `num_generations` consecutive completions."""
    _check_flat("correct", correct)
    _check_flat("lengths", lengths)
    if correct.shape != lengths.shape:
        raise ValueError(
            f"correct and lengths must have the same shape, got {tuple(correct.shape)} and {tuple(lengths.shape)}."
        )
    _check_groups(correct.numel(), num_generations)
    if correct.dtype != torch.bool:
        raise ValueError(f"correct must be a bool tensor, got dtype {correct.dtype}; pass e.g. `rewards == 1`.")
    if lengths.dtype.is_complex or lengths.dtype == torch.bool:
        raise ValueError(f"lengths must be real token counts, got dtype {lengths.dtype}.")
    if (lengths < 0).any() or not torch.isfinite(lengths.double()).all():
        raise ValueError("lengths must be finite and non-negative token counts.")


def correct_length_zscores(
    correct: torch.Tensor, lengths: torch.Tensor, num_generations: int, eps: float = 1e-7
) -> torch.Tensor:
    """Each completion's length z-score `(LEN - MEAN) / (STD + eps)` among the correct completions of its group.

    MEAN and the population STD (ddof=0) are over the group's correct completions only; shape (groups, G), float64,
    so that equal integer lengths give an exactly zero deviation, hence z = 0. Inputs are checked by the caller.
    """
    correct_g = correct.view(-1, num_generations)
    lengths_g = lengths.to(torch.float64).view(-1, num_generations)
    weight = correct_g.to(torch.float64)
    count = weight.sum(dim=1, keepdim=True).clamp(min=1.0)
    mean = (lengths_g * weight).sum(dim=1, keepdim=True) / count
    std = (((lengths_g - mean) ** 2) * weight).sum(dim=1, keepdim=True).div(count).sqrt()  # population std (ddof=0)
    return (lengths_g - mean) / (std + eps)


def length_penalized_rewards(
    correct: torch.Tensor,
    lengths: torch.Tensor,
    num_generations: int,
    alpha: float,
    eps: float = 1e-7,
) -> torch.Tensor:
    """Rewards `1{correct} * (1 - alpha * sigmoid(z))` with z the length z-score among the group's correct completions.

    The paper's reward: registry entry "sigmoid" of `length_rewards.LENGTH_REWARDS`, whose alpha the trainers take
    from `length_penalty_alpha`.

    Args:
        correct: bool tensor of shape (N,), consecutive groups of `num_generations` completions of one prompt.
        lengths: token counts, shape (N,), same order as `correct`.
        num_generations: group size G (>= 2).
        alpha: strength in [0, 1) (the configs' `length_penalty_alpha`); 0 gives pure correctness.
        eps: added to the std so that equal lengths give z = 0 instead of 0/0.

    Returns:
        float32 tensor of shape (N,) on `lengths`' device. A group with one correct completion, or with equal correct
        lengths, gets z = 0 (reward 1 - alpha/2); wrong completions get 0 and do not enter MEAN or STD.
    """
    if not (isinstance(alpha, (int, float)) and math.isfinite(alpha) and 0.0 <= alpha < 1.0):
        raise ValueError(
            f"alpha must be in [0, 1), got {alpha!r}: at alpha >= 1 the longest correct answer would earn no more "
            "than a wrong one."
        )
    check_completions(correct, lengths, num_generations)

    correct_g = correct.view(-1, num_generations)
    z = correct_length_zscores(correct, lengths, num_generations, eps)
    rewards = torch.where(correct_g, 1.0 - alpha * torch.sigmoid(z), torch.zeros_like(z))
    return rewards.view(-1).to(torch.float32)


def rloo_advantages(rewards: torch.Tensor, num_generations: int) -> torch.Tensor:
    """Leave-one-out advantages `A_i = R_i - mean_{j != i} R_j` within each group of `num_generations`.

    Equal to `G / (G - 1) * (R_i - mean_j R_j)`, i.e. GRPO's unscaled advantage times G/(G-1).
    """
    _check_flat("rewards", rewards)
    _check_groups(rewards.numel(), num_generations)
    grouped = rewards.view(-1, num_generations)
    baseline = (grouped.sum(dim=1, keepdim=True) - grouped) / (num_generations - 1)
    return (grouped - baseline).view(-1)


def normalize_advantages(
    advantages: torch.Tensor,
    rewards: torch.Tensor,
    num_generations: int,
    mode: str,
    eps: float = 1e-4,
    completion_lengths: torch.Tensor | None = None,
) -> torch.Tensor:
    """Optionally rescale RLOO advantages; the paper's method is `mode="none"`.

    - "none": unchanged, so the length push grows with alpha.
    - "group": divided by the std of the prompt's rewards (the paper's ablation, GRPO-style). With correct rewards
      spread uniformly over [1 - alpha, 1], the shortest answer's advantage tends to sqrt(3) whatever alpha is.
    - "batch": whitened per sequence over the batch, `(A - mean(A)) / std(A)` (TRL's `normalize_advantages`). The mean
      of RLOO advantages is zero, so this only rescales them, which Adam all but absorbs.
    - "batch_token": the authors' released code (OpenRLHF's replay buffer `normalize("advantages")`, applied after
      every rollout): every completion token carries its sequence's advantage, and all tokens of the batch are
      whitened with their mean and population variance, `(A - mean) * rsqrt(max(var, 1e-8))`. Needs
      `completion_lengths` (tokens per completion, the weights). The token-weighted mean is not zero when length and
      advantage covary within groups, so this also shifts every advantage, wrong-only groups' included, by the same
      amount; under a loss averaged per sequence a positive shift favours shorter completions.

    Stds of "group" and "batch" are Bessel-corrected (as torch and TRL compute them) and ignore NaN rewards; `eps` is
    added to them. "batch_token" uses the population variance floored at 1e-8 instead, as the authors' code does.
    """
    if mode not in ADVANTAGE_NORMALIZATIONS:
        raise ValueError(f"advantage normalization must be one of {ADVANTAGE_NORMALIZATIONS}, got {mode!r}.")
    _check_flat("advantages", advantages)
    _check_flat("rewards", rewards)
    if advantages.shape != rewards.shape:
        raise ValueError(
            "advantages and rewards must have the same shape, got "
            f"{tuple(advantages.shape)} and {tuple(rewards.shape)}."
        )
    _check_groups(rewards.numel(), num_generations)
    if mode == "none":
        return advantages
    if mode == "group":
        std = _nanstd(rewards.view(-1, num_generations), dim=1).repeat_interleave(num_generations)
        return advantages / (torch.nan_to_num(std, nan=0.0) + eps)
    if mode == "batch_token":
        return _whiten_by_length(advantages, completion_lengths)
    std = _nanstd(advantages, dim=0) if advantages.numel() > 1 else torch.zeros(())
    return (advantages - advantages.nanmean()) / (torch.nan_to_num(std, nan=0.0) + eps)


def _whiten_by_length(advantages: torch.Tensor, lengths: torch.Tensor | None) -> torch.Tensor:
    """`whiten_tokens` for sequence-level advantages: a completion of L tokens counts L times in the statistics."""
    if lengths is None:
        raise ValueError(
            'mode="batch_token" weighs each completion by its token count: pass completion_lengths, the number of '
            "completion tokens of each advantage (e.g. completion_mask.sum(1))."
        )
    _check_flat("completion_lengths", lengths)
    if lengths.shape != advantages.shape:
        raise ValueError(
            f"completion_lengths must have the advantages' shape {tuple(advantages.shape)}, got "
            f"{tuple(lengths.shape)}."
        )
    if (lengths < 0).any() or lengths.sum() <= 0:
        raise ValueError("completion_lengths must be non-negative token counts with at least one token in all.")
    return _whiten_weighted(advantages, lengths)


def whiten_tokens(
    values: torch.Tensor,
    mask: torch.Tensor,
    sum_across: Callable[[torch.Tensor], torch.Tensor] | None = None,
) -> torch.Tensor:
    """The authors' advantage whitening over every completion token of the batch.

    `(values - mean) * rsqrt(max(var, 1e-8))`, mean and population variance over the entries where `mask` is set, as
    OpenRLHF's replay buffer `normalize("advantages")` computes them (Zanette-Labs/efficient-reasoning,
    openrlhf/trainer/ppo_utils/replay_buffer.py): first the sum and count, then the sum of squared deviations, each
    summed over processes. `sum_across` sums a tensor over processes (an all-reduce in the trainers; None in one
    process), so that with completions split over processes every process whitens with the whole batch's statistics.

    Args:
        values: per-token advantages, shape (N, T).
        mask: 1 on completion tokens, 0 on padding, shape (N, T).
        sum_across: reduction over processes, or None.

    Returns:
        Tensor of `values`' shape and dtype; masked-out entries are whitened too (the loss ignores them).
    """
    if values.dim() != 2 or mask.shape != values.shape:
        raise ValueError(
            f"values and mask must be 2-D of the same shape, got {tuple(values.shape)} and {tuple(mask.shape)}."
        )
    return _whiten_weighted(values, mask, sum_across)


def _whiten_weighted(
    values: torch.Tensor, weights: torch.Tensor, sum_across: Callable[[torch.Tensor], torch.Tensor] | None = None
) -> torch.Tensor:
    """`(values - mean) * rsqrt(max(var, 1e-8))` with the `weights`-weighted mean and population variance (a token
    mask, or each completion's token count), in float64: first the weighted sum and total weight, then the sum of
    squared deviations, each summed over processes by `sum_across` (None: one process)."""
    reduce = sum_across if sum_across is not None else (lambda tensor: tensor)
    weights64, values64 = weights.to(torch.float64), values.to(torch.float64)
    totals = reduce(torch.stack([(values64 * weights64).sum(), weights64.sum()]))
    mean = totals[0] / totals[1]
    variance = reduce(((values64 - mean) ** 2 * weights64).sum()) / totals[1]
    return ((values64 - mean) * variance.clamp(min=TOKEN_MIN_VARIANCE).rsqrt()).to(values.dtype)


def kl_returns(per_token_kl: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Each token's share of the KL penalty in the authors' returns: `sum_{s >= t} kl_s` over the completion's tokens.

    The authors subtract `beta * kl_t` (k1, `log pi_old - log pi_ref`, per token) from the reward of token t and put
    the sequence's reward on its last token; with their REINFORCE returns (gamma = 1) token t's return is
    `A - beta * sum_{s >= t} kl_s` (openrlhf/models/utils.py `compute_reward`, experience_maker.py
    `get_cumulative_returns`). Masked entries are 0. Shape (N, T) in and out.
    """
    if per_token_kl.dim() != 2 or mask.shape != per_token_kl.shape:
        raise ValueError(
            f"per_token_kl and mask must be 2-D of the same shape, got {tuple(per_token_kl.shape)} and "
            f"{tuple(mask.shape)}."
        )
    masked = per_token_kl * mask
    return masked.flip(1).cumsum(1).flip(1) * mask


def _nanstd(values: torch.Tensor, dim: int) -> torch.Tensor:
    count = (~values.isnan()).sum(dim=dim, keepdim=True)
    mean = values.nanmean(dim=dim, keepdim=True)
    squares = ((values - mean) ** 2).nansum(dim=dim, keepdim=True)
    return (squares / (count - 1).clamp(min=1)).sqrt().squeeze(dim)
