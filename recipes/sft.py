"""`efficient-trl sft` as a script; see efficient_trl/scripts/sft.py.

    accelerate launch --config_file accelerate_configs/zero2.yaml recipes/sft.py \\
        --config recipes/deepseek-r1-distill-qwen-1.5b/sft_lr_5e-6.yaml

`--help` lists every flag.
"""

from efficient_trl.scripts.sft import main

if __name__ == "__main__":
    main()
