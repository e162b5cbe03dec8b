"""The budget demo: a model trained to follow a token budget in its prompt (L1), against budget forcing and the alpha
family, on the CPU demo's sums, offline, on 2 CPU cores.

    make budget-demo
    python recipes/budget_demo.py --run_dir runs/my-budgets --eval_budgets 60 90 120

The same as `efficient-trl budget-demo` (efficient_trl/experiments/budget_demo.py); `--help` lists every setting.
"""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from efficient_trl.experiments.budget_demo import main  # noqa: E402

if __name__ == "__main__":
    main()
