"""The CPU demo: make an overthinking model reason efficiently, offline, on 2 CPU cores.

    make demo                                   # the graded task, alpha 0 and 0.2, then evaluate per tier
    make demo-sums                              # the same on the sums task
    make sweep                                  # alphas 0, 0.05, 0.1, 0.2, 0.4 and the baselines
    make ablation                               # alphas 0.05 and 0.2, advantages normalized or not
    python recipes/demo.py --alphas 0 0.1 --steps 60 --run_dir runs/my-demo

The same as `efficient-trl demo` (efficient_trl/experiments/demo.py); `--help` lists every setting.
"""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from efficient_trl.experiments.demo import main  # noqa: E402

if __name__ == "__main__":
    main()
