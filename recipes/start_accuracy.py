"""`efficient-trl start-accuracy` as a script; see efficient_trl/scripts/start_accuracy.py.

    python recipes/start_accuracy.py --model deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B \\
        --dataset data/train-3.2k --output_dir data/start-accuracy-1.5b --backend vllm

`--help` lists every flag.
"""

from efficient_trl.scripts.start_accuracy import main

if __name__ == "__main__":
    main()
