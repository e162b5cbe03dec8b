"""Where a completion's thinking ends: R1-style models think up to `</think>` and answer after it.

The trainers count the thinking (`length_penalty_measure="thinking"`), sampling cuts it at a budget (budget forcing)
and the grader reads the answer after it; all three take the marker from here, and evaluation and training logs read
from `without_thinking` whether an answer was given without thinking. Pure functions on token ids and text,
with no torch or transformers import: the grader's worker processes import this module.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "THINK_END",
    "THINK_START",
    "after_thinking",
    "think_end_ids",
    "opens_without_thinking",
    "thinking_length",
    "without_thinking",
]

THINK_START, THINK_END = "<think>", "</think>"


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


def without_thinking(completion: str) -> bool:
    """Whether `completion` answers without thinking (AdaptThink's NoThinking mode): its thinking is empty, i.e.
    what comes before its first `</think>` is only whitespace, once an opening `<think>` is taken off.

    AdaptThink (Zhang et al. 2025, github.com/THU-KEG/AdaptThink, src/adapt_think_reward_manager.py) prompts
    R1-distill models whose chat template pre-fills `<think>\n` and calls a response NoThinking when it opens with
    `</think>` (`response.strip().startswith('</think>')`). We follow that, and also accept `<think>` + whitespace +
    `</think>` so that a template without the pre-fill, where the completion opens the thinking itself, reads the same:
    with the pre-fill the completion starts inside the thinking and an immediate `</think>` is no thinking; without
    it, an empty `<think></think>` is. A completion that never closes its thinking is thinking (it thought until it
    stopped or was cut); so is any text without `</think>`, e.g. from a model that has no thinking marker at all.
    The mode is read from the completion alone: a prompt that closes the thinking itself (a template's "thinking
    off" switch) gives completions without `</think>`, which count as thinking. Evaluation reads the samples' text,
    decoded without special tokens: `<think>` and `</think>` are ordinary tokens in R1-distill's, Qwen3's and the
    demo models' tokenizers."""
    thought, closed, _ = completion.partition(THINK_END)
    return bool(closed) and not thought.strip().removeprefix(THINK_START).strip()


def opens_without_thinking(completion_ids: list[int], tokenizer: Any, think_end_ids: list[int]) -> bool:
    """`without_thinking` on token ids, as the trainers see completions (TRL's text may have the thinking parsed out
    of it): the tokens before the first `think_end_ids` (`</think>`), decoded with special tokens kept. Only the
    first 64 are decoded unless they are still empty, so that long thinking costs no decoding."""
    end = thinking_length(completion_ids, think_end_ids)
    if end == len(completion_ids):  # never closed: thinking
        return False
    thought = tokenizer.decode(completion_ids[: min(end, 64)], skip_special_tokens=False).lstrip()
    if end > 64 and (THINK_START.startswith(thought) or not thought.removeprefix(THINK_START).strip()):
        thought = tokenizer.decode(completion_ids[:end], skip_special_tokens=False)  # undecided yet: all of it
    return without_thinking(thought + THINK_END)
