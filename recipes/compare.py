"""Compare every group-relative length reward on both CPU demo tasks, on one Pareto plot per task.

    make compare
    python recipes/compare.py --run_dir runs/my-compare --tasks multi_sums --settings alpha=0.2 kimi,weight=2

The same as `efficient-trl compare` (efficient_trl/experiments/compare.py); `--help` lists every setting.
"""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from efficient_trl.experiments.compare import main  # noqa: E402

if __name__ == "__main__":
    main()
