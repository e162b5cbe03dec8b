"""Rejection sampling for the SFT and DPO baselines: sample the starting model on the training prompts, keep the
shortest correct response per prompt (SFT) and the (shortest, longest) correct pair (DPO).

    efficient-trl rejection-sampling --model deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B \\
        --dataset data/train-3.2k --output_dir data/rejection-sampling-1.5b --backend vllm

Writes OUTPUT_DIR/samples (an evaluation run: resumable), OUTPUT_DIR/sft and OUTPUT_DIR/dpo (`save_to_disk`), and
OUTPUT_DIR/report.json with how many prompts yielded data (`efficient_trl.baselines.rejection_sample`).
"""

from __future__ import annotations

import json
from dataclasses import asdict, replace
from pathlib import Path

from efficient_trl.baselines import RejectionSamplingArguments, rejection_sample
from efficient_trl.cli import parse_arguments
from efficient_trl.data import prompt_template_for
from efficient_trl.evaluation import GenerationArguments, check_model_reference, resolve_problems
from efficient_trl.rundir import check_new_output_dir


def main(argv: list[str] | None = None) -> None:
    args, generation = parse_arguments(RejectionSamplingArguments, GenerationArguments, argv=argv, description=__doc__)
    check_model_reference(args.model)
    # the dataset's own prompt unless one is given, recorded as such in the samples' settings
    generation = replace(generation, prompt_template=prompt_template_for(args.dataset, generation.prompt_template))
    output_dir = Path(args.output_dir)
    for part in ("sft", "dpo"):  # before sampling, which takes hours
        check_new_output_dir(output_dir / part, option="--output_dir")
    problems = resolve_problems(
        args.dataset, split="train", num_problems=args.num_problems, prompt_template=generation.prompt_template
    )
    sft, dpo, report = rejection_sample(
        args.model, problems, output_dir / "samples", args.sampling(), dataset=args.dataset, **asdict(generation)
    )
    sft.save_to_disk(str(output_dir / "sft"))
    dpo.save_to_disk(str(output_dir / "dpo"))
    (output_dir / "report.json").write_text(json.dumps(report, indent=1) + "\n")
    print(json.dumps(report, indent=1))
