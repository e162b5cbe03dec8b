"""Where a completion's thinking ends: R1-style models think up to `</think>` and answer after it.

The trainers count the thinking (`length_penalty_measure="thinking"`), sampling cuts it at a budget (budget forcing)
and the grader reads the answer after it; all three take the marker from here. Pure functions on token ids and text,
with no torch or transformers import: the grader's worker processes import this module.
"""

from __future__ import annotations

from typing import Any

__all__ = ["THINK_END", "after_thinking", "think_end_ids", "thinking_length"]

THINK_END = "</think>"


def think_end_ids(tokenizer: Any) -> list[int]:
    """The token ids of `</think>` in `tokenizer` (several for a tokenizer without it as one token): what ends the
    thinking that budgets and the thinking length measure count."""
    return tokenizer(THINK_END, add_special_tokens=False)["input_ids"]


def thinking_length(completion_ids: list[int], think_end_ids: list[int]) -> int:
    """The thinking tokens of a completion: those before the first `think_end_ids` (the tokens of `</think>`), or
    all of them when it never closes its thoughts. What `length_penalty_measure="thinking"` and token budgets count."""
    marker, width, start = think_end_ids, len(think_end_ids), 0
    while True:  # list.index scans in C: completions run to 32k tokens, 256 of them per step
        try:
            start = completion_ids.index(marker[0], start)
        except ValueError:
            return len(completion_ids)
        if completion_ids[start : start + width] == marker:
            return start
        start += 1


def after_thinking(text: str) -> str:
    """The part of a completion after its last `</think>`, where the answer is; the whole text when it has none."""
    return text.rpartition(THINK_END)[2]
