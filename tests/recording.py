"""Test helpers: a binary correctness reward that a random model passes half the time, trainers that record what
they trained on, and the one-process reference computation the trainers must match."""

from __future__ import annotations

from collections.abc import Callable

import torch

from efficient_trl.length_rewards import LENGTH_REWARDS
from efficient_trl.rewards import normalize_advantages, rloo_advantages
from efficient_trl.synthetic import sum_problems
from efficient_trl.testing import TWO_TERM_SUMS


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
            budgets = [row.get("budget") for row in inputs]  # L1's per-prompt budget, where the dataset has one
            record = {
                "completion_ids": ids,
                "advantages": output["advantages"].tolist(),
                "prompt_ids": prompts,
                "budgets": budgets,
                "start_accuracy": [row.get("start_accuracy") for row in inputs],  # adapt_think's, where present
            }
            for key in ("old_per_token_logps", "ref_per_token_logps"):  # GRPO's, where TRL computed them
                if output.get(key) is not None:
                    record[key] = output[key].tolist()
            self.records.append(record)
            return output

    return Recording


def recorded_run(trainer_class, model, args, train_dataset=None, reward_funcs=even_token_sum):
    """Train `recording(trainer_class)` from `model` with `args` on `train_dataset` (default: 8 two-term sums,
    seed 0) and `reward_funcs` (default: `even_token_sum`); returns the trained trainer, its `records`, and the ids
    that end a completion (EOS and padding), which `expected_advantages` takes."""
    if train_dataset is None:
        train_dataset = sum_problems(8, seed=0, **TWO_TERM_SUMS)
    trainer = recording(trainer_class)(model=model, reward_funcs=reward_funcs, args=args, train_dataset=train_dataset)
    trainer.train()
    return trainer, {*trainer.eos_token_ids, trainer.processing_class.pad_token_id}


def expected_advantages(
    completion_ids: list[list[int]],
    terminators: set[int],
    num_generations: int,
    alpha: float,
    normalization: str = "none",
    length: Callable[[list[int]], int] = len,
    length_reward: str = "sigmoid",
    extra_rewards: torch.Tensor | None = None,
    **params: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Rewards and advantages computed in one process from the completions alone, with the pure functions; `length`
    is what the penalty measures of a completion, `length_reward` the registry entry (alpha is the sigmoid's, other
    entries take `params`), `extra_rewards` the summed per-completion rewards of other reward functions."""
    correct = torch.tensor(even_token_sum(completion_ids)) == 1
    truncated = torch.tensor([not ids or ids[-1] not in terminators for ids in completion_ids])
    lengths = torch.tensor([length(ids) for ids in completion_ids])
    params = {"alpha": alpha} if length_reward == "sigmoid" else params
    rewards = LENGTH_REWARDS[length_reward](correct & ~truncated, lengths, num_generations, **params)
    if extra_rewards is not None:
        rewards = rewards + extra_rewards
    advantages = normalize_advantages(
        rloo_advantages(rewards, num_generations),
        rewards,
        num_generations,
        normalization,
        completion_lengths=torch.tensor([len(ids) for ids in completion_ids]),  # the tokens the loss counts
    )
    return rewards, advantages


def recording_losses(trainer_class):
    """`trainer_class` keeping what reached each `_compute_loss` call and the loss it returned."""

    class Recording(trainer_class):
        losses = []

        def _compute_loss(self, model, inputs):
            loss = super()._compute_loss(model, inputs)
            self.losses.append(({k: v.clone() if torch.is_tensor(v) else v for k, v in inputs.items()}, loss.item()))
            return loss

    return Recording
