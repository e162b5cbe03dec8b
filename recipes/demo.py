"""The CPU demo: make an overthinking model reason efficiently, offline, on 2 CPU cores.

    make demo                                   # alpha 0 and 0.2, then evaluate (about 10 minutes)
    make sweep                                  # alphas 0, 0.05, 0.1, 0.2, 0.4 and the baselines
    make ablation                               # alphas 0.05 and 0.2, advantages normalized or not
    python recipes/demo.py --alphas 0 0.1 --steps 60 --run_dir runs/my-demo

Writes under a new run directory: one trained model per alpha (with trainer_state.json, its training log, and
provenance.json), eval/<model>/ per evaluated model as recipes/evaluate.py lays out a run (settings.json,
samples.jsonl, summary.json; with --baselines also rejection_sampling/, the baselines' samples), results.md (the
table printed at the end) and tradeoff.png. The notebooks in
notebooks/ read such a directory.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from efficient_trl.cli import parse_arguments  # noqa: E402
from efficient_trl.demo import DemoRunArguments, DemoSettings, run_demo, write_demo_report  # noqa: E402


def main() -> None:
    where, settings = parse_arguments(DemoRunArguments, DemoSettings, description=__doc__)
    run_dir = Path(where.run_dir)
    started = time.monotonic()
    rows = run_demo(run_dir, settings)
    table, _ = write_demo_report(run_dir, rows)
    print(
        f"\n{table}\n\n{settings.eval_problems} held-out problems x {settings.eval_k} samples per model; "
        f"total time {time.monotonic() - started:.0f}s\nresults in {run_dir} (plot: {run_dir / 'tradeoff.png'})"
    )


if __name__ == "__main__":
    main()
