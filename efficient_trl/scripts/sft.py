"""The SFT baseline: TRL's SFTTrainer on the rejection-sampled data of `efficient-trl rejection-sampling`.

    accelerate launch --config_file accelerate_configs/zero2.yaml -m efficient_trl sft \\
        --config recipes/deepseek-r1-distill-qwen-1.5b/sft_lr_5e-6.yaml

Relaunching the same command after an interruption resumes from the last complete checkpoint in `output_dir`; a
finished run is left as it is, and another run into the same `output_dir` is refused (`--overwrite_output_dir true`
deletes it and starts over).
"""

from __future__ import annotations

from efficient_trl.training import train_baseline


def main(argv: list[str] | None = None) -> None:
    train_baseline("sft", argv)
