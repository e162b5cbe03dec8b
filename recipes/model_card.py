"""`efficient-trl model-card` as a script; see efficient_trl/scripts/model_card.py.

    python recipes/model_card.py --checkpoint runs/deepseek-r1-distill-qwen-1.5b/alpha_0.2 \\
        --results runs/eval --start DeepSeek-R1-Distill-Qwen-1.5B

`--help` lists every flag.
"""

from efficient_trl.scripts.model_card import main

if __name__ == "__main__":
    main()
