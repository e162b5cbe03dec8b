"""AdaptThink's importance sampling: a share of each prompt's training rollouts is forced to open without thinking,
and the PPO ratio is corrected for it.

AdaptThink (Zhang et al. 2025, arXiv:2505.13417, section 4.2) starts from a model that almost never answers without
thinking, so on-policy sampling would never show the no-thinking mode its reward favours. It samples instead from an
importance-sampling distribution pi_IS that opens a share of the rollouts (half) with `</think>` and the rest as the
model would think, and replaces the old policy's probability of that first token by pi_IS's in the ratio
`pi_theta(y | x) / pi_IS(y | x)` of the clipped loss. The authors' code (github THU-KEG/AdaptThink) does it in
src/adapt_think_vllm_rollout.py `vLLMRollout.generate_sequences` (round(n * nothinking_ratio) rollouts of each prompt
get `</think>` appended to the prompt, the others "Alright", each token put back at the completion's start) and in
src/adapt_think_core_algos.py `compute_policy_loss` (`adapt_think_adjust_old_log_prob`: the old log-prob of the first
token becomes log(nothinking_ratio) for the forced rows, log(1 - nothinking_ratio) for the others, and the ratio is
one per completion, the exponential of its mean per-token log-ratio: TRL GRPO's importance_sampling_level="sequence",
which the adapt_think recipes set).

Here the forced rows open with the task's no-thinking opening (`no_think_opening`: `</think>` after a prompt that
opens the thinking itself, as R1-distill's `<think>\\n` prefill does, else `<think></think>`; what
`thinking.without_thinking` reads as no thinking), and the other rows are sampled from the policy as they are (no
"Alright": the opening of a thought is model-specific). So pi_IS is the mixture `share * [the opening, then the
policy] + (1 - share) * policy`, and `importance_sampled_logps` puts its probability in the old log-probs: a
completion that opens with the opening (forced, or by itself) gets `log(share + (1 - share) * p_old(opening))` at its
first token and 0 at the opening's other tokens; any other completion `log(1 - share) + log p_old(first token)`. While
the old policy never opens without thinking by itself (p_old(opening) = 0), that is the authors' log(share) for the
forced rows; their other rows' first token was forced too, so they replace its probability by 1 - share where here
it is multiplied by 1 - share. Pure functions; the trainers apply them (efficient_trl/trainers.py).
"""

from __future__ import annotations

import math
from typing import Any

import torch

from .thinking import THINK_END, THINK_START

__all__ = ["forced_rows", "importance_sampled_logps", "no_think_opening", "opens_with"]


def forced_rows(num_rows: int, first_row: int, num_generations: int, share: float) -> list[bool]:
    """Which of `num_rows` consecutive rollouts, the first being row `first_row` of the generation batch gathered from
    every process (groups of `num_generations` rollouts of one prompt), are forced to open without thinking: the first
    `round(share * num_generations)` of each group (rounded half up), as the authors' `round(n * nothinking_ratio)`."""
    if not 0.0 <= share <= 1.0:
        raise ValueError(f"the share of forced rollouts must be in [0, 1], got {share!r}.")
    per_group = math.floor(share * num_generations + 0.5)
    return [(first_row + row) % num_generations < per_group for row in range(num_rows)]


def no_think_opening(prompt_ids: list[int], tokenizer: Any) -> list[int]:
    """The token ids a completion of the prompt `prompt_ids` opens with to answer without thinking: `</think>` when the
    prompt ends inside an opened thinking block (R1-distill's template pre-fills `<think>\\n`), else `<think></think>`;
    both are what `thinking.without_thinking` reads as an empty thinking block. Each marker is tokenized alone, so that
    the completion holds `</think>`'s ids as the trainers look for them (`thinking.think_end_ids`)."""
    tail = tokenizer.decode(prompt_ids[-16:], skip_special_tokens=False).rstrip()
    end = tokenizer(THINK_END, add_special_tokens=False)["input_ids"]
    if tail.endswith(THINK_START):
        return end
    return tokenizer(THINK_START, add_special_tokens=False)["input_ids"] + end


def opens_with(completion_ids: list[int], opening: list[int]) -> bool:
    """Whether a completion's first tokens are `opening`."""
    return list(completion_ids[: len(opening)]) == list(opening)


def importance_sampled_logps(
    old_logps: torch.Tensor, opened: torch.Tensor, opening_lengths: torch.Tensor, share: float
) -> torch.Tensor:
    """The old per-token log-probs (B, T) with the first tokens' replaced by the importance-sampling distribution's
    (see the module docstring): row b opened with its no-thinking opening of `opening_lengths[b]` tokens where
    `opened[b]`; `share` of each prompt's rollouts were forced to. Other positions are returned as they are."""
    if old_logps.dim() != 2 or opened.shape != old_logps.shape[:1] or opening_lengths.shape != opened.shape:
        raise ValueError(
            f"old_logps must be (B, T) with one opened flag and opening length per row, got {tuple(old_logps.shape)}, "
            f"{tuple(opened.shape)} and {tuple(opening_lengths.shape)}."
        )
    if not 0.0 < share <= 1.0:
        raise ValueError(f"share must be in (0, 1] (0: nothing was forced, nothing to correct), got {share!r}.")
    logps = old_logps.clone()
    positions = torch.arange(logps.shape[1], device=logps.device)
    in_opening = opened[:, None] & (positions[None, :] < opening_lengths[:, None])
    opening_logp = (old_logps * in_opening).sum(1)  # log p_old(opening) where opened
    mixture = torch.log(share + (1.0 - share) * opening_logp.exp())
    free = math.log(1.0 - share) if share < 1.0 else -math.inf  # no free row is sampled at share 1
    logps[in_opening] = 0.0
    logps[:, 0] = torch.where(opened, mixture.to(logps.dtype), old_logps[:, 0] + free)
    return logps
