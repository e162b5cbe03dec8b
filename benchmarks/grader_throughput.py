"""Grader throughput: the 500 MATH500 gold answers, boxed as responses, graded against themselves.

Prints responses per second for a whole batch and the slowest single response (each graded alone), twice:
- "as given": each response boxes the gold verbatim, the case the exact-match shortcut serves;
- "reformatted": each answer prefixed with `\\displaystyle`, which changes no value but defeats the shortcuts, so
  every response is parsed and compared by math-verify (the cost of a correct answer written unlike the gold).

Every timed pass starts with fresh workers (caches empty), so repeated strings are not served from a cache.

    python benchmarks/grader_throughput.py [--workers N] [--repeats R]
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

from efficient_trl.math_grader import MathAccuracyReward

MATH500 = Path(__file__).resolve().parents[1] / "efficient_trl" / "data" / "math500_test.jsonl"


def fresh_reward(timeout: float, workers: int | None) -> MathAccuracyReward:
    reward = MathAccuracyReward(timeout_seconds=timeout, num_workers=workers)
    reward(["\\boxed{1}"] * 64, answer=["2"] * 64)  # start every worker outside the timed part
    return reward


def measure(responses: list[str], golds: list[str], repeats: int, timeout: float, workers: int | None) -> dict:
    best = float("inf")
    for _ in range(repeats):
        reward = fresh_reward(timeout, workers)
        start = time.perf_counter()
        scores = reward(responses, answer=golds)
        best = min(best, time.perf_counter() - start)
        reward.grader.close()
    reward = fresh_reward(timeout, workers)
    slowest = 0.0
    for response, gold in zip(responses, golds, strict=True):
        start = time.perf_counter()
        reward([response], answer=[gold])
        slowest = max(slowest, time.perf_counter() - start)
    reward.grader.close()
    return {
        "per_second": len(responses) / best,
        "slowest_s": slowest,
        "correct": sum(scores) / len(scores),
        "workers": reward.grader.num_workers,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=None, help="grader worker processes (default: CPU count)")
    parser.add_argument("--repeats", type=int, default=5, help="timed passes over the 500 responses; best is kept")
    parser.add_argument("--timeout", type=float, default=3.0, help="per-answer timeout in seconds")
    args = parser.parse_args()
    rows = [json.loads(line) for line in MATH500.read_text().splitlines()]
    golds = [row["answer"] for row in rows]
    print(f"{len(rows)} MATH500 answers, {os.cpu_count()} CPUs, timeout {args.timeout:g}s per answer")
    print(f"{'responses':<12} {'workers':>8} {'responses/s':>12} {'slowest (ms)':>12} {'scored correct':>15}")
    for name, template in (("as given", "\\boxed{%s}"), ("reformatted", "\\boxed{\\displaystyle %s}")):
        result = measure([template % gold for gold in golds], golds, args.repeats, args.timeout, args.workers)
        print(
            f"{name:<12} {result['workers']:>8} {result['per_second']:>12,.0f} {1000 * result['slowest_s']:>12.1f} "
            f"{result['correct']:>15.1%}"
        )


if __name__ == "__main__":
    main()
