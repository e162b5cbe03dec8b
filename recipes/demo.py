"""The CPU demo: make an overthinking model reason efficiently, offline, on 2 CPU cores.

    make demo                                   # alpha 0 and 0.2, then evaluate (about 10 minutes)
    make sweep                                  # alphas 0, 0.05, 0.1, 0.2, 0.4 and the baselines
    make ablation                               # alphas 0.05 and 0.2, advantages normalized or not
    python recipes/demo.py --alphas 0 0.1 --steps 60 --run_dir runs/my-demo

Writes under a new run directory: one trained model per alpha (with trainer_state.json, its training log), one
evaluation run directory per model (eval/<model>/: settings.json, samples.jsonl, summary.json; with --baselines also
rejection_sampling/), results.json, results.md (the table printed at the end) and tradeoff.png. The notebooks in
notebooks/ read such a directory.
"""

from __future__ import annotations

import argparse
import os
import time
from dataclasses import fields
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from efficient_trl.demo import DemoSettings, run_demo, write_demo_report  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run_dir", default=f"runs/demo-{time.strftime('%Y%m%d-%H%M%S')}")
    defaults = DemoSettings()
    for setting in fields(DemoSettings):
        value, help = getattr(defaults, setting.name), setting.metadata["help"]
        if isinstance(value, bool):
            parser.add_argument(f"--{setting.name}", action="store_true", help=help)
        elif isinstance(value, list):
            parser.add_argument(f"--{setting.name}", type=type(value[0]), nargs="+", default=value, help=help)
        else:
            parser.add_argument(f"--{setting.name}", type=type(value), default=value, help=help)
    args = vars(parser.parse_args())
    run_dir = Path(args.pop("run_dir"))
    settings = DemoSettings(**args)
    started = time.monotonic()
    rows = run_demo(run_dir, settings)
    table, _ = write_demo_report(run_dir, rows)
    print(
        f"\n{table}\n\n{settings.eval_problems} held-out problems x {settings.eval_k} samples per model; "
        f"total time {time.monotonic() - started:.0f}s\nresults in {run_dir} (plot: {run_dir / 'tradeoff.png'})"
    )


if __name__ == "__main__":
    main()
