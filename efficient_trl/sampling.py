"""Sampling settings, prompts as the trainers build them, budget forcing, and the transformers `generate` backend.

`generate_samples` runs anywhere, the CPU included; the vLLM backend (`efficient_trl.sampling_vllm`, for GPUs) builds
on this module and samples the same way: the same prompt ids (the chat template, tokenized, at most one BOS), k
completions per prompt at one temperature, top-p 1, a token limit and a seed, returned as `EvaluationSample`s. With
`SamplingSettings.thinking_budget` both cut thinking at the budget, close it with `</think>` and a short answer cue,
and generate the answer (s1's budget forcing), within max_new_tokens in all. Grading and run directories are
`efficient_trl.evaluation`'s.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from typing import Any, NamedTuple

import torch
from tqdm.auto import tqdm

from .thinking import THINK_END, think_end_ids, thinking_length

__all__ = [
    "DEFAULT_K",
    "FORCED_ANSWER_CUE",
    "EvaluationSample",
    "ForcedThinking",
    "SamplingRunArguments",
    "SamplingSettings",
    "check_prompts",
    "force_thinking_budget",
    "generate_samples",
    "prompt_token_ids",
    "render_prompt",
]

# The paper's k for average pass@k on each shipped test set.
DEFAULT_K = {"gsm8k": 1, "math500": 3, "aime24": 10}
# Budget forcing's default cue after a forced `</think>`: s1's "Final Answer:", opening the box the grader reads.
FORCED_ANSWER_CUE = "\n\nFinal Answer: \\boxed{"


@dataclass
class EvaluationSample:
    problem_index: int
    sample_index: int
    text: str
    num_tokens: int
    truncated: bool
    extracted_answer: str | None = None
    correct: bool | None = None
    # Tokens before `</think>` (all of them if it never closes): what a thinking budget counts. None in runs
    # written before it was recorded.
    thinking_tokens: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def render_prompt(prompt: Any, tokenizer: Any) -> str:
    """The text the model is prompted with: chat turns rendered by the chat template with the generation prompt (for
    R1-distill: BOS, the user turn, `<｜Assistant｜><think>\n`); a string as it is."""
    if isinstance(prompt, str):
        return prompt
    return tokenizer.apply_chat_template(prompt, tokenize=False, add_generation_prompt=True)


def prompt_token_ids(prompt: Any, tokenizer: Any) -> list[int]:
    """The prompt's token ids as both generation backends send them: the rendered text tokenized *without* special
    tokens, since the chat template already wrote them (tokenizing with them would add a second BOS)."""
    return tokenizer(render_prompt(prompt, tokenizer), add_special_tokens=False)["input_ids"]


@dataclass
class SamplingSettings:
    """How completions are sampled, the same for both generation backends (and `evaluate`'s settings.json).

    Nucleus sampling is off (top-p 1, no top-k), as in the paper. A new sampling option is one field here: both
    backends, the data-parallel engines and the run directory's settings take it from this object.
    """

    k: int | None = field(
        default=None,
        metadata={
            "help": "Samples per problem (average pass@k). Default: the paper's for the test set "
            f"({', '.join(f'{name} {k}' for name, k in DEFAULT_K.items())}), 1 for any other problems."
        },
    )
    temperature: float = field(default=0.6, metadata={"help": "Sampling temperature (the paper's: 0.6)."})
    max_new_tokens: int = field(
        default=32768,
        metadata={"help": "Token limit per completion; one that reaches it without EOS counts as wrong."},
    )
    seed: int = field(default=0, metadata={"help": "Sampling seed."})
    thinking_budget: int | None = field(
        default=None,
        metadata={
            "help": "Budget forcing (s1): at most this many thinking tokens. A completion that has not closed "
            "`</think>` by then gets `</think>` and answer_cue appended and goes on to its answer, within "
            "max_new_tokens in all (one without room for them is truncated). None: no forcing."
        },
    )
    answer_cue: str = field(
        default=FORCED_ANSWER_CUE,
        metadata={"help": "Text appended after a forced `</think>`, so that the model answers at once."},
    )

    def __post_init__(self) -> None:
        if self.thinking_budget is not None and self.thinking_budget < 1:
            raise ValueError(f"thinking_budget must be >= 1 (or None: no forcing), got {self.thinking_budget}.")
        if self.k is not None and self.k < 1:
            raise ValueError(f"k must be >= 1, got {self.k}.")
        if not self.temperature > 0:
            raise ValueError(f"temperature must be > 0 for sampling (the paper uses 0.6), got {self.temperature}.")
        if self.max_new_tokens < 1:
            raise ValueError(f"max_new_tokens must be >= 1, got {self.max_new_tokens}.")

    def for_dataset(self, dataset: str | None = None) -> SamplingSettings:
        """These settings with k resolved: as given, else the paper's k for `dataset` (`DEFAULT_K`), else 1."""
        return self if self.k is not None else replace(self, k=DEFAULT_K.get(dataset, 1))

    def recorded(self) -> dict[str, Any]:
        """The fields that define the samples, for a run's settings.json: the forcing fields only when forcing is on,
        so that run directories written before they existed still resume."""
        settings = asdict(self)
        if self.thinking_budget is None:
            del settings["thinking_budget"], settings["answer_cue"]
        return settings


@dataclass
class SamplingRunArguments:
    """The arguments of a recipe that samples a model `num_samples` times per problem and writes what it finds under
    output_dir (`baselines.RejectionSamplingArguments`, recipes/start_accuracy.py's); each recipe redeclares the
    fields whose defaults or help differ, and `sampling()` turns them into `SamplingSettings`."""

    model: str = field(metadata={"help": "The model to sample: local directory or hub name."})
    output_dir: str = field(metadata={"help": "Writes the samples and what is made of them here."})
    dataset: str = field(default="", metadata={"help": "The problems to sample."})
    num_problems: int | None = field(default=None, metadata={"help": "Sample the first N problems only."})
    num_samples: int = field(default=1, metadata={"help": "Samples per problem."})
    temperature: float = field(default=SamplingSettings.temperature, metadata={"help": "Sampling temperature."})
    max_new_tokens: int = field(default=SamplingSettings.max_new_tokens, metadata={"help": "Token limit per sample."})
    seed: int = field(default=SamplingSettings.seed, metadata={"help": "Sampling seed."})

    def __post_init__(self) -> None:
        if self.num_samples < 1:
            raise ValueError(f"num_samples must be >= 1, got {self.num_samples}.")

    def sampling(self) -> SamplingSettings:
        """The sampling settings of these arguments, for `evaluation.evaluate_problems`."""
        return SamplingSettings(
            k=self.num_samples, temperature=self.temperature, max_new_tokens=self.max_new_tokens, seed=self.seed
        )


def check_prompts(prompts: list[Any]) -> None:
    if not prompts:
        raise ValueError("no prompts to evaluate: the dataset is empty.")


@torch.no_grad()
def generate_samples(
    model: Any,
    tokenizer: Any,
    prompts: list[Any],
    sampling: SamplingSettings | None = None,
    *,
    batch_size: int = 64,
    desc: str = "generating",
    skip: frozenset[tuple[int, int]] = frozenset(),
    on_batch: Callable[[list[EvaluationSample]], None] | None = None,
) -> list[EvaluationSample]:
    """`sampling.k` sampled completions per prompt with transformers `generate` (prompts: strings or chat turns;
    `sampling`: `SamplingSettings()` if not given, k 1 if unset).

    `skip` holds (problem, sample) pairs already done (a resumed run); `on_batch` sees each batch as it finishes.

    With `sampling.thinking_budget` N (budget forcing), two `generate` calls per batch: the thinking, at most N new
    tokens, stopped early where the model writes `</think>`; then the answer, on the prompt + thinking ids (+
    `</think>` and `sampling.answer_cue` when the thinking ran into the budget), within max_new_tokens in all: where
    `</think>` and the cue do not fit, nothing is appended and the sample is truncated. A sample's text and num_tokens
    cover the thinking, the appended `</think>` and cue tokens, and the answer.
    """
    sampling = (sampling or SamplingSettings()).for_dataset()
    check_prompts(prompts)
    eos_ids = {tokenizer.eos_token_id, *(_as_list(model.generation_config.eos_token_id))}
    eos_ids.discard(None)
    prompt_ids = [prompt_token_ids(prompt, tokenizer) for prompt in prompts]  # the same ids as the vLLM backend's
    jobs = [
        (index, sample)
        for index in range(len(prompt_ids))
        for sample in range(sampling.k)
        if (index, sample) not in skip
    ]
    end_of_thinking = think_end_ids(tokenizer)
    cue_ids = tokenizer(sampling.answer_cue, add_special_tokens=False)["input_ids"]
    samples: list[EvaluationSample] = []
    generator_state = torch.random.get_rng_state()
    torch.manual_seed(sampling.seed)
    padding_side, tokenizer.padding_side = tokenizer.padding_side, "left"
    model.eval()

    def sample(id_lists: list[list[int]], max_new_tokens: int, **kwargs: Any) -> list[list[int]]:
        inputs = tokenizer.pad([{"input_ids": ids} for ids in id_lists], return_tensors="pt")
        inputs = {name: tensor.to(model.device) for name, tensor in inputs.items()}
        output = model.generate(
            **inputs,
            do_sample=True,
            temperature=sampling.temperature,
            top_p=1.0,
            top_k=0,
            max_new_tokens=max_new_tokens,
            pad_token_id=tokenizer.pad_token_id,
            **kwargs,
        )
        return output[:, inputs["input_ids"].shape[1] :].tolist()

    try:
        for start in tqdm(range(0, len(jobs), batch_size), desc=desc, unit="batch"):
            batch = jobs[start : start + batch_size]
            prompts_of_batch = [prompt_ids[i] for i, _ in batch]
            if sampling.thinking_budget is None:
                completions = [
                    _until_eos(row, eos_ids, sampling.max_new_tokens)
                    for row in sample(prompts_of_batch, sampling.max_new_tokens)
                ]
            else:
                # Phase 1: the thinking, stopped at `</think>` (transformers' stop strings) or at the budget.
                thinking = sample(
                    prompts_of_batch, min(sampling.thinking_budget, sampling.max_new_tokens),
                    stop_strings=[THINK_END], tokenizer=tokenizer,
                )  # fmt: skip
                forced = []
                for row in thinking:  # after a stop string, padding (often EOS) follows: cut at the first EOS
                    tokens, truncated = _until_eos(row, eos_ids, sampling.max_new_tokens)
                    forced.append(_force_thinking(tokens, not truncated, end_of_thinking, cue_ids, sampling))
                # Phase 2: the answer, after the thinking (and the forced `</think>` + cue), within what is left.
                todo = [j for j, (_, left) in enumerate(forced) if left]
                answers = {}
                if todo:
                    rows = sample([prompts_of_batch[j] + forced[j][0] for j in todo], max(forced[j][1] for j in todo))
                    answers = {j: _until_eos(row, eos_ids, forced[j][1]) for j, row in zip(todo, rows, strict=True)}
                completions = [_join_forced(forced[j], answers.get(j)) for j in range(len(batch))]
            finished = [
                EvaluationSample(
                    problem_index=problem_index,
                    sample_index=sample_index,
                    text=tokenizer.decode(tokens, skip_special_tokens=True),
                    num_tokens=len(tokens),
                    truncated=truncated,
                    thinking_tokens=thinking_length(tokens, end_of_thinking),
                )
                for (problem_index, sample_index), (tokens, truncated) in zip(batch, completions, strict=True)
            ]
            if on_batch is not None:
                on_batch(finished)
            samples.extend(finished)
    finally:
        tokenizer.padding_side = padding_side
        torch.random.set_rng_state(generator_state)
    return samples


def _until_eos(row: list[int], eos_ids: set[int], limit: int) -> tuple[list[int], bool]:
    """A generated row cut after its first EOS (kept) and at `limit` tokens: (tokens, truncated: no EOS in them)."""
    row = row[:limit]
    end = next((position for position, token in enumerate(row) if token in eos_ids), None)
    return (row[: end + 1], False) if end is not None else (row, True)


class ForcedThinking(NamedTuple):
    """A sample after budget forcing (`force_thinking_budget`)."""

    tokens: list[int]  # the completion so far
    left: int | None  # how many tokens may still be sampled after it: None finished, 0 truncated (no room)
    forced: bool  # `</think>` + the answer cue were appended at position `budget` (tokens the model did not sample)


def force_thinking_budget(
    tokens: list[int], ended: bool, budget: int, max_tokens: int, think_end_ids: list[int], cue_ids: list[int]
) -> ForcedThinking:
    """Budget forcing (s1) of one sample whose thinking may have run past `budget` tokens: what evaluation
    (`SamplingSettings.thinking_budget`, both backends) and training rollouts (`rollout_thinking_budget`, the
    trainers) do with a first sampling phase. `tokens` are the completion tokens sampled so far (stopped anywhere:
    at `</think>`, at EOS, which `ended` says and `tokens` holds, or at a token limit); `max_tokens` bounds the whole
    completion.

    The model closed `</think>` within the budget (at most `budget` thinking tokens), or ended (EOS) within it without
    closing: kept as sampled, finished if it ended, else it may go on (`left` tokens). Otherwise its thinking ran
    past the budget: it becomes its first `budget` tokens + `think_end_ids` + `cue_ids`, from which the answer may
    be sampled (`left` tokens); where they do not fit within `max_tokens`, the sample is kept as sampled and truncated
    (`left` 0). Sampling past the budget and cutting afterwards is the same as stopping at it: each token depends only
    on the ones before."""
    closed_at = thinking_length(tokens, think_end_ids)  # len(tokens) when it never closes
    if closed_at <= budget and (closed_at < len(tokens) or ended):
        return ForcedThinking(tokens, None if ended else max(max_tokens - len(tokens), 0), False)
    forced = tokens[:budget] + think_end_ids + cue_ids
    if len(forced) > max_tokens:
        return ForcedThinking(tokens, 0, False)
    return ForcedThinking(forced, max_tokens - len(forced), True)


def _force_thinking(
    thinking: list[int], ended: bool, think_end_ids: list[int], cue_ids: list[int], sampling: SamplingSettings
) -> tuple[list[int], int | None]:
    """Evaluation's budget forcing after its thinking phase (at most `sampling.thinking_budget` tokens, stopped at
    `</think>`; `ended`: it stopped with EOS, which `thinking` holds): (the completion so far, how many answer tokens
    may follow it, None when it is finished), by `force_thinking_budget`. Shared by both backends: the model closed
    `</think>` itself: the answer follows, no cue (whatever the phase wrote after the marker, padding, is dropped)."""
    closed_at = thinking_length(thinking, think_end_ids)
    if closed_at < len(thinking):  # stopped at `</think>`: the answer is sampled next
        thinking, ended = thinking[: closed_at + len(think_end_ids)], False
    forced = force_thinking_budget(
        thinking, ended, sampling.thinking_budget, sampling.max_new_tokens, think_end_ids, cue_ids
    )
    return forced.tokens, forced.left


def _join_forced(
    forced: tuple[list[int], int | None], answer: tuple[list[int], bool] | None
) -> tuple[list[int], bool]:
    """(tokens, truncated) of a budget-forced completion: thinking (+ forced close and cue) + answer. One that had no
    tokens left for an answer is truncated."""
    so_far, left = forced
    if left is None:
        return so_far, False
    if answer is None:
        return so_far, True
    return so_far + answer[0], answer[1]


def _as_list(value: Any) -> list:
    if value is None:
        return []
    return list(value) if isinstance(value, (list, tuple)) else [value]
