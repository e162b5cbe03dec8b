"""Train a model to reason efficiently: GRPO or RLOO with a length reward, configured by a recipe YAML.

    accelerate launch --config_file accelerate_configs/zero2.yaml -m efficient_trl train \\
        --config recipes/deepseek-r1-distill-qwen-1.5b/alpha_0.2.yaml

Relaunching the same command after an interruption resumes from the last complete checkpoint in `output_dir`; a
finished run is left as it is, and another run into the same `output_dir` is refused (`--overwrite_output_dir true`
deletes it and starts over). `--help` shows `efficient_trl.training`'s usage and every field. A misspelt flag or YAML
key is a usage error naming the closest field, said before anything else (`cli.check_options`); on a machine without
a GPU, the recipes' `bf16: true` is one line with the fix (`--use_cpu true --bf16 false`), not TRL's traceback.
"""

from __future__ import annotations

import sys
from pathlib import Path

from efficient_trl.training import parse_training_arguments, train

CPU_HINT = "--use_cpu true --bf16 false"


def main(argv: list[str] | None = None) -> None:
    try:
        parsed = parse_training_arguments(argv)
    except ValueError as error:  # transformers' TrainingArguments refuses bf16 without a device that has it
        if "bf16" not in str(error) or _has_gpu():
            raise
        print(
            f"{Path(sys.argv[0]).name}: error: bf16 needs a GPU and this machine has none; to train on the CPU, "
            f"add {CPU_HINT} (slow: for tiny models and smoke tests).",
            file=sys.stderr,
        )
        raise SystemExit(2) from None
    train(*parsed)


def _has_gpu() -> bool:
    import torch

    return torch.cuda.is_available()
