"""The paper's offline baselines, built from the starting model's own samples (rejection sampling).

For each training prompt, sample several responses with the starting model and keep the correct, finished ones:
the shortest becomes an SFT target, and (shortest, longest) a DPO preference pair. TRL's `SFTTrainer` and
`DPOTrainer` then train on them (`recipes/sft.py`, `recipes/dpo.py`).
"""

from __future__ import annotations

from typing import Any

from datasets import Dataset

from .evaluation import EvaluationSample

__all__ = ["rejection_sampling_datasets"]


def rejection_sampling_datasets(
    prompts: list[Any], samples: list[EvaluationSample]
) -> tuple[Dataset, Dataset, dict[str, int]]:
    """SFT rows (`prompt`, `completion`) and DPO rows (`prompt`, `chosen`, `rejected`) from graded samples.

    `prompts[i]` is the prompt of problem i (a string or chat turns). A problem yields an SFT row if at least one
    sample is correct and finished, and a DPO pair if two correct samples differ in length. Returns both datasets
    and counts of how many problems yielded data.
    """
    if any(sample.correct is None for sample in samples):
        raise ValueError("grade the samples (evaluation.grade_samples) before building baseline datasets.")
    correct: dict[int, list[EvaluationSample]] = {}
    for sample in samples:
        if sample.correct and not sample.truncated:
            correct.setdefault(sample.problem_index, []).append(sample)
    sft_rows, dpo_rows = [], []
    for problem_index, group in sorted(correct.items()):
        ordered = sorted(group, key=lambda sample: (sample.num_tokens, sample.sample_index))
        shortest, longest = ordered[0], ordered[-1]
        prompt = prompts[problem_index]
        sft_rows.append({"prompt": prompt, "completion": _as_response(prompt, shortest.text)})
        if longest.num_tokens > shortest.num_tokens:
            dpo_rows.append(
                {
                    "prompt": prompt,
                    "chosen": _as_response(prompt, shortest.text),
                    "rejected": _as_response(prompt, longest.text),
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


def _as_response(prompt: Any, text: str) -> Any:
    """A response in the prompt's format: chat turns answer chat turns, text answers text."""
    return text if isinstance(prompt, str) else [{"role": "assistant", "content": text}]


def _to_dataset(rows: list[dict[str, Any]], columns: list[str]) -> Dataset:
    return Dataset.from_list(rows) if rows else Dataset.from_dict({column: [] for column in columns})
