"""Reproduce a demo task's starting model (~1M-parameter Qwen2, fine-tuned with TRL's SFTTrainer).

    python recipes/build_demo_model.py --output_dir efficient_trl/demo_model
    python recipes/build_demo_model.py --task multi_sums --output_dir /tmp/multi_sums_1     # then train it again:
    python recipes/build_demo_model.py --task multi_sums --init_model /tmp/multi_sums_1 \
        --output_dir efficient_trl/demo_model_multi_sums
    OMP_NUM_THREADS=1 python recipes/build_demo_model.py --task graded --output_dir efficient_trl/demo_model_graded

The same as `efficient-trl build-demo-model` (efficient_trl/experiments/demo_model.py); `--help` lists every setting.
"""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from efficient_trl.experiments.demo_model import main  # noqa: E402

if __name__ == "__main__":
    main()
