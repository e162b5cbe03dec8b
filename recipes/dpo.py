"""`efficient-trl dpo` as a script; see efficient_trl/scripts/dpo.py.

    accelerate launch --config_file accelerate_configs/zero2.yaml recipes/dpo.py \\
        --config recipes/deepseek-r1-distill-qwen-1.5b/dpo_lr_5e-6.yaml

`--help` lists every flag.
"""

from efficient_trl.scripts.dpo import main

if __name__ == "__main__":
    main()
