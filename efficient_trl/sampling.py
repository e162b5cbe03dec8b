"""Sampling completions: the two generation backends and budget forcing, under one `SamplingSettings`.

transformers `generate` runs anywhere, the CPU included; vLLM (`generate_samples_vllm`, the one place that touches
vLLM) runs on GPUs, data parallel over engines when asked. Both take the prompts as the trainers build them (the
chat template, tokenized, at most one BOS), sample k completions per prompt with the same semantics (temperature,
top-p 1, token limit, seed) and return `EvaluationSample`s; with `SamplingSettings.thinking_budget` both cut
thinking at the budget, close it with `</think>` and a short answer cue, and generate the answer (s1's budget
forcing). Grading and run directories are `efficient_trl.evaluation`'s.
"""

from __future__ import annotations

import os
import queue
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import torch
from tqdm.auto import tqdm

from .math_grader import THINK_END, think_end_ids
from .rewards import thinking_length

__all__ = [
    "DEFAULT_K",
    "FORCED_ANSWER_CUE",
    "EvaluationSample",
    "SamplingSettings",
    "check_prompts",
    "generate_samples",
    "generate_samples_vllm",
    "prompt_token_ids",
    "render_prompt",
]

# The paper's k for average pass@k on each shipped test set.
DEFAULT_K = {"gsm8k": 1, "math500": 3, "aime24": 10}
# Prompts per vLLM call: large enough to keep the engine busy, small enough that an interruption costs little.
VLLM_CHUNK_SIZE = 256
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
            "max_new_tokens in all. None: no forcing."
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
    `</think>` and `sampling.answer_cue` when the thinking ran into the budget), within max_new_tokens in all. A
    sample's text and num_tokens cover the thinking, the appended `</think>` and cue tokens, and the answer.
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
                todo = [j for j, (_, _, left) in enumerate(forced) if left]
                answers = {}
                if todo:
                    rows = sample([prompts_of_batch[j] + forced[j][0] for j in todo], max(forced[j][2] for j in todo))
                    answers = {j: _until_eos(row, eos_ids, forced[j][2]) for j, row in zip(todo, rows, strict=True)}
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


def _force_thinking(
    thinking: list[int], ended: bool, think_end_ids: list[int], cue_ids: list[int], sampling: SamplingSettings
) -> tuple[list[int], bool, int]:
    """Budget forcing after the thinking phase (at most `sampling.thinking_budget` tokens, stopped at `</think>`;
    `ended`: it stopped with EOS, which `thinking` holds): (the completion so far, whether it is finished, how many
    answer tokens are left to generate).

    The model closed `</think>` itself: the answer follows, no cue. It ended (EOS) without closing its thoughts:
    done. It reached the budget: `</think>` + the answer cue are appended (they count as completion tokens)."""
    closed_at = thinking_length(thinking, think_end_ids)
    if closed_at < len(thinking):
        so_far = thinking[: closed_at + len(think_end_ids)]
    elif ended:
        return thinking, True, 0
    else:
        so_far = thinking[: sampling.thinking_budget] + think_end_ids + cue_ids
    return so_far, False, max(0, sampling.max_new_tokens - len(so_far))


def _join_forced(forced: tuple[list[int], bool, int], answer: tuple[list[int], bool] | None) -> tuple[list[int], bool]:
    """(tokens, truncated) of a budget-forced completion: thinking (+ forced close and cue) + answer."""
    so_far, ended, _ = forced
    if ended:
        return so_far, False
    if answer is None:  # no tokens left for an answer
        return so_far, True
    return so_far + answer[0], answer[1]


def generate_samples_vllm(
    model: str,
    tokenizer: Any,
    prompts: list[Any],
    sampling: SamplingSettings | None = None,
    *,
    skip: frozenset[tuple[int, int]] = frozenset(),
    on_batch: Callable[[list[EvaluationSample]], None] | None = None,
    chunk_size: int | None = None,
    data_parallel_size: int = 1,
    **llm_kwargs: Any,
) -> list[EvaluationSample]:
    """The same sampling as `generate_samples` with vLLM (install `efficient-trl[vllm]`): the same `sampling`
    settings (k completions per prompt at its temperature, top-p 1, at most max_new_tokens), on the same prompt ids
    (`prompt_token_ids`); a completion's token count includes its EOS, and one stopped by the length limit is
    truncated. Everything vLLM-specific in the toolkit is in this function.

    Prompts go to vLLM `chunk_size` (default `VLLM_CHUNK_SIZE`) at a time and `on_batch` sees each chunk's samples
    as soon as it is done, so an interrupted run loses at most one chunk. `llm_kwargs` go to `vllm.LLM` (e.g.
    `tensor_parallel_size`). With `data_parallel_size` N > 1, N engines sample at once, each in its own process on
    its own `tensor_parallel_size` GPUs, each every N-th problem; their samples come back to this process chunk by
    chunk, so `on_batch` (grading, writing) runs here and an interrupted run resumes as with one engine."""
    sampling = (sampling or SamplingSettings()).for_dataset()
    check_prompts(prompts)
    chunk_size = VLLM_CHUNK_SIZE if chunk_size is None else chunk_size
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size}.")
    if data_parallel_size < 1 or llm_kwargs.get("tensor_parallel_size", 1) < 1:
        raise ValueError(
            f"data_parallel_size and tensor_parallel_size must be >= 1, got {data_parallel_size} and "
            f"{llm_kwargs.get('tensor_parallel_size', 1)}."
        )
    if data_parallel_size > 1:
        return _generate_data_parallel(
            model, prompts, data_parallel_size, sampling, chunk_size, llm_kwargs, skip, on_batch
        )
    try:
        from vllm import LLM, SamplingParams
    except ImportError as error:
        raise ImportError("the vLLM backend needs vLLM: pip install 'efficient-trl[vllm]'") from error
    todo = [index for index in range(len(prompts)) if any((index, j) not in skip for j in range(sampling.k))]
    if not todo:
        return []
    llm = LLM(model=model, seed=sampling.seed, **llm_kwargs)
    params = SamplingParams(
        n=sampling.k,
        temperature=sampling.temperature,
        top_p=1.0,
        max_tokens=sampling.max_new_tokens,
        seed=sampling.seed,
    )
    end_of_thinking = think_end_ids(tokenizer)
    if sampling.thinking_budget is not None:
        # Phase 1 of budget forcing: the thinking, stopped at `</think>` (kept in the output) or at the budget.
        params = SamplingParams(
            n=sampling.k, temperature=sampling.temperature, top_p=1.0,
            max_tokens=min(sampling.thinking_budget, sampling.max_new_tokens), seed=sampling.seed,
            stop=[THINK_END], include_stop_str_in_output=True,
        )  # fmt: skip
    samples: list[EvaluationSample] = []
    for start in tqdm(range(0, len(todo), chunk_size), desc="generating (vLLM)", unit="chunk"):
        chunk = todo[start : start + chunk_size]
        # Token ids, not text: vLLM tokenizes text with special tokens, which puts a second BOS after the one the
        # chat template wrote (vllm#9519). These are the ids the transformers backend and the trainers use.
        chunk_ids = {i: prompt_token_ids(prompts[i], tokenizer) for i in chunk}
        outputs = llm.generate([{"prompt_token_ids": chunk_ids[i]} for i in chunk], params)
        jobs = [
            (index, sample_index, completion)
            for index, output in zip(chunk, outputs, strict=True)
            for sample_index, completion in enumerate(output.outputs)
            if (index, sample_index) not in skip
        ]
        if sampling.thinking_budget is None:
            completions = [
                (completion.text, list(completion.token_ids), completion.finish_reason == "length")
                for _, _, completion in jobs
            ]
        else:
            completions = _answer_forced_vllm(
                llm, SamplingParams, tokenizer, jobs, chunk_ids, sampling, end_of_thinking
            )
        finished = [
            EvaluationSample(
                problem_index=index,
                sample_index=sample_index,
                text=text,
                num_tokens=len(tokens),
                truncated=truncated,
                thinking_tokens=thinking_length(tokens, end_of_thinking),
            )
            for (index, sample_index, _), (text, tokens, truncated) in zip(jobs, completions, strict=True)
        ]
        if on_batch is not None:
            on_batch(finished)
        samples.extend(finished)
    return samples


def _answer_forced_vllm(
    llm: Any,
    sampling_params: type,
    tokenizer: Any,
    jobs: list[tuple[int, int, Any]],
    prompt_ids: dict[int, list[int]],
    sampling: SamplingSettings,
    think_end_ids: list[int],
) -> list[tuple[str, list[int], bool]]:
    """Phase 2 of budget forcing with vLLM: each unfinished thinking (+ `</think>` and the cue where it ran into the
    budget) goes back as prompt ids, with the answer tokens it has left; (text, token ids, truncated) per job."""
    cue_ids = tokenizer(sampling.answer_cue, add_special_tokens=False)["input_ids"]
    forced = [
        # "stop" without `</think>` in the output: the model's EOS (vLLM keeps it in token_ids)
        _force_thinking(list(completion.token_ids), completion.finish_reason == "stop", think_end_ids, cue_ids,
                        sampling)
        for _, _, completion in jobs
    ]  # fmt: skip
    todo = [j for j, (_, _, left) in enumerate(forced) if left]
    answers: dict[int, tuple[list[int], bool]] = {}
    if todo:
        outputs = llm.generate(
            [{"prompt_token_ids": prompt_ids[jobs[j][0]] + forced[j][0]} for j in todo],
            [
                sampling_params(
                    n=1,
                    temperature=sampling.temperature,
                    top_p=1.0,
                    max_tokens=forced[j][2],
                    seed=sampling.seed + jobs[j][0] * sampling.k + jobs[j][1],  # one seed per sample
                )  # fmt: skip
                for j in todo
            ],
        )
        for j, output in zip(todo, outputs, strict=True):
            answer = output.outputs[0]
            answers[j] = (list(answer.token_ids), answer.finish_reason == "length")
    completions = []
    for j in range(len(jobs)):
        tokens, truncated = _join_forced(forced[j], answers.get(j))
        completions.append((tokenizer.decode(tokens, skip_special_tokens=True), tokens, truncated))
    return completions


def _generate_data_parallel(
    model: str,
    prompts: list[Any],
    data_parallel_size: int,
    sampling: SamplingSettings,
    chunk_size: int,
    llm_kwargs: dict[str, Any],
    skip: frozenset[tuple[int, int]],
    on_batch: Callable[[list[EvaluationSample]], None] | None,
) -> list[EvaluationSample]:
    """`generate_samples_vllm` with `data_parallel_size` engine processes; engine `rank` samples problems rank,
    rank + N, ... with seed + rank, on its own GPUs."""
    import multiprocessing

    tensor_parallel_size = llm_kwargs.get("tensor_parallel_size", 1)
    devices = _visible_cuda_devices()
    if devices and data_parallel_size * tensor_parallel_size > len(devices):
        raise ValueError(
            f"data_parallel_size x tensor_parallel_size = {data_parallel_size} x {tensor_parallel_size} GPUs, but "
            f"{len(devices)} are visible ({','.join(devices)}); lower one of them."
        )
    context = multiprocessing.get_context("spawn")  # a forked process cannot start CUDA
    messages = context.Queue()
    workers = []
    for rank in range(data_parallel_size):
        indices = list(range(rank, len(prompts), data_parallel_size))
        if not indices:
            continue
        shard = {
            "model": model, "prompts": [prompts[i] for i in indices], "indices": indices,
            # this shard's problem i is the run's problem indices[i] = rank + i * data_parallel_size
            "skip": frozenset((i // data_parallel_size, j) for i, j in skip if i % data_parallel_size == rank),
            "devices": devices[rank * tensor_parallel_size : (rank + 1) * tensor_parallel_size],
            # the same settings in every engine, but its own seed: engines draw different samples
            "sampling": asdict(replace(sampling, seed=sampling.seed + rank)),
            "chunk_size": chunk_size, "llm_kwargs": llm_kwargs,
        }  # fmt: skip
        # not a daemon: vLLM starts processes of its own, which a daemon may not
        worker = context.Process(target=_vllm_worker, args=(rank, shard, messages))
        worker.start()
        workers.append(worker)
    samples: list[EvaluationSample] = []
    running = len(workers)
    try:
        while running:
            try:
                kind, rank, payload = messages.get(timeout=5.0)
            except queue.Empty:
                dead = [w for w in workers if w.exitcode not in (None, 0)]
                if dead:
                    raise RuntimeError(f"a vLLM worker process exited with code {dead[0].exitcode}.") from None
                continue
            if kind == "error":
                raise RuntimeError(f"vLLM worker {rank} failed:\n{payload}")
            if kind == "done":
                running -= 1
                continue
            finished = [EvaluationSample(**sample) for sample in payload]
            if on_batch is not None:
                on_batch(finished)
            samples.extend(finished)
    finally:
        for worker in workers:
            if worker.is_alive():
                worker.terminate()
            worker.join()
    return samples


def _visible_cuda_devices() -> list[str]:
    """The CUDA devices this process may use, as CUDA_VISIBLE_DEVICES names them ([] without CUDA)."""
    if not torch.cuda.is_available():
        return []
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible:
        return [device.strip() for device in visible.split(",") if device.strip()]
    return [str(index) for index in range(torch.cuda.device_count())]


def _vllm_worker(rank: int, shard: dict[str, Any], messages: Any) -> None:
    """One data-parallel engine: sample its shard, send each chunk's samples (with the run's problem indices)."""
    import traceback

    try:
        if shard["devices"]:
            os.environ["CUDA_VISIBLE_DEVICES"] = ",".join(shard["devices"])  # before vLLM initializes CUDA
        from transformers import AutoTokenizer

        indices = shard["indices"]

        def send(batch: list[EvaluationSample]) -> None:
            rows = [{**sample.to_dict(), "problem_index": indices[sample.problem_index]} for sample in batch]
            messages.put(("samples", rank, rows))

        generate_samples_vllm(
            shard["model"], AutoTokenizer.from_pretrained(shard["model"]), shard["prompts"],
            SamplingSettings(**shard["sampling"]), skip=shard["skip"], on_batch=send, chunk_size=shard["chunk_size"],
            **shard["llm_kwargs"],
        )  # fmt: skip
        messages.put(("done", rank, None))
    except BaseException:
        messages.put(("error", rank, traceback.format_exc()))
        raise


def _as_list(value: Any) -> list:
    if value is None:
        return []
    return list(value) if isinstance(value, (list, tuple)) else [value]
