"""Train a model to reason efficiently: GRPO or RLOO with a length reward, configured by a recipe YAML.

    accelerate launch --config_file accelerate_configs/zero2.yaml -m efficient_trl train \\
        --config recipes/deepseek-r1-distill-qwen-1.5b/alpha_0.2.yaml

Relaunching the same command after an interruption resumes from the last complete checkpoint in `output_dir`; a
finished run is left as it is, and another run into the same `output_dir` is refused (`--overwrite_output_dir true`
deletes it and starts over). `--help` shows `efficient_trl.training`'s usage and every field.
"""

from __future__ import annotations

from efficient_trl.training import parse_training_arguments, train


def main(argv: list[str] | None = None) -> None:
    train(*parse_training_arguments(argv))
