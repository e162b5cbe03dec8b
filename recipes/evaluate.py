"""Evaluate a model: average pass@k, tokens spent, truncation, and the generation-cutoff baseline.

    python recipes/evaluate.py --model runs/deepseek-r1-distill-qwen-1.5b/alpha_0.2 --dataset math500
    python recipes/evaluate.py --model efficient_trl/demo_model --dataset aime24 --max_new_tokens 256

Defaults follow the paper: temperature 0.6, up to 32,768 new tokens, k = 1 (gsm8k), 3 (math500), 10 (aime24). The
run directory (default runs/eval/<model>/<dataset>-k<k>-t<temperature>) is resumed if the same command was
interrupted and refused if it holds a run with other settings. `--backend vllm` generates with vLLM
(pip install 'efficient-trl[vllm]'); the default, transformers `generate`, runs anywhere.

By token budget (one run directory per budget, budget-<N>, under <run directory>-budgets-<mode>):

    python recipes/evaluate.py --model runs/deepseek-r1-distill-qwen-1.5b/l1_max --dataset math500 \
        --budgets 512 1024 2048 3600 --budget_mode prompt --budget_template max
"""

from __future__ import annotations

import argparse
import json
from dataclasses import replace
from pathlib import Path

from efficient_trl.analysis import result_name
from efficient_trl.budgets import BUDGET_MEASURES, BUDGET_MODES, BUDGET_TEMPLATES
from efficient_trl.data import PAPER_PROMPT
from efficient_trl.evaluation import (
    BACKENDS,
    DEFAULT_K,
    FORCED_ANSWER_CUE,
    SamplingSettings,
    evaluate,
    evaluate_budgets,
)


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
    # Token budgets (evaluate_budgets): one evaluation per budget
    parser.add_argument("--budgets", type=int, nargs="+", default=None, help="token budgets N, one run each")
    parser.add_argument(
        "--budget_mode", choices=BUDGET_MODES, default="prompt",
        help="prompt: N written into the prompt as in training (budget-trained models); force: budget forcing",
    )  # fmt: skip
    parser.add_argument(
        "--budget_measure", choices=BUDGET_MEASURES, default="completion",
        help="what L counts: every completion token, or the thinking (before </think>)",
    )  # fmt: skip
    parser.add_argument(
        "--budget_template",
        default="exact",
        help=f"prompt mode: {sorted(BUDGET_TEMPLATES)} or a string with {{budget}}",
    )
    parser.add_argument("--answer_cue", default=FORCED_ANSWER_CUE, help="force mode: text after the forced </think>")
    args = parser.parse_args()
    sampling = SamplingSettings(
        k=args.k, temperature=args.temperature, max_new_tokens=args.max_new_tokens, seed=args.seed
    ).for_dataset(args.dataset)
    output_dir = args.output_dir or (
        f"runs/eval/{result_name(args.model)}/{Path(args.dataset).stem}-k{sampling.k}-t{sampling.temperature:g}"
        f"-max{sampling.max_new_tokens}"
    )
    if args.budgets:
        summaries = evaluate_budgets(
            args.model, args.dataset, f"{output_dir}-budgets-{args.budget_mode}",
            replace(sampling, answer_cue=args.answer_cue), args.budgets, mode=args.budget_mode,
            measure=args.budget_measure, template=args.budget_template, batch_size=args.batch_size,
            num_problems=args.num_problems, backend=args.backend, tensor_parallel_size=args.tensor_parallel_size,
            data_parallel_size=args.data_parallel_size, prompt_template=args.prompt_template,
        )  # fmt: skip
        keys = ("budget", "accuracy", "mean_tokens", "mean_budget_length", "budget_deviation", "share_within_10pct",
                "share_at_most_budget")  # fmt: skip
        print(json.dumps([{key: summary[key] for key in keys} for summary in summaries], indent=1))
        print(f"samples and summaries in {output_dir}-budgets-{args.budget_mode}/budget-<N>")
        return
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
