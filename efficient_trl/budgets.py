"""Token budgets written into prompts, as L1 / LCPO trains them (Aggarwal & Welleck 2025, arXiv:2503.04697).

L1's data script (cmu-l3/l1, scripts/data/deepscaler_dataset.py) draws one budget per training prompt with
`random.randint(100, 4000)` (both ends included) and appends " Think for {N} tokens." (LCPO-Exact) or " Think for
maximum {N} tokens." (LCPO-Max) to the user turn, after the instruction; the number also goes beside the prompt
(`num_tokens`) for the reward. Here it goes to a `budget` column, which the `l1_exact` / `l1_max` length rewards read
(`length_rewards.DATASET_INPUTS`). Evaluation asks a budget-trained model for one budget with the same sentence.

A template of your own may also place the user's text with `{prompt}` ("Think for {budget} tokens. {prompt}"): the
CPU demo's model puts its budget first, since its re-checks read the problem backwards from the end of the prompt
and a budget's digits after the problem were read as terms (`budget_demo`).
"""

from __future__ import annotations

import math
import random
import string
from collections.abc import Sequence
from typing import Any

__all__ = [
    "BUDGET_MEASURES",
    "BUDGET_MODES",
    "BUDGET_TEMPLATES",
    "L1_BUDGET_RANGE",
    "budget_adherence",
    "budget_template",
    "budgets_near_lengths",
    "check_budget_range",
    "check_rollout_thinking_budget",
    "sample_budgets",
    "with_budgets",
    "with_sampled_budgets",
]

# L1's training range: random.randint(100, 4000) in its data script.
L1_BUDGET_RANGE = (100, 4000)
# L1's sentences, word for word; appended to the user turn after a space.
BUDGET_TEMPLATES = {"exact": "Think for {budget} tokens.", "max": "Think for maximum {budget} tokens."}
# How a model is asked for a budget at evaluation: in the prompt (a budget-trained model), or by budget forcing.
BUDGET_MODES = ("prompt", "force")
# What a budget counts: the whole completion, or its thinking (the tokens before `</think>`), as training's
# `length_penalty_measure`.
BUDGET_MEASURES = ("completion", "thinking")


def budget_template(template: str) -> str:
    """The template of the user's text with a budget, with '{prompt}' for that text: `template` is a name in
    `BUDGET_TEMPLATES` ('exact', 'max': L1's sentences, after the text) or a string of your own with a '{budget}'
    field (a format spec is allowed: '{budget:03d}') and at most one '{prompt}' (without one, the sentence goes after
    the text and a space)."""
    resolved = BUDGET_TEMPLATES.get(template, template)
    try:
        fields = [name for _, name, _, _ in string.Formatter().parse(resolved) if name is not None]
    except ValueError:  # unbalanced braces
        fields = []
    if "budget" not in fields:
        raise ValueError(
            f"budget template {template!r} is neither one of {sorted(BUDGET_TEMPLATES)} nor a string with a "
            "'{budget}' field (e.g. 'Think for {budget} tokens.' or 'Think for {budget} tokens. {prompt}')."
        )
    if fields.count("prompt") > 1:
        raise ValueError(f"budget template {template!r} places the prompt twice: give at most one '{{prompt}}'.")
    others = sorted(set(fields) - {"budget", "prompt"})
    if others:
        raise ValueError(
            f"budget template {template!r} has fields other than '{{budget}}' and '{{prompt}}' ({others}): write "
            "literal braces as '{{' and '}}'."
        )
    try:
        resolved.format(budget=1, prompt="")
    except ValueError as error:
        raise ValueError(f"budget template {template!r} cannot write a budget: {error}.") from None
    return resolved if "prompt" in fields else "{prompt} " + resolved


def check_budget_range(budget_range: Sequence[int]) -> tuple[int, int]:
    """(low, high) from a [low, high] pair of positive token counts, low <= high."""
    if len(budget_range) != 2 or not all(isinstance(value, int) and value >= 1 for value in budget_range):
        raise ValueError(
            f"budget_range must be two positive token counts [low, high] (L1's: {list(L1_BUDGET_RANGE)}), got "
            f"{list(budget_range)!r}."
        )
    low, high = budget_range
    if low > high:
        raise ValueError(f"budget_range's low end must not exceed its high end, got [{low}, {high}].")
    return low, high


def check_rollout_thinking_budget(budget: Any, max_completion_length: int | None) -> None:
    """`rollout_thinking_budget` (training's and the demo's): None (off) or a positive token count below the
    completion's token limit (at or above it no rollout could run past it)."""
    if budget is None:
        return
    if isinstance(budget, bool) or not isinstance(budget, int) or budget < 1:
        raise ValueError(f"rollout_thinking_budget must be a positive token count (or None: off), got {budget!r}.")
    if max_completion_length is not None and budget >= max_completion_length:
        raise ValueError(
            f"rollout_thinking_budget={budget} is not below max_completion_length={max_completion_length}, so no "
            "rollout could run past it: lower the budget, or leave it None."
        )


def sample_budgets(num_prompts: int, budget_range: Sequence[int] = L1_BUDGET_RANGE, seed: int = 0) -> list[int]:
    """One budget per prompt, uniform over the integers of `budget_range` (both ends included, as L1's randint)."""
    low, high = check_budget_range(budget_range)
    rng = random.Random(seed)
    return [rng.randint(low, high) for _ in range(num_prompts)]


def budgets_near_lengths(lengths: Sequence[int], spread: float, seed: int = 0) -> list[int]:
    """Hindsight budgets: for each completion of `lengths` tokens L, a budget drawn uniformly from the integers within
    `spread` * L of L (at least 1 token), so that a prompt asking for it and that completion form an example of
    following a budget. The spread makes budgets between the lengths a model writes appear too."""
    if not 0 <= spread < 1:
        raise ValueError(f"spread must be in [0, 1) (0.1: budgets within 10% of each length), got {spread}.")
    if not all(isinstance(length, int) and length >= 1 for length in lengths):
        raise ValueError(f"lengths must be positive token counts, got {sorted(set(lengths), key=str)[:5]!r}.")
    rng = random.Random(seed)
    # rounded first, so float error does not drop a band's end (10 * 0.9 is 9.000000000000002)
    low = [max(1, math.ceil(round(length * (1 - spread), 9))) for length in lengths]
    high = [max(1, math.floor(round(length * (1 + spread), 9))) for length in lengths]
    return [rng.randint(bottom, top) for bottom, top in zip(low, high, strict=True)]


def with_budgets(dataset: Any, budgets: int | Sequence[int], template: str = "exact") -> Any:
    """`dataset` (a `prompt` column: chat turns or strings) with a `budget` column and each prompt's budget written
    into it by the template (`budget_template`): into the last user turn (a string prompt: into the string), after
    the text unless the template places it.

    `budgets` is one token count for every prompt (evaluation) or one per prompt (training, `sample_budgets`).
    """
    written = budget_template(template)
    if "prompt" not in dataset.column_names:
        raise ValueError(
            f"the dataset has no 'prompt' column to write budgets into (columns: {dataset.column_names})."
        )
    if "budget" in dataset.column_names:
        raise ValueError(
            "the dataset already has a 'budget' column: its prompts may already carry budgets; drop the column "
            "first (dataset.remove_columns('budget')) to write new ones."
        )
    budgets = [budgets] * len(dataset) if isinstance(budgets, int) else list(budgets)
    if len(budgets) != len(dataset):
        raise ValueError(f"{len(budgets)} budgets for {len(dataset)} prompts: give one per prompt, or one for all.")
    if not all(isinstance(budget, int) and not isinstance(budget, bool) and budget >= 1 for budget in budgets):
        raise ValueError(f"budgets must be positive token counts, got {sorted(set(budgets), key=str)[:5]!r}.")

    def add(row: dict[str, Any], index: int) -> dict[str, Any]:
        prompt = row["prompt"]
        if isinstance(prompt, str):
            return {"prompt": written.format(budget=budgets[index], prompt=prompt), "budget": budgets[index]}
        users = [position for position, turn in enumerate(prompt) if turn["role"] == "user"]
        if not users:
            raise ValueError(f"prompt {index} has no user turn to write its budget into: {prompt!r}.")
        turns = [dict(turn) for turn in prompt]
        turns[users[-1]]["content"] = written.format(budget=budgets[index], prompt=turns[users[-1]]["content"])
        return {"prompt": turns, "budget": budgets[index]}

    return dataset.map(add, with_indices=True, desc="budgets")


def with_sampled_budgets(
    dataset: Any, budget_range: Sequence[int], template: str, seed: int
) -> tuple[Any, dict[str, Any]]:
    """Training prompts with budgets: `dataset` with one budget per prompt drawn by `sample_budgets(len(dataset),
    budget_range, seed)` and written in with `template` (`with_budgets`), and what provenance.json's `data` records
    about them (`budget_range`, `budget_template`). The budgets depend on the seed and the number of prompts only."""
    budgets = sample_budgets(len(dataset), budget_range, seed=seed)
    return with_budgets(dataset, budgets, template), {"budget_range": list(budget_range), "budget_template": template}


def budget_adherence(lengths: Sequence[int], budget: int) -> dict[str, float]:
    """How well completions of `lengths` tokens kept to a budget of `budget` tokens:

    - `mean_budget_length`: the mean of L;
    - `budget_deviation`: the mean of |L - N| / N (L1's adherence measure for its exact mode);
    - `share_within_10pct`: the share with |L - N| <= 0.1 N (for a model asked for N tokens in its prompt);
    - `share_at_most_budget`: the share with L <= N (what budget forcing guarantees for the thinking).
    """
    if budget < 1:
        raise ValueError(f"budget must be >= 1 token, got {budget}.")
    if not lengths:
        raise ValueError("no completions to measure against the budget.")
    deviations = [abs(length - budget) / budget for length in lengths]
    return {
        "mean_budget_length": sum(lengths) / len(lengths),
        "budget_deviation": sum(deviations) / len(deviations),
        # in integers: 10 |L - N| <= N, with no rounding at the edge
        "share_within_10pct": sum(10 * abs(length - budget) <= budget for length in lengths) / len(lengths),
        "share_at_most_budget": sum(length <= budget for length in lengths) / len(lengths),
    }
