"""`efficient-trl evaluate` as a script; see efficient_trl/scripts/evaluate.py.

    python recipes/evaluate.py --model runs/deepseek-r1-distill-qwen-1.5b/alpha_0.2 --dataset math500

`--help` lists every flag.
"""

from efficient_trl.scripts.evaluate import main

if __name__ == "__main__":
    main()
