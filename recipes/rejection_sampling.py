"""Rejection sampling for the SFT and DPO baselines: sample the starting model on the training prompts, keep the
shortest correct response per prompt (SFT) and the (shortest, longest) correct pair (DPO).

    python recipes/rejection_sampling.py --model deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B \
        --dataset data/train-3.2k --output_dir data/rejection-sampling-1.5b --backend vllm

Writes OUTPUT_DIR/samples (an evaluation run: resumable), OUTPUT_DIR/sft and OUTPUT_DIR/dpo (`save_to_disk`), and
OUTPUT_DIR/report.json with how many prompts yielded data.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

from transformers import AutoTokenizer

from efficient_trl.baselines import RejectionSamplingArguments, rejection_sampling_datasets
from efficient_trl.cli import parse_arguments
from efficient_trl.data import load_problems, to_prompts
from efficient_trl.evaluation import GenerationArguments, evaluate, load_samples


def main() -> None:
    args, generation = parse_arguments(RejectionSamplingArguments, GenerationArguments, description=__doc__)
    output_dir = Path(args.output_dir)
    for part in ("sft", "dpo"):
        if (output_dir / part).exists():
            raise SystemExit(f"{output_dir / part} already exists; choose another --output_dir.")
    summary = evaluate(
        args.model, args.dataset, output_dir / "samples", k=args.num_samples, temperature=args.temperature,
        max_new_tokens=args.max_new_tokens, seed=args.seed, num_problems=args.num_problems, split="train",
        **asdict(generation),
    )  # fmt: skip
    problems = load_problems(args.dataset, split="train").select(range(summary["num_problems"]))
    sft, dpo, report = rejection_sampling_datasets(
        to_prompts(problems, generation.prompt_template)["prompt"],
        load_samples(output_dir / "samples"),
        AutoTokenizer.from_pretrained(args.model),
    )
    sft.save_to_disk(str(output_dir / "sft"))
    dpo.save_to_disk(str(output_dir / "dpo"))
    (output_dir / "report.json").write_text(json.dumps(report, indent=1) + "\n")
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
