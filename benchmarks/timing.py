"""Timing helpers shared by the benchmarks (overhead.py, gpu_check.py): per-step wall time of a TRL trainer, and the
paired ratio of two variants that do the same work step for step."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

from transformers import TrainerCallback


class StepTimer(TrainerCallback):
    """Wall time of every optimizer step (generation included, for TRL's online trainers).

    `synchronize` (e.g. `torch.cuda.synchronize`) is called at both ends so that queued GPU work is counted in the
    step that launched it.
    """

    def __init__(self, synchronize: Callable[[], None] | None = None):
        self.times: list[float] = []
        self._synchronize = synchronize or (lambda: None)

    def on_step_begin(self, args, state, control, **kwargs):
        self._synchronize()
        self._start = time.perf_counter()

    def on_step_end(self, args, state, control, **kwargs):
        self._synchronize()
        self.times.append(time.perf_counter() - self._start)


def fastest_per_step(runs: list[list[float]]) -> list[float]:
    """Step k's fastest time over runs that do the same work at step k: the run least disturbed by the machine."""
    return [min(step) for step in zip(*runs, strict=True)]


def paired_ratio(numerator: list[float], denominator: list[float]) -> float:
    """Median over steps of numerator / denominator, step by step."""
    return statistics.median(n / d for n, d in zip(numerator, denominator, strict=True))
