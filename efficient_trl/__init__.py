"""efficient-trl: reinforcement learning that shortens chains of thought while keeping accuracy, on top of TRL.

Implements "Training Language Models to Reason Efficiently" (Arora & Zanette, 2025). The method itself is the pure
functions of `efficient_trl.rewards`; the trainers are thin subclasses of TRL's RLOO and GRPO trainers.

Names are imported lazily, so that `import efficient_trl` (and the grader's worker processes) stay light.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS = {
    "EfficientGRPOConfig": "configs",
    "EfficientRLOOConfig": "configs",
    "EfficientGRPOTrainer": "trainers",
    "EfficientRLOOTrainer": "trainers",
    "LENGTH_REWARDS": "length_rewards",
    "MathAccuracyReward": "math_grader",
    "MathGrader": "math_grader",
    "length_penalized_rewards": "rewards",
    "math_accuracy_reward": "math_grader",
    "normalize_advantages": "rewards",
    "rloo_advantages": "rewards",
}

__all__ = [
    "EfficientGRPOConfig",
    "EfficientGRPOTrainer",
    "EfficientRLOOConfig",
    "EfficientRLOOTrainer",
    "LENGTH_REWARDS",
    "MathAccuracyReward",
    "MathGrader",
    "length_penalized_rewards",
    "math_accuracy_reward",
    "normalize_advantages",
    "rloo_advantages",
]

if TYPE_CHECKING:
    from .configs import EfficientGRPOConfig, EfficientRLOOConfig
    from .length_rewards import LENGTH_REWARDS
    from .math_grader import MathAccuracyReward, MathGrader, math_accuracy_reward
    from .rewards import length_penalized_rewards, normalize_advantages, rloo_advantages
    from .trainers import EfficientGRPOTrainer, EfficientRLOOTrainer


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'efficient_trl' has no attribute {name!r}")
    return getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])
