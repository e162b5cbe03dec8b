"""Train a model to reason efficiently. See recipes/README.md.

    accelerate launch --config_file accelerate_configs/zero2.yaml recipes/train.py \
        --config recipes/deepseek-r1-distill-qwen-1.5b/alpha_0.2.yaml

Relaunching the same command after an interruption resumes from the last complete checkpoint in `output_dir`; a
finished run is left as it is, and another run into the same `output_dir` is refused (`--overwrite_output_dir true`
deletes it and starts over).
"""

from efficient_trl.training import parse_training_arguments, train


def main() -> None:
    train(*parse_training_arguments())


if __name__ == "__main__":
    main()
