"""Evaluate a model: average pass@k, tokens spent, truncation, and the generation-cutoff baseline.

    python recipes/evaluate.py --model runs/deepseek-r1-distill-qwen-1.5b/alpha_0.2 --dataset math500
    python recipes/evaluate.py --model efficient_trl/demo_model --dataset aime24 --max_new_tokens 256

Defaults follow the paper: temperature 0.6, up to 32,768 new tokens, k = 1 (gsm8k), 3 (math500), 10 (aime24). The
run directory (default runs/eval/<model>/<dataset>-k<k>-t<temperature>) is resumed if the same command was
interrupted and refused if it holds a run with other settings. `--backend vllm` generates with vLLM
(pip install 'efficient-trl[vllm]'); the default, transformers `generate`, runs anywhere.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from efficient_trl.analysis import result_name
from efficient_trl.data import PAPER_PROMPT
from efficient_trl.evaluation import BACKENDS, DEFAULT_K, SamplingSettings, evaluate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="local directory or hub name")
    parser.add_argument("--dataset", required=True, help=f"{sorted(DEFAULT_K)}, a .jsonl file or a hub name")
    parser.add_argument("--k", type=int, default=None, help="samples per problem (default: the paper's)")
    parser.add_argument("--temperature", type=float, default=0.6)
    parser.add_argument("--max_new_tokens", type=int, default=32768)
    parser.add_argument("--batch_size", type=int, default=64)
    parser.add_argument("--num_problems", type=int, default=None, help="evaluate on the first N problems only")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output_dir", default=None)
    parser.add_argument(
        "--backend", choices=BACKENDS, default="auto", help="auto: vLLM if installed and CUDA is present"
    )
    parser.add_argument("--tensor_parallel_size", type=int, default=1, help="GPUs per vLLM engine")
    parser.add_argument("--data_parallel_size", type=int, default=1, help="vLLM engines, one process each")
    parser.add_argument("--prompt_template", default=PAPER_PROMPT, help="user turn; {problem} is replaced")
    args = parser.parse_args()
    sampling = SamplingSettings(
        k=args.k, temperature=args.temperature, max_new_tokens=args.max_new_tokens, seed=args.seed
    ).for_dataset(args.dataset)
    output_dir = args.output_dir or (
        f"runs/eval/{result_name(args.model)}/{Path(args.dataset).stem}-k{sampling.k}-t{sampling.temperature:g}"
        f"-max{sampling.max_new_tokens}"
    )
    summary = evaluate(
        args.model, args.dataset, output_dir, sampling, batch_size=args.batch_size, num_problems=args.num_problems,
        backend=args.backend, tensor_parallel_size=args.tensor_parallel_size,
        data_parallel_size=args.data_parallel_size, prompt_template=args.prompt_template,
    )  # fmt: skip
    shown = {key: summary[key] for key in ("accuracy", "accuracy_stderr", "mean_tokens", "truncation_rate")}
    print(json.dumps(shown, indent=1))
    print(f"samples and summary in {output_dir}")


if __name__ == "__main__":
    main()
