"""`efficient-trl rejection-sampling` as a script; see efficient_trl/scripts/rejection_sampling.py.

    python recipes/rejection_sampling.py --model deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B \\
        --dataset data/train-3.2k --output_dir data/rejection-sampling-1.5b --backend vllm

`--help` lists every flag.
"""

from efficient_trl.scripts.rejection_sampling import main

if __name__ == "__main__":
    main()
