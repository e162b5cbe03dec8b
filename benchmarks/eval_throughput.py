"""Evaluation throughput with the transformers backend, and the share of time spent grading.

Samples the demo model (efficient_trl/demo_model) once on held-out synthetic problems, as `make demo-sums` does, timing
generation and grading separately. Target: grading under 5% of evaluation time.

    python benchmarks/eval_throughput.py [--problems 1000] [--batch_size 250]
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from transformers import AutoModelForCausalLM, AutoTokenizer  # noqa: E402

from efficient_trl.data import TASK_EVAL_SEED  # noqa: E402
from efficient_trl.evaluation import grade_samples, summarize  # noqa: E402
from efficient_trl.experiments.engine import START_MODELS  # noqa: E402
from efficient_trl.math_grader import MathAccuracyReward  # noqa: E402
from efficient_trl.sampling import SamplingSettings, generate_samples  # noqa: E402
from efficient_trl.synthetic import sum_problems  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--problems", type=int, default=1000)
    parser.add_argument("--batch_size", type=int, default=250)
    args = parser.parse_args()
    problems = sum_problems(args.problems, seed=TASK_EVAL_SEED, split="held_out")
    model = AutoModelForCausalLM.from_pretrained(str(START_MODELS["sums"]))
    tokenizer = AutoTokenizer.from_pretrained(str(START_MODELS["sums"]))
    reward = MathAccuracyReward()
    reward(["\\boxed{1}"], answer=["1"])  # start the grader's workers outside the timed part

    start = time.perf_counter()
    samples = generate_samples(
        model,
        tokenizer,
        problems["prompt"],
        SamplingSettings(k=1, max_new_tokens=160),
        batch_size=args.batch_size,
        desc="generating",
    )
    generation = time.perf_counter() - start
    start = time.perf_counter()
    grade_samples(samples, problems["answer"], reward)
    grading = time.perf_counter() - start

    summary = summarize(samples)
    tokens = sum(sample.num_tokens for sample in samples)
    total = generation + grading
    print(f"{len(samples)} samples, {tokens} completion tokens, {os.cpu_count()} CPUs, demo model")
    print(f"generation {generation:.2f}s, grading {grading:.3f}s")
    print(f"samples/s {len(samples) / total:.1f}   tokens/s {tokens / total:.0f}")
    print(f"grading share of evaluation time {100 * grading / total:.2f}% (target < 5%)")
    print(f"accuracy {100 * summary['accuracy']:.1f}%, mean tokens {summary['mean_tokens']:.1f}")


if __name__ == "__main__":
    main()
