"""The budget demo: a model trained to follow a token budget in its prompt (L1), against budget forcing and the alpha
family, on the CPU demo's sums, offline, on 2 CPU cores.

    make budget-demo                                          # the README's run (runs/budget-demo-<date>-<time>)
    python recipes/budget_demo.py --run_dir runs/my-budgets --eval_budgets 60 90 120

Writes under a new run directory: budget_sft_sampling/ and budget_sft/ (stage 1: SFT on the starting model's own
samples, each asking for a budget near its length), budget/ (stage 2: RL with the L1 reward, with
trainer_state.json and provenance.json), eval/<model>/ per evaluation (eval/start/, eval/start_forced/budget-<N>/,
eval/budget_sft/budget-<N>/, eval/budget/budget-<N>/), results.md (the table printed at the end) and
budget_demo.png.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from efficient_trl.budget_demo import (  # noqa: E402
    BudgetDemoRunArguments,
    BudgetDemoSettings,
    run_budget_demo,
    write_budget_demo_report,
)
from efficient_trl.cli import parse_arguments  # noqa: E402


def main() -> None:
    where, settings = parse_arguments(BudgetDemoRunArguments, BudgetDemoSettings, description=__doc__)
    run_dir = Path(where.run_dir)
    started = time.monotonic()
    rows = run_budget_demo(run_dir, settings)
    table, _ = write_budget_demo_report(run_dir, rows)
    print(
        f"\n{table}\n\n{settings.eval_problems} held-out problems per evaluation; total time "
        f"{time.monotonic() - started:.0f}s\nresults in {run_dir} (plot: {run_dir / 'budget_demo.png'})"
    )


if __name__ == "__main__":
    main()
