"""`efficient-trl train` as a script; see efficient_trl/scripts/train.py.

    accelerate launch --config_file accelerate_configs/zero2.yaml recipes/train.py \\
        --config recipes/deepseek-r1-distill-qwen-1.5b/alpha_0.2.yaml

`--help` lists every flag.
"""

from efficient_trl.scripts.train import main

if __name__ == "__main__":
    main()
