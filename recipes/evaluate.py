"""Evaluate a model: average pass@k, tokens spent, truncation, and the generation-cutoff baseline.

    python recipes/evaluate.py --model runs/deepseek-r1-distill-qwen-1.5b/alpha_0.2 --dataset math500
    python recipes/evaluate.py --model efficient_trl/demo_model --dataset aime24 --max_new_tokens 256

Defaults follow the paper: temperature 0.6, up to 32,768 new tokens, k = 1 (gsm8k), 3 (math500), 10 (aime24). The
run directory (default runs/eval/<model>/<dataset>-k<k>-t<temperature>) is resumed if the same command was
interrupted and refused if it holds a run with other settings. `--backend vllm` generates with vLLM
(pip install 'efficient-trl[vllm]'); the default, transformers `generate`, runs anywhere.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

from efficient_trl.analysis import result_name
from efficient_trl.cli import parse_arguments
from efficient_trl.evaluation import DEFAULT_K, EvaluationArguments, GenerationArguments, evaluate


def main() -> None:
    args, generation = parse_arguments(EvaluationArguments, GenerationArguments, description=__doc__)
    k = DEFAULT_K.get(args.dataset, 1) if args.k is None else args.k
    output_dir = args.output_dir or (
        f"runs/eval/{result_name(args.model)}/{Path(args.dataset).stem}-k{k}-t{args.temperature:g}-max{args.max_new_tokens}"
    )
    summary = evaluate(
        args.model, args.dataset, output_dir, k=k, temperature=args.temperature, max_new_tokens=args.max_new_tokens,
        num_problems=args.num_problems, seed=args.seed, **asdict(generation),
    )  # fmt: skip
    shown = {key: summary[key] for key in ("accuracy", "accuracy_stderr", "mean_tokens", "truncation_rate")}
    print(json.dumps(shown, indent=1))
    print(f"samples and summary in {output_dir}")


if __name__ == "__main__":
    main()
