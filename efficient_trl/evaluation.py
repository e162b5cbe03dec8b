"""Evaluation: sample k completions per problem, grade them, and report average pass@k beside the tokens spent.

Average pass@k as the paper defines it: k samples per problem at temperature 0.6, the mean correctness of a
problem's samples, averaged over problems. A completion that hits the token limit without EOS counts as wrong, as in
training. This module holds the transformers `generate` backend, which runs anywhere, the CPU included.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import torch
from tqdm.auto import tqdm

from .math_grader import MathAccuracyReward, final_answer, math_accuracy_reward

__all__ = ["DEFAULT_K", "EvaluationSample", "cutoff_baseline", "generate_samples", "grade_samples", "summarize"]

# The paper's k for average pass@k on each shipped test set.
DEFAULT_K = {"gsm8k": 1, "math500": 3, "aime24": 10}
DEFAULT_CUTOFFS = (8192, 16384, 20480, 24576, 32768)


@dataclass
class EvaluationSample:
    problem_index: int
    sample_index: int
    text: str
    num_tokens: int
    truncated: bool
    extracted_answer: str | None = None
    correct: bool | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _render_prompt(prompt: Any, tokenizer: Any) -> str:
    if isinstance(prompt, str):
        return prompt
    return tokenizer.apply_chat_template(prompt, tokenize=False, add_generation_prompt=True)


@torch.no_grad()
def generate_samples(
    model: Any,
    tokenizer: Any,
    prompts: list[Any],
    *,
    k: int = 1,
    temperature: float = 0.6,
    max_new_tokens: int = 32768,
    batch_size: int = 64,
    seed: int = 0,
    desc: str = "generating",
) -> list[EvaluationSample]:
    """k sampled completions per prompt with transformers `generate` (prompts: strings or chat turns)."""
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}.")
    if not prompts:
        raise ValueError("no prompts to evaluate: the dataset is empty.")
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0 for sampling, got {temperature}.")
    eos_ids = {tokenizer.eos_token_id, *(_as_list(model.generation_config.eos_token_id))}
    eos_ids.discard(None)
    texts = [_render_prompt(prompt, tokenizer) for prompt in prompts]
    jobs = [(index, sample) for index in range(len(texts)) for sample in range(k)]
    samples: list[EvaluationSample] = []
    generator_state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    padding_side, tokenizer.padding_side = tokenizer.padding_side, "left"
    model.eval()
    try:
        for start in tqdm(range(0, len(jobs), batch_size), desc=desc, unit="batch"):
            batch = jobs[start : start + batch_size]
            inputs = tokenizer(
                [texts[i] for i, _ in batch], return_tensors="pt", padding=True, add_special_tokens=False
            )
            inputs = {name: tensor.to(model.device) for name, tensor in inputs.items()}
            output = model.generate(
                **inputs,
                do_sample=True,
                temperature=temperature,
                top_p=1.0,
                top_k=0,
                max_new_tokens=max_new_tokens,
                pad_token_id=tokenizer.pad_token_id,
            )
            for (problem_index, sample_index), row in zip(
                batch, output[:, inputs["input_ids"].shape[1] :].tolist(), strict=True
            ):
                end = next((position for position, token in enumerate(row) if token in eos_ids), None)
                tokens = row[: end + 1] if end is not None else row
                samples.append(
                    EvaluationSample(
                        problem_index=problem_index,
                        sample_index=sample_index,
                        text=tokenizer.decode(tokens, skip_special_tokens=True),
                        num_tokens=len(tokens),
                        truncated=end is None,
                    )
                )
    finally:
        tokenizer.padding_side = padding_side
        torch.random.set_rng_state(generator_state)
    return samples


def _as_list(value: Any) -> list:
    if value is None:
        return []
    return list(value) if isinstance(value, (list, tuple)) else [value]


def grade_samples(
    samples: list[EvaluationSample], golds: list[str], reward: MathAccuracyReward = math_accuracy_reward
) -> list[EvaluationSample]:
    """Fill in each sample's extracted answer and correctness (truncated samples are wrong)."""
    verdicts = reward([sample.text for sample in samples], answer=[golds[s.problem_index] for s in samples])
    for sample, verdict in zip(samples, verdicts, strict=True):
        sample.extracted_answer = final_answer(sample.text)
        sample.correct = bool(verdict) and not sample.truncated
    return samples


def summarize(samples: list[EvaluationSample]) -> dict[str, float]:
    """Average pass@k, tokens (all, and correct only: None when none is), truncation rate, and standard errors of
    the accuracy (over problems) and of the mean tokens (over samples)."""
    if any(sample.correct is None for sample in samples):
        raise ValueError("grade the samples (grade_samples) before summarizing them.")
    per_problem: dict[int, list[bool]] = {}
    for sample in samples:
        per_problem.setdefault(sample.problem_index, []).append(sample.correct)
    problem_scores = [sum(verdicts) / len(verdicts) for verdicts in per_problem.values()]
    accuracy = sum(problem_scores) / len(problem_scores)
    variance = sum((score - accuracy) ** 2 for score in problem_scores) / max(1, len(problem_scores) - 1)
    correct_tokens = [sample.num_tokens for sample in samples if sample.correct]
    tokens = [sample.num_tokens for sample in samples]
    mean_tokens = sum(tokens) / len(tokens)
    token_variance = sum((n - mean_tokens) ** 2 for n in tokens) / max(1, len(tokens) - 1)
    return {
        "accuracy": accuracy,
        "accuracy_stderr": math.sqrt(variance / len(problem_scores)),
        "mean_tokens": mean_tokens,
        "mean_tokens_stderr": math.sqrt(token_variance / len(tokens)),
        "mean_tokens_correct": sum(correct_tokens) / len(correct_tokens) if correct_tokens else None,
        "truncation_rate": sum(sample.truncated for sample in samples) / len(samples),
        "num_problems": len(per_problem),
        "num_samples": len(samples),
    }


def cutoff_baseline(
    samples: list[EvaluationSample], cutoffs: tuple[int, ...] = DEFAULT_CUTOFFS
) -> list[dict[str, float]]:
    """The generation-cutoff baseline from existing samples, without generating again.

    A sample longer than the cutoff would have been cut off there: it scores 0 and spends `cutoff` tokens.
    """
    if any(sample.correct is None for sample in samples):
        raise ValueError("grade the samples (grade_samples) before computing the cutoff baseline.")
    if any(cutoff < 1 for cutoff in cutoffs):
        raise ValueError(f"cutoffs must be positive token counts, got {list(cutoffs)}.")
    rows = []
    for cutoff in sorted(cutoffs):
        clipped = [
            EvaluationSample(
                problem_index=sample.problem_index,
                sample_index=sample.sample_index,
                text=sample.text,
                num_tokens=min(sample.num_tokens, cutoff),
                truncated=sample.truncated or sample.num_tokens > cutoff,
                extracted_answer=sample.extracted_answer,
                correct=bool(sample.correct) and sample.num_tokens <= cutoff,
            )
            for sample in samples
        ]
        rows.append({"cutoff": cutoff, **summarize(clipped)})
    return rows
