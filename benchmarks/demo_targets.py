"""Check the sums CPU demo (make demo-sums) against its targets, with measured figures.

    python benchmarks/demo_targets.py                      # runs the sums demo (alpha 0 and 0.2), then checks it
    python benchmarks/demo_targets.py --run_dir runs/demo-20261126-141500 --seconds 387   # check an earlier run

Targets: the demo ends within 10 minutes on 2 cores; at alpha = 0.2 mean tokens fall by at least 30% against the
starting model with accuracy no more than 3 points below it, and by at least 10% against the alpha = 0 run.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from efficient_trl.analysis import load_results  # noqa: E402
from efficient_trl.experiments.demo import DemoSettings, run_demo  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run_dir", help="an existing demo run to check instead of running one")
    parser.add_argument("--seconds", type=float, help="wall time of that existing run, if known")
    args = parser.parse_args()
    if args.run_dir:
        run_dir, seconds = Path(args.run_dir), args.seconds
        rows = load_results(run_dir)
    else:
        run_dir = Path(f"runs/demo-targets-{time.strftime('%Y%m%d-%H%M%S')}")
        started = time.monotonic()
        rows = run_demo(run_dir, DemoSettings(task="sums", alphas=[0.0, 0.2]))
        seconds = time.monotonic() - started
    by_name = {row["name"]: row for row in rows}
    start, plain, penalized = by_name["start"], by_name["alpha=0"], by_name["alpha=0.2"]
    checks = [
        ("demo wall time (s), target <= 600", seconds, seconds is not None and seconds <= 600),
        (
            "alpha=0.2 tokens vs start, target <= -30%",
            100 * (penalized["mean_tokens"] / start["mean_tokens"] - 1),
            penalized["mean_tokens"] <= 0.7 * start["mean_tokens"],
        ),
        (
            "alpha=0.2 accuracy vs start (pts), target >= -3",
            100 * (penalized["accuracy"] - start["accuracy"]),
            penalized["accuracy"] >= start["accuracy"] - 0.03,
        ),
        (
            "alpha=0.2 tokens vs alpha=0, target <= -10%",
            100 * (penalized["mean_tokens"] / plain["mean_tokens"] - 1),
            penalized["mean_tokens"] <= 0.9 * plain["mean_tokens"],
        ),
    ]
    print(f"run: {run_dir}, {start['num_samples']} held-out samples per model, {os.cpu_count()} CPUs")
    for name, value, met in checks:
        shown = "n/a" if value is None else f"{value:+.1f}" if "vs" in name else f"{value:.0f}"
        print(f"{name:<50} {shown:>8}  {'met' if met else 'NOT MET'}")
    stderr = max(row["accuracy_stderr"] for row in (start, penalized))
    print(
        f"accuracy standard error <= {100 * stderr:.1f} pts per model: a 3-point gap is "
        f"{3 / (100 * stderr * 2**0.5):.1f} standard errors of a difference"
    )


if __name__ == "__main__":
    main()
