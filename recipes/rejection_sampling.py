"""Rejection sampling for the SFT and DPO baselines: sample the starting model on the training prompts, keep the
shortest correct response per prompt (SFT) and the (shortest, longest) correct pair (DPO).

    python recipes/rejection_sampling.py --model deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B \
        --dataset data/train-3.2k --output_dir data/rejection-sampling-1.5b --backend vllm

Writes OUTPUT_DIR/samples (an evaluation run: resumable), OUTPUT_DIR/sft and OUTPUT_DIR/dpo (`save_to_disk`), and
OUTPUT_DIR/report.json with how many prompts yielded data (`efficient_trl.baselines.rejection_sample`).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from efficient_trl.baselines import rejection_sample
from efficient_trl.data import PAPER_PROMPT, check_new_output_dir
from efficient_trl.evaluation import BACKENDS, SamplingSettings, resolve_problems


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--dataset", default="data/train-3.2k", help="training problems (see prepare_data.py)")
    parser.add_argument("--num_samples", type=int, default=8, help="responses sampled per prompt")
    parser.add_argument("--temperature", type=float, default=1.0)
    parser.add_argument("--max_new_tokens", type=int, default=32000)
    parser.add_argument("--num_problems", type=int, default=None)
    parser.add_argument("--batch_size", type=int, default=64)
    parser.add_argument(
        "--backend", choices=BACKENDS, default="auto", help="auto: vLLM if installed and CUDA is present"
    )
    parser.add_argument("--tensor_parallel_size", type=int, default=1, help="GPUs per vLLM engine")
    parser.add_argument("--data_parallel_size", type=int, default=1, help="vLLM engines, one process each")
    parser.add_argument("--prompt_template", default=PAPER_PROMPT, help="user turn; {problem} is replaced")
    parser.add_argument("--output_dir", required=True)
    args = parser.parse_args()
    output_dir = Path(args.output_dir)
    for part in ("sft", "dpo"):  # before sampling, which takes hours
        check_new_output_dir(output_dir / part, option="--output_dir")
    sampling = SamplingSettings(k=args.num_samples, temperature=args.temperature, max_new_tokens=args.max_new_tokens)
    problems = resolve_problems(
        args.dataset, split="train", num_problems=args.num_problems, prompt_template=args.prompt_template
    )
    sft, dpo, report = rejection_sample(
        args.model, problems, output_dir / "samples", sampling, dataset=args.dataset,
        prompt_template=args.prompt_template, backend=args.backend, batch_size=args.batch_size,
        tensor_parallel_size=args.tensor_parallel_size, data_parallel_size=args.data_parallel_size,
    )  # fmt: skip
    sft.save_to_disk(str(output_dir / "sft"))
    dpo.save_to_disk(str(output_dir / "dpo"))
    (output_dir / "report.json").write_text(json.dumps(report, indent=1) + "\n")
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
