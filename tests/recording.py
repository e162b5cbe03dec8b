"""Test helpers: a binary correctness reward that a random model passes half the time, trainers that record what
they trained on, and the one-process reference computation the trainers must match."""

from __future__ import annotations

from collections.abc import Callable

import torch

from efficient_trl.rewards import length_penalized_rewards, normalize_advantages, rloo_advantages


def even_token_sum(completion_ids, **kwargs) -> list[float]:
    """'Correct' when the completion's token ids sum to an even number: binary, deterministic, about 50% true."""
    return [float(sum(ids) % 2 == 0) for ids in completion_ids]


def recording(trainer_class):
    """Subclass `trainer_class` so that it keeps each generation batch's completions and local advantages."""

    class Recording(trainer_class):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.records = []

        def _generate_and_score_completions(self, inputs):
            output = super()._generate_and_score_completions(inputs)
            ids = [
                row[mask.bool()].tolist()
                for row, mask in zip(output["completion_ids"], output["completion_mask"], strict=True)
            ]
            prompts = [
                row[mask.bool()].tolist()
                for row, mask in zip(output["prompt_ids"], output["prompt_mask"], strict=True)
            ]
            self.records.append(
                {"completion_ids": ids, "advantages": output["advantages"].tolist(), "prompt_ids": prompts}
            )
            return output

    return Recording


def expected_advantages(
    completion_ids: list[list[int]],
    terminators: set[int],
    num_generations: int,
    alpha: float,
    normalization: str = "none",
    length: Callable[[list[int]], int] = len,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Rewards and advantages computed in one process from the completions alone, with the pure functions; `length`
    is what the penalty measures of a completion."""
    correct = torch.tensor(even_token_sum(completion_ids)) == 1
    truncated = torch.tensor([not ids or ids[-1] not in terminators for ids in completion_ids])
    lengths = torch.tensor([length(ids) for ids in completion_ids])
    rewards = length_penalized_rewards(correct & ~truncated, lengths, num_generations, alpha)
    advantages = normalize_advantages(
        rloo_advantages(rewards, num_generations), rewards, num_generations, normalization
    )
    return rewards, advantages
