"""Published length rewards as pure tensor functions, in one registry, `LENGTH_REWARDS`: name -> function.

Every entry has the signature `f(correct, lengths, num_generations, **params) -> float32 tensor`: `correct` (bool)
and `lengths` (token counts: the whole completion, or the thinking only, as `length_penalty_measure` says) hold
consecutive groups of `num_generations` completions of one prompt, and the returned reward, one per completion,
REPLACES the binary correctness reward. An entry that needs a per-completion value from the dataset declares it as a
keyword-only argument without default named in `DATASET_INPUTS` (L1's `budgets`, read from the `budget` column).
The trainers call the chosen entry on the rewards and lengths gathered from all processes, so a group-relative
statistic (a group's min, max, mean, shortest correct answer, solve rate) is always the prompt's, never that of one
process's slice of it: a TRL reward function sees only its process's completions.

Per-completion length rewards that need no group (TRL's `trl.rewards.get_soft_overlong_punishment`, DAPO's, and
`get_cosine_scaled_reward`) are not re-implemented here: pass them as extra reward functions beside the correctness
reward (`correctness_reward_func` names the binary one); they add to whichever entry is chosen. `EXTRA_REWARDS`
names them for recipes (the `extra_rewards` field), and `extra_reward_funcs` builds them with TRL's own factories.

An entry may also take `answered` or `no_think` (keyword-only, in `COMPLETION_INPUTS`): per completion, whether it
commits to a final answer, or answers without thinking, which the trainers read from the completion itself (GRPO-LEAD
rewards a completion without an answer apart from a wrong one; AdaptThink gives a bonus for not thinking).

How each entry's authors trained with it (the advantage normalization of their code, a warm-up before the length
penalty starts, what a completion without an answer earns) is data in `AS_PUBLISHED`, each with where it was read;
`reward_as_published=True` in the configs trains with it, and `length_reward_at_step` applies a warm-up given the
optimizer step.

A new length reward: a pure function here with that signature, its paper, formula, defaults and what "group" means
there in its docstring, registered in `LENGTH_REWARDS` and `AS_PUBLISHED`, and its hand-computed values in
tests/test_length_rewards.py.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from .rewards import check_completions, correct_length_zscores, length_penalized_rewards

__all__ = [
    "AS_PUBLISHED",
    "COMPLETION_INPUTS",
    "DATASET_COLUMN_SOURCES",
    "DATASET_INPUTS",
    "AsPublished",
    "EXTRA_REWARDS",
    "LENGTH_REWARDS",
    "adapt_think",
    "alp",
    "completion_inputs",
    "dataset_inputs",
    "extra_reward_funcs",
    "grpo_lead",
    "kimi",
    "l1_exact",
    "l1_max",
    "length_reward_at_step",
    "length_reward_parameters",
    "penalty_warmup_steps",
    "resolve_length_reward",
    "shorterbetter",
]

# The arguments every entry takes positionally; what follows them are the entry's parameters.
_INPUTS = ("correct", "lengths", "num_generations")
# Per-completion inputs an entry may also take (a keyword argument without default), and the dataset column the
# trainers read them from: its rows' values, gathered from every process like the lengths.
DATASET_INPUTS = {"budgets": "budget", "start_accuracy": "start_accuracy"}
# How a dataset gets each of those columns, for the error that a missing one raises
DATASET_COLUMN_SOURCES = {
    "budget": "the token budget each prompt asks for: recipes/train.py's budget_range writes it",
    "start_accuracy": "the start model's accuracy on each prompt, sampled beforehand: python "
    "recipes/start_accuracy.py --model <start model> --dataset <training set> --output_dir <dir>, then train on "
    "<dir>/dataset",
}
# Per-completion inputs the trainers read from the completions themselves (gathered from every process like the
# lengths), and what each holds
COMPLETION_INPUTS = {
    "answered": "the completion commits to a final answer (a \\boxed{} where the grader reads it) and is not "
    "truncated",
    "no_think": "the completion answers without thinking (thinking.opens_without_thinking: an empty thinking block)",
}


def _check_finite(name: str, value: Any, minimum: float | None = None) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}.")
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value!r}.")


def kimi(correct: torch.Tensor, lengths: torch.Tensor, num_generations: int, weight: float = 1.0) -> torch.Tensor:
    """Kimi k1.5's length reward added to correctness: `1{c} + weight * (lam if c else min(0, lam))`.

    Paper: "Kimi k1.5: Scaling Reinforcement Learning with LLMs", Kimi Team (Du et al.), arXiv:2501.12599, section
    2.3.3 "Length Penalty": `lam = 0.5 - (len(i) - min_len) / (max_len - min_len)`, min_len and max_len over the k
    sampled responses of the problem (the GROUP here: all G completions, right or wrong), `lam = 0` when they are all
    equal; a correct response earns `lam`, a wrong one `min(0, lam)` (never a bonus for being short and wrong), added
    to the correctness reward with a weight (default 1). Checked against open-r1's `len_reward`
    (src/open_r1/rewards.py, "Taken from the Kimi 1.5 tech report"), which computes the same `lam` but over
    characters of a process-local batch. The paper starts the penalty after a warm-up on correctness alone, of a
    length it does not give: the configs' `length_penalty_warmup_steps` (`AS_PUBLISHED["kimi"]`).

    A correct answer never earns less than a wrong one of its group while weight <= 2 (correct >= 1 - weight / 2,
    wrong <= 0), so at the default.
    """
    check_completions(correct, lengths, num_generations)
    _check_finite("weight", weight, minimum=0.0)
    lengths_g = lengths.to(torch.float64).view(-1, num_generations)
    shortest = lengths_g.min(dim=1, keepdim=True).values
    spread = lengths_g.max(dim=1, keepdim=True).values - shortest
    lam = torch.where(spread > 0, 0.5 - (lengths_g - shortest) / spread.clamp(min=1e-12), 0.0)
    correct_g = correct.view(-1, num_generations)
    rewards = correct_g.to(torch.float64) + weight * torch.where(correct_g, lam, lam.clamp(max=0.0))
    return rewards.view(-1).to(torch.float32)


def shorterbetter(
    correct: torch.Tensor,
    lengths: torch.Tensor,
    num_generations: int,
    correct_weight: float = 2.0,
    length_weight: float = 0.001,
) -> torch.Tensor:
    """ShorterBetter: `correct_weight * 1{c} - length_weight * |L - L_SOL|`, L_SOL the group's Sample Optimal Length.

    Paper: "ShorterBetter: Guiding Reasoning Models to Find Optimal Inference Length for Efficient Reasoning", Yi,
    Wang and Li, arXiv:2504.21370, eq. (1)-(2): `r(y_j) = alpha * I(y_j correct) - beta * |l(y_j) - l_SOL|`, with
    l_SOL the length of the shortest correct response of the n rollouts of the prompt (the GROUP), or their mean length
    when none is correct. Checked against the paper's text (arXiv HTML v4) and the authors' code (github
    JingyangYi/ShorterBetter, scripts/train/sb_1.5B.sh: "By default, alpha=2.0, beta=0.001", set in their verl
    reward manager): defaults alpha = 2.0 and beta = 0.001 per token; the paper also trains at alpha = 1.

    A correct answer can earn less than a wrong one (a long correct one against a short wrong one): the paper trades
    correctness against length on purpose, so that property does not hold.
    """
    check_completions(correct, lengths, num_generations)
    _check_finite("correct_weight", correct_weight)
    _check_finite("length_weight", length_weight, minimum=0.0)
    lengths_g = lengths.to(torch.float64).view(-1, num_generations)
    correct_g = correct.view(-1, num_generations)
    shortest_correct = torch.where(correct_g, lengths_g, math.inf).min(dim=1, keepdim=True).values
    optimal = torch.where(correct_g.any(dim=1, keepdim=True), shortest_correct, lengths_g.mean(dim=1, keepdim=True))
    rewards = correct_weight * correct_g.to(torch.float64) - length_weight * (lengths_g - optimal).abs()
    return rewards.view(-1).to(torch.float32)


def grpo_lead(
    correct: torch.Tensor,
    lengths: torch.Tensor,
    num_generations: int,
    alpha: float = 0.05,
    wrong_reward: float = -1.0,
    eps: float = 1e-7,
    *,
    answered: torch.Tensor | None = None,
    no_answer_reward: float = 0.0,
) -> torch.Tensor:
    """GRPO-LEAD's length-dependent accuracy reward: `exp(-alpha * z)` if correct, `wrong_reward` (-1) if wrong with an
    answer, `no_answer_reward` (0) without one.

    Paper: "GRPO-LEAD: A Difficulty-Aware Reinforcement Learning Approach for Concise Mathematical Reasoning in
    Language Models", Zhang and Zuo, arXiv:2504.09696 (EMNLP 2025), section 3: `z = (|o| - mu) / (sigma + eps)` with mu
    and sigma the mean and standard deviation of the token lengths of the CORRECT responses to the same question (the
    GROUP), `R = exp(-alpha * z)` for a correct response; the "explicit penalty" for incorrect answers makes a wrong
    one earn -1 (0 without it: `wrong_reward=0`). alpha = 0.05, as in the authors' code (aeroplanepaper/GRPO-LEAD,
    verl/verl/trainer/main_ppo.py). As in that code's `RewardManager`, a completion with no answer to grade (no
    `</think>` or no boxed answer there; here: `answered` False, which the trainers set for a completion without a
    final boxed answer or cut at the token limit) earns 0, not the wrong-answer -1: the penalty is for committing to
    a wrong answer. `answered=None` counts every completion as answered. Three differences from that code, kept on
    purpose: it takes the sample std (ddof=1; 1 when one answer is correct) and applies the reward only to groups
    whose three shortest completions average over 4,000 tokens, which would switch it off at the demo's lengths; here
    sigma is the population std (ddof=0), as in the paper's reward ("sigmoid"), so a group with one correct answer or
    equal correct lengths gets z = 0, reward 1, and every group is scored; and its -2 for a degenerate completion
    without an answer (an n-gram repeated 10 times, a 120-character word) is not reproduced. Its third part, the
    difficulty-aware reweighting of advantages, is not a reward and is not included.

    A correct answer always earns more than a wrong or unanswered one (exp(.) > 0) for any wrong_reward <= 0 and
    no_answer_reward <= 0.
    """
    check_completions(correct, lengths, num_generations)
    _check_finite("alpha", alpha, minimum=0.0)
    _check_finite("wrong_reward", wrong_reward)
    _check_finite("eps", eps, minimum=0.0)
    _check_finite("no_answer_reward", no_answer_reward)
    if answered is not None and (
        not isinstance(answered, torch.Tensor) or answered.dtype != torch.bool or answered.shape != correct.shape
    ):
        raise ValueError(
            f"answered must be a bool tensor with one value per completion (shape {tuple(correct.shape)}), got "
            f"{type(answered).__name__} {getattr(answered, 'dtype', '')} {tuple(getattr(answered, 'shape', ()))}."
        )
    z = correct_length_zscores(correct, lengths, num_generations, eps)
    # z is bounded by sqrt(G - 1) for the correct ones, so exp cannot overflow.
    rewards = torch.where(correct.view(-1, num_generations), torch.exp(-alpha * z), wrong_reward).view(-1)
    if answered is not None:  # a correct completion has an answer: only wrong ones can be unanswered
        rewards = torch.where(correct | answered, rewards, no_answer_reward)
    return rewards.to(torch.float32)


def alp(
    correct: torch.Tensor,
    lengths: torch.Tensor,
    num_generations: int,
    beta: float = 1.0,
    normalizer: float = 16384.0,
) -> torch.Tensor:
    """Adaptive Length Penalty: `1{c} - beta / normalizer * max(p_solved, 1 / K) * L`.

    Paper: "Just Enough Thinking: Efficient Reasoning with Adaptive Length Penalties Reinforcement Learning", Xiang,
    Blagden, Rafailov, Lile, Truong, Finn and Haber, arXiv:2506.05256: `r(y, q) = 1[answer(y) = y*] - beta / N *
    max(p_solved(q), 1 / K) * |y|`, p_solved(q) the share of the K rollouts of prompt q that are correct (the GROUP,
    K = G), N a normalization constant and beta > 0 a global coefficient: easy prompts (high solve rate) pay more per
    token. The formula was checked against the paper's text; its values of beta and N were not found with the search
    tools, so the defaults are ours: N = 16384 tokens (a long-reasoning generation cap) and beta = 1, so that a
    completion of N tokens on a prompt always solved loses as much as a correct answer earns.

    A correct answer can earn less than a wrong, shorter one of its group; the paper intends a length cost on every
    completion, so that property does not hold.
    """
    check_completions(correct, lengths, num_generations)
    _check_finite("beta", beta, minimum=0.0)
    _check_finite("normalizer", normalizer)
    if normalizer <= 0:
        raise ValueError(f"normalizer must be > 0 (a token count), got {normalizer!r}.")
    correct_g = correct.view(-1, num_generations).to(torch.float64)
    solve_rate = correct_g.mean(dim=1, keepdim=True).clamp(min=1.0 / num_generations)
    lengths_g = lengths.to(torch.float64).view(-1, num_generations)
    rewards = correct_g - beta / normalizer * solve_rate * lengths_g
    return rewards.view(-1).to(torch.float32)


def _check_budgets(budgets: torch.Tensor, lengths: torch.Tensor) -> None:
    if not isinstance(budgets, torch.Tensor) or budgets.shape != lengths.shape:
        raise ValueError(
            f"budgets must be a tensor with one token budget per completion (shape {tuple(lengths.shape)}), got "
            f"{type(budgets).__name__} {tuple(getattr(budgets, 'shape', ()))}."
        )
    if budgets.dtype == torch.bool or budgets.dtype.is_complex or not torch.isfinite(budgets.double()).all():
        raise ValueError("budgets must be finite, real token counts.")
    if (budgets < 0).any():
        raise ValueError("budgets must be non-negative token counts.")


# L1's lengths are per completion, not per group: num_generations is taken for the common signature only.
def l1_exact(
    correct: torch.Tensor, lengths: torch.Tensor, num_generations: int, *, budgets: torch.Tensor, a: float = 0.0003
) -> torch.Tensor:
    """L1's LCPO-Exact reward: `1{c} - a * |N - L|`, N the token budget its prompt asked for.

    Paper: "L1: Controlling How Long A Reasoning Model Thinks With Reinforcement Learning", Aggarwal and Welleck,
    arXiv:2503.04697: `r(y, N) = 1{y correct} - alpha * |n_gold - n_y|`. Checked against the official code
    (github cmu-l3/l1, math_reward.py: `get_delta_score_linear` returns `-alpha * |N - L|`, added to the correctness
    score; scripts/train/run_l1_exact.sh sets `reward_config.alpha=0.0003`): a = 0.0003. No group statistic: each
    completion is compared with its own budget (the dataset's `budget` column, gathered like the lengths).

    A correct answer far from its budget can earn less than a wrong one on budget: the paper trades them on purpose.
    """
    check_completions(correct, lengths, num_generations)
    _check_budgets(budgets, lengths)
    _check_finite("a", a, minimum=0.0)
    distance = (budgets.to(torch.float64) - lengths.to(torch.float64)).abs()
    return (correct.to(torch.float64) - a * distance).to(torch.float32)


def l1_max(
    correct: torch.Tensor,
    lengths: torch.Tensor,
    num_generations: int,
    *,
    budgets: torch.Tensor,
    a: float = 0.0003,
    d: float = 0.5,
) -> torch.Tensor:
    """L1's LCPO-Max reward: `1{c} * clip(a * (N - L) + d, 0, 1)`, N the maximum token budget its prompt set.

    Paper: "L1: Controlling How Long A Reasoning Model Thinks With Reinforcement Learning", Aggarwal and Welleck,
    arXiv:2503.04697: `r(y, N) = 1{y correct} * clip(alpha * (n_gold - n_y) + delta, 0, 1)`. The official code
    (github cmu-l3/l1, math_reward.py, `get_delta_score_linear_both` with `multiplier_reward`) computes
    `(clip(alpha * (N - L), -1, 1) + 1) / 2`, i.e. delta = 0.5 and a slope of alpha / 2. Its run_l1_max.sh (which
    starts from the LCPO-Exact checkpoint) sets no `reward_config`, so as published it runs on ppo_trainer.yaml's
    defaults, alpha = 0.01 with every length-reward switch off (math_reward_fn then returns correctness alone): the
    slope the authors trained LCPO-Max with is not in the code. The defaults here are the formula's d = 0.5 and the
    a = 0.0003 of LCPO-Exact's script (their budgets' scale). Per completion, no group statistic; the budget comes
    from the dataset's `budget` column.

    A correct answer never earns less than a wrong one (wrong ones earn 0, correct ones a value in [0, 1]).
    """
    check_completions(correct, lengths, num_generations)
    _check_budgets(budgets, lengths)
    _check_finite("a", a, minimum=0.0)
    _check_finite("d", d)
    margin = a * (budgets.to(torch.float64) - lengths.to(torch.float64)) + d
    return (correct.to(torch.float64) * margin.clamp(0.0, 1.0)).to(torch.float32)


# AdaptThink's reward is per completion: num_generations is taken for the common signature only.
def adapt_think(
    correct: torch.Tensor,
    lengths: torch.Tensor,
    num_generations: int,
    *,
    start_accuracy: torch.Tensor,
    no_think: torch.Tensor,
    delta: float = 0.05,
) -> torch.Tensor:
    """AdaptThink's constrained objective, relaxed: `delta * 1{no thinking} + 1{c} - start_accuracy`.

    Paper: "AdaptThink: Reasoning Models Can Learn When to Think", Zhang, Lin, Hou, Feng and Li, arXiv:2505.13417,
    section 4.1: maximize the share of answers given without thinking (`1{y_1 = </think>}`) subject to the expected
    accuracy not falling below the start (reference) model's, `E[R(x, y)] >= E[R(x, y')]`, y' from the start model;
    as a penalty with weight 1/delta, the advantage `A(x, y) = delta * 1{y_1 = </think>} + R(x, y) - R_ref(x)`, with
    `R_ref(x)` the start model's mean accuracy on prompt x, estimated before training from K = 16 of its samples.
    Checked against the authors' code (github THU-KEG/AdaptThink): src/adapt_think_reward_manager.py
    `AdaptThinkRewardManager.__call__` computes `acc - ref_mean_acc_thinking (+ nothinking_bonus)` from the
    pre-sampled `avg_acc_thinking` of src/postprocess_ref_results.py; scripts/run_adapt_think_1.5b_*.sh set
    `nothinking_bonus=0.05` (the paper sweeps delta from 0 to 0.1): delta = 0.05.

    `start_accuracy` is each completion's prompt's start accuracy in [0, 1] (the dataset's `start_accuracy` column,
    written by recipes/start_accuracy.py); `no_think` says which completions answer without thinking (the trainers
    read it from the completion, `thinking.opens_without_thinking`; the authors' code reads which rollouts it forced
    to open with `</think>`, which is the same set when no rollout opens without thinking on its own). No group
    statistic: the start accuracy is the baseline, per prompt. Under the trainers' RLOO advantages a value that is
    the same for the whole group cancels, so `- start_accuracy` changes the logged reward, not the gradient: it is
    the authors' baseline, and their advantages are these rewards as they are (`AS_PUBLISHED`).

    A correct answer can earn less than a wrong one without thinking only if delta > 1; at the default it never does.
    """
    check_completions(correct, lengths, num_generations)
    _check_finite("delta", delta, minimum=0.0)
    for name, value in (("start_accuracy", start_accuracy), ("no_think", no_think)):
        if not isinstance(value, torch.Tensor) or value.shape != correct.shape:
            raise ValueError(
                f"{name} must be a tensor with one value per completion (shape {tuple(correct.shape)}), got "
                f"{type(value).__name__} {tuple(getattr(value, 'shape', ()))}."
            )
    if no_think.dtype != torch.bool:
        raise ValueError(f"no_think must be a bool tensor, got dtype {no_think.dtype}.")
    accuracy = start_accuracy.to(torch.float64)
    if start_accuracy.dtype == torch.bool or not ((accuracy >= 0) & (accuracy <= 1)).all():
        raise ValueError(
            "start_accuracy must hold accuracies in [0, 1] (the share of the start model's samples that were "
            "correct, per prompt), got values outside it."
        )
    rewards = delta * no_think.to(torch.float64) + correct.to(torch.float64) - accuracy
    return rewards.to(torch.float32)


LENGTH_REWARDS: dict[str, Callable[..., torch.Tensor]] = {
    # The paper's reward (Arora & Zanette 2025, arXiv:2502.04463), alpha = `length_penalty_alpha`.
    "sigmoid": length_penalized_rewards,
    "kimi": kimi,
    "shorterbetter": shorterbetter,
    "grpo_lead": grpo_lead,
    "alp": alp,
    "l1_exact": l1_exact,
    "l1_max": l1_max,
    "adapt_think": adapt_think,
}


@dataclass(frozen=True)
class AsPublished:
    """How a registry entry's authors trained with it, as read from their paper and released code (`citation` says
    where): what `reward_as_published=True` trains with. Their advantages are compared by shape, not scale: verl's
    GRPO divides `R - mean(R)` by the group's reward std, which is `advantage_normalization="group"` up to the
    factor (G - 1) / G that RLOO's leave-one-out baseline adds; a mean baseline without std is "none" up to that
    factor."""

    normalization: str  # the `advantage_normalization` their advantages correspond to
    warmup: (
        float  # the length penalty's warm-up: that many optimizer steps (>= 1), that share of training (< 1); 0 none
    )
    no_answer: str  # what a completion without an answer to grade earns
    citation: str  # where each field was read


_WRONG = "as a wrong one"
AS_PUBLISHED: dict[str, AsPublished] = {
    "sigmoid": AsPublished(
        "batch_token", 0.0, f"{_WRONG} (0; so does a completion without EOS)",
        "Arora & Zanette, arXiv:2502.04463, section 3: RLOO advantages used as they are (its ablation divides them by "
        "the group's reward std and loses accuracy); Zanette-Labs/efficient-reasoning run_rloo_1.5B.sh "
        "(--advantage_estimator rloo, --n_samples_per_prompt 8) and reward_server/math_server.py (--check_eos: no "
        "EOS scores 0); openrlhf/trainer/ppo_trainer.py calls replay_buffer.normalize('advantages') after every "
        "rollout: every token's advantage whitened over the batch ('batch_token'), which the paper does not say (its "
        "text: RLOO advantages as they are, 'none', the common setting). The code's k1 KL in each token's reward is "
        "a trainer option, kl_in_reward, not set here.",
    ),
    "kimi": AsPublished(
        "none", 0.2, f"{_WRONG} (correctness 0, plus min(0, lam) of its length)",
        "Kimi Team, arXiv:2501.12599: section 2.3.2, the policy gradient's baseline is the mean reward of the k "
        "samples, with no std; section 2.3.3, 'standard policy optimization without length penalty, followed by a "
        "constant length penalty for the rest of training'. The paper gives no warm-up length: 0.2 of the steps is "
        "ours. No training code was released.",
    ),
    "shorterbetter": AsPublished(
        "group", 0.0, f"{_WRONG} (correctness 0)",
        "JingyangYi/ShorterBetter: scripts/train/sb_1.5B.sh (algorithm.adv_estimator=grpo, rollout.n=8), "
        "verl/verl/trainer/ppo/core_algos.py compute_grpo_outcome_advantage ((R - mean) / (std + 1e-6) over the "
        "prompt's rollouts), verl/verl/utils/reward_score/sb_compute_score.py (an unverified answer scores 0).",
    ),
    "grpo_lead": AsPublished(
        "group", 0.0, "0 (no_answer_reward), not the wrong-answer -1",
        "aeroplanepaper/GRPO-LEAD: scripts/train/ds_14b_stage1.sh (algorithm.adv_estimator=grpo, rollout.n=8), "
        "verl/verl/trainer/ppo/core_algos.py compute_grpo_outcome_advantage (group mean and std, then a "
        "difficulty reweighting, not included here), verl/verl/trainer/main_ppo.py RewardManager (a score of -1, no "
        "</think> or no answer, becomes 0; a wrong answer, 0, becomes -1).",
    ),
    "alp": AsPublished(
        "group", 0.0, f"{_WRONG} (correctness 0, plus the length cost)",
        "Xiang et al., arXiv:2506.05256, section 4: GRPO (verl) on DeepScaleR-1.5B, as summaries of the paper report "
        "it; neither its text nor code was read with the search tools.",
    ),
    "l1_exact": AsPublished(
        "group", 0.0, f"{_WRONG} (correctness 0, plus the budget term)",
        "cmu-l3/l1: scripts/train/run_l1_exact.sh (algorithm.adv_estimator=grpo, rollout.n=16, on verl's GRPO: "
        "(R - mean) / std over the prompt's rollouts), math_reward.py (no </think> or no answer: not correct).",
    ),
    "l1_max": AsPublished(
        "group", 0.0, f"{_WRONG} (0)",
        "cmu-l3/l1: scripts/train/run_l1_max.sh (algorithm.adv_estimator=grpo, rollout.n=16, on verl's GRPO), "
        "math_reward.py (no </think> or no answer: not correct).",
    ),
    "adapt_think": AsPublished(
        "none", 0.0, f"{_WRONG} (0, minus the start accuracy)",
        "THU-KEG/AdaptThink: scripts/run_adapt_think_1.5b_deepscaler_16k_delta0.05_btz128_lr2e-6.sh "
        "(algorithm.adv_estimator=naive, rollout.n=16, nothinking_ratio=0.5), src/adapt_think_core_algos.py "
        "compute_naive_outcome_advantage (the reward itself is the advantage: no group mean, no std; its baseline is "
        "the start accuracy inside the reward). 'none' has no std either, but centres on the group's leave-one-out "
        "mean, which the start accuracy then cannot change; the advantage without a group baseline is not an "
        "advantage_normalization here. src/adapt_think_rm.py (no boxed answer: not correct).",
    ),
}  # fmt: skip


def penalty_warmup_steps(warmup: float, max_steps: int) -> int:
    """The optimizer steps of a length-penalty warm-up `warmup`: that many when >= 1, that share of `max_steps`
    (rounded up) when below 1, as transformers reads `warmup_steps`."""
    if isinstance(warmup, bool) or not isinstance(warmup, (int, float)) or not math.isfinite(warmup) or warmup < 0:
        raise ValueError(
            f"the length penalty's warm-up must be >= 0 (steps, or a share of training below 1), got {warmup!r}."
        )
    return int(warmup) if warmup >= 1 else math.ceil(warmup * max_steps)


def length_reward_at_step(
    name: str,
    params: dict[str, Any],
    correct: torch.Tensor,
    lengths: torch.Tensor,
    num_generations: int,
    *,
    step: int,
    warmup_steps: int = 0,
    **inputs: torch.Tensor,
) -> torch.Tensor:
    """The rewards of registry entry `name` with `params` (and its per-completion `inputs`) at optimizer step `step`
    (the steps done so far: the trainer's `state.global_step`). During a warm-up, `step < warmup_steps`, the length
    penalty is off: the binary correctness reward instead, as Kimi k1.5 trains ("standard policy optimization
    without length penalty, followed by a constant length penalty")."""
    if step < warmup_steps:
        check_completions(correct, lengths, num_generations)
        return correct.to(torch.float32)
    return LENGTH_REWARDS[name](correct, lengths, num_generations, **inputs, **params)


# trl.rewards' per-completion length rewards, by the name a recipe gives them (`extra_rewards`) -> TRL's factory
EXTRA_REWARDS = {
    # DAPO: 0 up to max_completion_len - soft_punish_cache tokens, then down linearly to -1 at max_completion_len
    "soft_overlong_punishment": "get_soft_overlong_punishment",
    # Yeo et al. 2025: its own correctness (math-verify against the `solution` column) scaled by length on a cosine
    "cosine_scaled": "get_cosine_scaled_reward",
}
# The dataset columns an extra reward reads besides the completions
EXTRA_REWARD_COLUMNS = {"cosine_scaled": ("solution",)}


def extra_reward_funcs(extra_rewards: dict[str, dict[str, Any]] | None) -> list[Callable]:
    """TRL's reward functions named in `extra_rewards` ({name in EXTRA_REWARDS: its factory's arguments}), built by
    trl.rewards' factories, in order; they go beside the correctness reward and add to the chosen length reward."""
    import trl.rewards

    if extra_rewards is not None and not isinstance(extra_rewards, dict):
        raise ValueError(
            f"extra_rewards must map names to their arguments, e.g. {{'soft_overlong_punishment': "
            f"{{'max_completion_len': 32000, 'soft_punish_cache': 4000}}}}, got {extra_rewards!r}."
        )
    functions = []
    for name, kwargs in (extra_rewards or {}).items():
        if name not in EXTRA_REWARDS:
            raise ValueError(
                f"extra_rewards names {name!r}, which is not one of trl.rewards' length rewards {list(EXTRA_REWARDS)}."
            )
        factory = getattr(trl.rewards, EXTRA_REWARDS[name])
        try:
            inspect.signature(factory).bind(**(kwargs or {}))
        except TypeError as error:
            raise ValueError(
                f"extra_rewards[{name!r}] = {kwargs!r}: {error}; trl.rewards.{EXTRA_REWARDS[name]} takes "
                f"{inspect.signature(factory)}."
            ) from None
        functions.append(factory(**(kwargs or {})))
    return functions


def length_reward_parameters(name: str) -> dict[str, Any]:
    """The parameters of registry entry `name` and their defaults (`inspect.Parameter.empty` when required)."""
    if name not in LENGTH_REWARDS:
        raise ValueError(
            f"length_reward={name!r} is not a registered length reward; choose one of {sorted(LENGTH_REWARDS)}."
        )
    parameters = list(inspect.signature(LENGTH_REWARDS[name]).parameters.values())
    inputs = {*_INPUTS, *DATASET_INPUTS, *COMPLETION_INPUTS}
    return {p.name: p.default for p in parameters if p.name not in inputs}


def dataset_inputs(name: str) -> dict[str, str]:
    """The per-completion inputs entry `name` takes besides correct and lengths, mapped to their dataset columns."""
    parameters = inspect.signature(LENGTH_REWARDS[name]).parameters
    return {argument: column for argument, column in DATASET_INPUTS.items() if argument in parameters}


def completion_inputs(name: str) -> list[str]:
    """The inputs of `COMPLETION_INPUTS` that entry `name` takes, which the trainers read from the completions."""
    parameters = inspect.signature(LENGTH_REWARDS[name]).parameters
    return [argument for argument in COMPLETION_INPUTS if argument in parameters]


def resolve_length_reward(name: str, kwargs: dict[str, Any] | None, alpha: float) -> tuple[str, dict[str, Any]]:
    """The chosen entry's name and its full parameters: its defaults, overridden by `kwargs`, and for "sigmoid" (the
    paper's reward) the config's `length_penalty_alpha` as `alpha`. Unknown names and parameters fail here, naming
    the valid ones."""
    defaults = length_reward_parameters(name)
    kwargs = dict(kwargs or {})
    if name == "sigmoid" and "alpha" in kwargs:
        raise ValueError(
            "the sigmoid reward's alpha is length_penalty_alpha; set that and drop 'alpha' from length_reward_kwargs."
        )
    unknown = sorted(set(kwargs) - set(defaults))
    if unknown:
        raise ValueError(
            f"length_reward_kwargs has {unknown}, which the length reward {name!r} does not take; its parameters are "
            f"{sorted(set(defaults) - ({'alpha'} if name == 'sigmoid' else set()))}."
        )
    params = {key: value for key, value in defaults.items() if value is not inspect.Parameter.empty}
    if name == "sigmoid":
        params["alpha"] = alpha
    params.update(kwargs)
    # Call it once on a tiny group, so that a bad value (a negative weight, a string) fails now, not at the first step.
    # one prompt's values (equal in its group): a token budget, a start accuracy
    tiny_inputs = {argument: torch.tensor([1, 1]) for argument in dataset_inputs(name)}
    tiny_inputs.update({argument: torch.tensor([True, True]) for argument in completion_inputs(name)})
    LENGTH_REWARDS[name](torch.tensor([True, False]), torch.tensor([1, 2]), 2, **tiny_inputs, **params)
    return name, params
