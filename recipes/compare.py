"""Compare every group-relative length reward on both CPU demo tasks, on one Pareto plot per task.

    make compare                                          # 24 models: 25 min on 2 shared cores (1,473 CPU s)
    python recipes/compare.py --run_dir runs/my-compare --tasks multi_sums --settings alpha=0.2 kimi,weight=2

Trains each setting of `efficient_trl.compare.COMPARE_SETTINGS` (every registry entry without a token budget at
its paper's default and one stronger setting, the sigmoid at alpha 0, 0.2, 0.4 and alpha 0.2 group-normalized) with
the same budget from each task's shipped starting model, two jobs at a time, and evaluates every model and the
starting model on the task's held-out problems. Writes under a new run directory settings.json, timings.json and per
task a demo run directory (<task>/: the models, eval/<model>/, results.md, pareto.png).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from efficient_trl.cli import parse_arguments  # noqa: E402
from efficient_trl.compare import CompareRunArguments, CompareSettings, run_compare, write_compare_report  # noqa: E402


def main() -> None:
    where, settings = parse_arguments(CompareRunArguments, CompareSettings, description=__doc__)
    run_dir = Path(where.run_dir)
    started = time.monotonic()
    results = run_compare(run_dir, settings)
    tables = write_compare_report(run_dir, results)
    print(
        f"\n{tables}\n\n{settings.eval_problems} held-out problems per model; ★: on the Pareto frontier; total time "
        f"{time.monotonic() - started:.0f}s\nresults in {run_dir} (plots: {run_dir}/<task>/pareto.png)"
    )


if __name__ == "__main__":
    main()
