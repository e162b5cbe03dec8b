"""A target mean length instead of alpha: the paper's alpha adjusted during training by projected dual ascent.

Training with `target_mean_tokens` set asks for a mean length, E[LEN] <= target, rather than a penalty strength.
The Lagrangian of "maximise correctness subject to E[LEN] <= target" weights the length term by a multiplier; the
paper's reward already has one, alpha, so alpha plays it. After each generation batch's rewards, alpha takes one
projected step of dual ascent on the relative violation of the constraint:

    alpha <- clip(alpha + step_size * (mean_len - target) / target, 0, alpha_max)

It grows while the batch is longer than the target and shrinks (down to 0, no penalty) while it is shorter, so the
mean length settles near the target from either side. Dividing by the target makes `step_size` a unitless rate
(0.1: a batch 10% too long raises alpha by 0.01). alpha_max < 1 keeps the reward's guarantee that a correct answer
outranks a wrong one. `mean_len` is the batch mean over every process (the trainers gather the lengths before
calling `update`), so every process computes the same alpha.

`DualAlphaCallback` holds alpha across steps and through a checkpoint: as a transformers `ExportableState` its
alpha is written to trainer_state.json's `stateful_callbacks` with every checkpoint and read back when training
resumes from one (the target, step size and alpha_max are the resumed run's config's).
"""

from __future__ import annotations

import math
from typing import Any

from transformers import TrainerCallback
from transformers.trainer_callback import ExportableState

__all__ = ["DualAlphaCallback", "dual_alpha_step"]


def dual_alpha_step(alpha: float, mean_length: float, target: float, step_size: float, alpha_max: float) -> float:
    """One projected dual-ascent step: `alpha + step_size * (mean_length - target) / target`, clipped to
    [0, alpha_max]."""
    if not (target > 0 and step_size > 0 and 0 < alpha_max < 1 and math.isfinite(mean_length)):
        raise ValueError(
            f"dual_alpha_step needs target > 0, step_size > 0, 0 < alpha_max < 1 and a finite mean length, got "
            f"target={target!r}, step_size={step_size!r}, alpha_max={alpha_max!r}, mean_length={mean_length!r}."
        )
    return min(max(alpha + step_size * (mean_length - target) / target, 0.0), alpha_max)


class DualAlphaCallback(TrainerCallback, ExportableState):
    """The controlled alpha of a run with a target mean length (the trainers add one; `update` is called once per
    training generation batch). Its alpha goes into every checkpoint's trainer_state.json and comes back on resume,
    whatever `restore_callback_states_from_checkpoint` says."""

    def __init__(self, alpha: float, target: float, step_size: float, alpha_max: float):
        self.alpha, self.target, self.step_size, self.alpha_max = float(alpha), target, step_size, alpha_max

    def update(self, mean_length: float) -> float:
        """Take one dual step from the batch's mean length; returns the new alpha."""
        self.alpha = dual_alpha_step(self.alpha, mean_length, self.target, self.step_size, self.alpha_max)
        return self.alpha

    def state(self) -> dict[str, Any]:
        return {
            "args": {
                "alpha": self.alpha,
                "target": self.target,
                "step_size": self.step_size,
                "alpha_max": self.alpha_max,
            },
            "attributes": {"alpha": self.alpha},
        }

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        # The run's own config sets the target and the step, also when resuming (Trainer's own restore, with
        # restore_callback_states_from_checkpoint=True, would rebuild this callback with the checkpoint's).
        self.target, self.step_size = args.target_mean_tokens, args.length_penalty_alpha_step_size
        self.alpha_max = args.length_penalty_alpha_max
        # Resuming, Trainer has replaced `state` by the checkpoint's: take its alpha (whatever
        # restore_callback_states_from_checkpoint says). A fresh run's state holds this callback's own alpha.
        saved = state.stateful_callbacks.get(type(self).__name__)
        if isinstance(saved, dict):
            self.alpha = min(float(saved["attributes"]["alpha"]), self.alpha_max)
