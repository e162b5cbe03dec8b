"""The paper's offline baselines, built from the starting model's own samples (rejection sampling).

For each training prompt, sample several responses with the starting model and keep the correct, finished ones:
the shortest becomes an SFT target, and (shortest, longest) a DPO preference pair. TRL's `SFTTrainer` and
`DPOTrainer` then train on them (`recipes/sft.py`, `recipes/dpo.py`).

Rows are text, not chat turns: the prompt exactly as the model was sampled with it (rendered by its chat template)
and the response exactly as sampled, reasoning included, plus EOS. Chat turns would be rendered again by TRL, and
DeepSeek-R1-Distill's template deletes everything up to `</think>` from an assistant turn: SFT would learn to answer
without thinking and DPO would compare two answer summaries instead of the paper's full responses.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from datasets import Dataset

from .data import PREPARED_TRAINING_SET
from .evaluation import evaluate_problems, load_samples
from .sampling import EvaluationSample, SamplingRunArguments, SamplingSettings, prompt_token_ids, render_prompt

__all__ = ["RejectionSamplingArguments", "rejection_sample", "rejection_sampling_datasets"]


@dataclass
class RejectionSamplingArguments(SamplingRunArguments):
    """What recipes/rejection_sampling.py samples, and where it writes; parsed beside `GenerationArguments`."""

    model: str = field(metadata={"help": "The starting model: local directory or hub name."})
    output_dir: str = field(metadata={"help": "Writes samples/, sft/, dpo/ and report.json here."})
    dataset: str = field(
        default=PREPARED_TRAINING_SET, metadata={"help": "Training problems (see recipes/prepare_data.py)."}
    )
    # Sampling (as RL training samples: temperature 1, up to 32k tokens, 8 responses per prompt)
    num_samples: int = field(default=8, metadata={"help": "Responses sampled per prompt."})
    temperature: float = field(default=1.0, metadata={"help": "Sampling temperature."})
    max_new_tokens: int = field(default=32000, metadata={"help": "Token limit per response."})


def rejection_sample(
    model: str,
    problems: Dataset,
    output_dir: str | Path,
    sampling: SamplingSettings,
    **evaluation_options: Any,
) -> tuple[Dataset, Dataset, dict[str, int]]:
    """Rejection sampling for the SFT and DPO baselines: `sampling.k` responses of `model` per problem of `problems`
    (`prompt` and gold `answer` columns), sampled and graded into the evaluation run directory `output_dir` by
    `evaluation.evaluate_problems` (so an interrupted run resumes; `evaluation_options` are its keywords: `dataset`,
    `prompt_template`, `backend`, ...), then the SFT and DPO datasets and their report from
    `rejection_sampling_datasets`."""
    from transformers import AutoTokenizer

    evaluate_problems(model, problems, output_dir, sampling, **evaluation_options)
    return rejection_sampling_datasets(
        problems["prompt"], load_samples(output_dir), AutoTokenizer.from_pretrained(model)
    )


def rejection_sampling_datasets(
    prompts: list[Any], samples: list[EvaluationSample], tokenizer: Any
) -> tuple[Dataset, Dataset, dict[str, int]]:
    """SFT rows (`prompt`, `completion`) and DPO rows (`prompt`, `chosen`, `rejected`) from graded samples.

    `prompts[i]` is the prompt of problem i (a string or chat turns) and `tokenizer` the sampled model's. A problem
    yields an SFT row if at least one sample is correct and finished, and a DPO pair if two correct samples differ in
    length. All columns are text (see the module docstring): what TRL tokenizes is the sampled prompt, then the
    sampled response and EOS. Returns both datasets and counts of how many problems yielded data.
    """
    if any(sample.correct is None for sample in samples):
        raise ValueError("grade the samples (evaluation.grade_samples) before building baseline datasets.")
    if tokenizer.eos_token is None:
        raise ValueError("the tokenizer has no eos_token: the baseline responses must end with the model's EOS.")
    correct: dict[int, list[EvaluationSample]] = {}
    for sample in samples:
        if sample.correct and not sample.truncated:
            correct.setdefault(sample.problem_index, []).append(sample)
    sft_rows, dpo_rows = [], []
    for problem_index, group in sorted(correct.items()):
        ordered = sorted(group, key=lambda sample: (sample.num_tokens, sample.sample_index))
        shortest, longest = ordered[0], ordered[-1]
        prompt = _prompt_as_trl_tokenizes_it(prompts[problem_index], tokenizer)
        sft_rows.append({"prompt": prompt, "completion": shortest.text + tokenizer.eos_token})
        if longest.num_tokens > shortest.num_tokens:
            dpo_rows.append(
                {
                    "prompt": prompt,
                    "chosen": shortest.text + tokenizer.eos_token,
                    "rejected": longest.text + tokenizer.eos_token,
                }
            )
    report = {
        "problems": len({sample.problem_index for sample in samples}),
        "samples": len(samples),
        "problems_with_a_correct_sample": len(sft_rows),
        "dpo_pairs": len(dpo_rows),
    }
    return (
        _to_dataset(sft_rows, ["prompt", "completion"]),
        _to_dataset(dpo_rows, ["prompt", "chosen", "rejected"]),
        report,
    )


def _prompt_as_trl_tokenizes_it(prompt: Any, tokenizer: Any) -> str:
    """The rendered prompt as text that TRL's trainers tokenize into exactly the ids the model was sampled with.

    Generation tokenizes the rendered prompt without special tokens (the template already wrote BOS); TRL tokenizes
    text rows with special tokens, so a BOS-adding tokenizer (R1-distill's) would put a second BOS in front. The
    BOS text is therefore left out here, for the tokenizer to add back.
    """
    rendered = render_prompt(prompt, tokenizer)
    sampled_ids = prompt_token_ids(prompt, tokenizer)
    added_ids = tokenizer("", add_special_tokens=True)["input_ids"]  # what the tokenizer puts around any text
    added_text = tokenizer.decode(added_ids)
    text = rendered[len(added_text) :] if added_ids and rendered.startswith(added_text) else rendered
    trl_ids = tokenizer(text)["input_ids"]
    if trl_ids != sampled_ids:
        raise ValueError(
            f"the prompt {rendered[:80]!r}... tokenizes to other ids with special tokens (as TRL's SFT and DPO "
            f"trainers tokenize it: {trl_ids[:5]}...) than without (as it was sampled: {sampled_ids[:5]}...). Give "
            "prompts as chat turns, whose template writes the special tokens the model expects."
        )
    return text


def _to_dataset(rows: list[dict[str, Any]], columns: list[str]) -> Dataset:
    return Dataset.from_list(rows) if rows else Dataset.from_dict({column: [] for column in columns})
