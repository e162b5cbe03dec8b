"""The vLLM generation backend: `generate_samples_vllm`, on GPUs, data parallel over engines when asked.

The one module that touches vLLM (install `efficient-trl[vllm]`), and only when called. It samples as the
transformers backend (`efficient_trl.sampling.generate_samples`) does, with that module's `SamplingSettings`, prompt
ids and budget forcing; `efficient_trl.evaluation` picks the backend.
"""

from __future__ import annotations

import os
import queue
from collections.abc import Callable
from dataclasses import asdict, replace
from typing import Any

import torch
from tqdm.auto import tqdm

from .sampling import (
    EvaluationSample,
    SamplingSettings,
    _force_thinking,
    _join_forced,
    check_prompts,
    prompt_token_ids,
)
from .thinking import THINK_END, think_end_ids, thinking_length

__all__ = ["generate_samples_vllm"]

# Prompts per vLLM call: large enough to keep the engine busy, small enough that an interruption costs little.
VLLM_CHUNK_SIZE = 256


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
    truncated.

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
    todo = [j for j, (_, left) in enumerate(forced) if left]
    answers: dict[int, tuple[list[int], bool]] = {}
    if todo:
        outputs = llm.generate(
            [{"prompt_token_ids": prompt_ids[jobs[j][0]] + forced[j][0]} for j in todo],
            [
                sampling_params(
                    n=1,
                    temperature=sampling.temperature,
                    top_p=1.0,
                    max_tokens=forced[j][1],
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
