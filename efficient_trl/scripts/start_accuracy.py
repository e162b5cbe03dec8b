"""The start model's accuracy on each training prompt, for length_reward adapt_think (AdaptThink's reference
accuracy): sample the start model K times per prompt, grade, and write the training set with a `start_accuracy`
column.

    efficient-trl start-accuracy --model deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B --dataset data/train-3.2k \\
        --output_dir data/start-accuracy-1.5b --backend vllm --data_parallel_size 4
    efficient-trl start-accuracy --model efficient_trl/demo_model_graded --dataset graded --num_problems 64 \\
        --max_new_tokens 256 --output_dir data/start-accuracy-graded              # the demo task, on CPU

Writes OUTPUT_DIR/samples (an evaluation run: resumable), OUTPUT_DIR/dataset (`save_to_disk`: the problems as
loaded, `problem`, `answer` and their own columns, plus `start_accuracy`, the share of the prompt's samples that were
correct and finished; train with `dataset_name: OUTPUT_DIR/dataset`) and OUTPUT_DIR/report.json. A demo task's name
(sums, multi_sums, graded) stands for its RL training prompts, as the demo draws them. The defaults are AdaptThink's
pre-sampling (github THU-KEG/AdaptThink, src/presampling_ref_responses.py and src/postprocess_ref_results.py: K = 16
responses per problem at temperature 0.6, up to 16,384 tokens, `avg_acc_thinking` their mean correctness), but for
its top_p 0.95: nucleus sampling is off here, as in every evaluation of this project.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from efficient_trl.cli import parse_arguments
from efficient_trl.data import PREPARED_TRAINING_SET, prompt_template_for, to_prompts
from efficient_trl.evaluation import (
    GenerationArguments,
    check_model_reference,
    evaluate_problems,
    load_samples,
    resolve_problems,
    start_accuracies,
    start_accuracy_summary,
)
from efficient_trl.rundir import check_new_output_dir
from efficient_trl.sampling import SamplingRunArguments
from efficient_trl.synthetic import TASKS

# The RL prompts of the demo experiments (efficient_trl.experiments.engine.rl_prompts): TASKS[task](n, seed=2)
DEMO_RL_SEED = 2


@dataclass
class StartAccuracyArguments(SamplingRunArguments):
    """What recipes/start_accuracy.py samples, and where it writes; parsed beside `GenerationArguments`."""

    model: str = field(
        metadata={"help": "The start model (the one training starts from): local directory or hub name."}
    )
    output_dir: str = field(metadata={"help": "Writes samples/, dataset/ and report.json here."})
    dataset: str = field(
        default=PREPARED_TRAINING_SET,
        metadata={
            "help": "Training problems (see recipes/prepare_data.py), or a demo task's name for its RL prompts."
        },
    )
    num_problems: int | None = field(
        default=None, metadata={"help": "The first N problems only (a demo task: 64 unless given)."}
    )
    num_samples: int = field(default=16, metadata={"help": "Samples per prompt (AdaptThink's K: 16)."})
    temperature: float = field(default=0.6, metadata={"help": "Sampling temperature (AdaptThink's: 0.6)."})
    max_new_tokens: int = field(default=16384, metadata={"help": "Token limit per sample (AdaptThink's: 16,384)."})


def training_problems(dataset: str, num_problems: int | None, prompt_template: str | None) -> Any:
    """The problems to sample (`prompt`, `answer` and the set's own columns): a demo task's RL prompts (the first
    `num_problems`, 64 by default), else `evaluation.resolve_problems`' training split of `dataset`."""
    if dataset in TASKS and not Path(dataset).exists():
        problems = TASKS[dataset](num_problems or 64, seed=DEMO_RL_SEED)
        return to_prompts(problems, prompt_template_for(dataset, prompt_template))
    return resolve_problems(dataset, split="train", num_problems=num_problems, prompt_template=prompt_template)


def main(argv: list[str] | None = None) -> None:
    args, generation = parse_arguments(StartAccuracyArguments, GenerationArguments, argv=argv, description=__doc__)
    check_model_reference(args.model)
    generation = replace(generation, prompt_template=prompt_template_for(args.dataset, generation.prompt_template))
    output_dir = Path(args.output_dir)
    check_new_output_dir(output_dir / "dataset", option="--output_dir")  # before sampling, which takes hours
    problems = training_problems(args.dataset, args.num_problems, generation.prompt_template)
    evaluate_problems(args.model, problems, output_dir / "samples", args.sampling(), dataset=args.dataset,
                      **asdict(generation))  # fmt: skip
    accuracy = start_accuracies(load_samples(output_dir / "samples"), len(problems))
    problems.remove_columns("prompt").add_column("start_accuracy", accuracy).save_to_disk(str(output_dir / "dataset"))
    report = {
        "model": args.model, "dataset": args.dataset, "problems": len(problems),
        "samples_per_problem": args.num_samples, "prompt_template": generation.prompt_template,
        **start_accuracy_summary(accuracy),
    }  # fmt: skip
    (output_dir / "report.json").write_text(json.dumps(report, indent=1) + "\n")
    print(json.dumps(report, indent=1))
