"""Evaluate a model: average pass@k, tokens spent, truncation, and the generation-cutoff baseline.

    efficient-trl evaluate --model runs/deepseek-r1-distill-qwen-1.5b/alpha_0.2 --dataset math500
    efficient-trl evaluate --model efficient_trl/demo_model --dataset aime24 --max_new_tokens 256
    efficient-trl evaluate --model efficient_trl/demo_model --dataset sums --max_new_tokens 160   # on a CPU

Defaults follow the paper: temperature 0.6, up to 32,768 new tokens, k = 1 (gsm8k), 3 (math500), 10 (aime24), the
paper's prompt; a demo task (sums, multi_sums, graded) is its 1,000 held-out problems, prompted as the bare problem,
as the demo evaluates them. The run directory (default runs/eval/<model>/<dataset>-k<k>-t<temperature>-max<tokens>,
followed by any other setting that differs from its default: -n<num_problems>, -seed<seed>, -prompt<hash>,
-last_box, ...) is resumed if the same command was interrupted and refused if it holds a run with other settings.
`--truncated_grading last_box` grades a completion cut at the token limit on its last \\boxed{}, as the authors'
evaluation script did (the default counts it wrong, the paper's rule). `--backend vllm` generates with vLLM
(pip install 'efficient-trl[vllm]'); the default, transformers `generate`, runs anywhere.

By token budget (one run directory per budget, budget-<N>, under <run directory>-budgets-<mode>):

    efficient-trl evaluate --model runs/deepseek-r1-distill-qwen-1.5b/l1_max --dataset math500 \\
        --budgets 512 1024 2048 3600 --budget_mode prompt --budget_template max
"""

from __future__ import annotations

import json
from dataclasses import asdict

from efficient_trl.cli import parse_arguments
from efficient_trl.evaluation import (
    BudgetArguments,
    EvaluationArguments,
    GenerationArguments,
    default_output_dir,
    evaluate,
    evaluate_budgets,
)
from efficient_trl.sampling import SamplingSettings

# What is printed of an evaluation's summary, and of each budget's
SHOWN = ("accuracy", "accuracy_stderr", "mean_tokens", "truncation_rate")
SHOWN_BY_BUDGET = (
    "budget",
    "accuracy",
    "mean_tokens",
    "mean_budget_length",
    "budget_deviation",
    "share_within_10pct",
    "share_at_most_budget",
)


def main(argv: list[str] | None = None) -> None:
    args, sampling, generation, budgets = parse_arguments(
        EvaluationArguments, SamplingSettings, GenerationArguments, BudgetArguments, argv=argv, description=__doc__
    )
    sampling = sampling.for_dataset(args.dataset)
    output_dir = args.output_dir or default_output_dir(
        args.model,
        args.dataset,
        sampling,
        num_problems=args.num_problems,
        prompt_template=generation.prompt_template,
        truncated_grading=args.truncated_grading,
    )
    if budgets.budgets:
        budgets_dir = f"{output_dir}-budgets-{budgets.budget_mode}"
        summaries = evaluate_budgets(
            args.model,
            args.dataset,
            budgets_dir,
            sampling,
            budgets.budgets,
            mode=budgets.budget_mode,
            measure=budgets.budget_measure,
            template=budgets.budget_template,
            num_problems=args.num_problems,
            truncated_grading=args.truncated_grading,
            **asdict(generation),
        )
        print(json.dumps([{key: summary[key] for key in SHOWN_BY_BUDGET} for summary in summaries], indent=1))
        print(f"samples and summaries in {budgets_dir}/budget-<N>")
        return
    summary = evaluate(
        args.model, args.dataset, output_dir, sampling, num_problems=args.num_problems,
        truncated_grading=args.truncated_grading, **asdict(generation),
    )  # fmt: skip
    print(json.dumps({key: summary[key] for key in SHOWN}, indent=1))
    print(f"samples and summary in {output_dir}")
