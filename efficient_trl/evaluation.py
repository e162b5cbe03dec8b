"""Evaluation: sample k completions per problem, grade them, and report average pass@k beside the tokens spent.

Average pass@k as the paper defines it: k samples per problem at temperature 0.6, the mean correctness of a
problem's samples, averaged over problems. A completion that hits the token limit without EOS counts as wrong, as in
training (`truncated_grading="last_box"` grades its last box instead, as the authors' evaluation script did). The
samples come from `efficient_trl.sampling` (transformers `generate` or vLLM, one `SamplingSettings`); this module
grades them and keeps the run directory: settings.json, samples.jsonl (resumable), summary.json.
"""

from __future__ import annotations

import csv
import hashlib
import importlib.util
import io
import json
import math
import os
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import torch

from .budgets import BUDGET_MEASURES, BUDGET_MODES, budget_adherence, budget_template, with_budgets
from .cli import function_default
from .data import (
    LOCAL_DATASETS,
    TASK_EVAL_PROBLEMS,
    check_gold_answers,
    load_problems,
    prompt_template_for,
    task_held_out_problems,
    to_prompts,
)
from .math_grader import MathAccuracyReward, final_answer, gold_answer, last_boxed, math_accuracy_reward
from .provenance import missing_provenance, model_fingerprint, read_provenance, result_name
from .rundir import held_run_dir, write_atomically
from .sampling import DEFAULT_K, EvaluationSample, SamplingSettings, check_prompts, generate_samples
from .sampling import prompt_token_ids as prompt_token_ids  # importable from here as before; home: sampling.py
from .sampling import render_prompt as render_prompt  # likewise
from .sampling_vllm import generate_samples_vllm
from .synthetic import TASKS
from .thinking import without_thinking

__all__ = [
    "EvaluationArguments",
    "GenerationArguments",
    "check_model_reference",
    "cutoff_baseline",
    "default_output_dir",
    "evaluate",
    "evaluate_budgets",
    "evaluate_problems_by_budget",
    "evaluate_problems",
    "grade_samples",
    "load_samples",
    "resolve_backend",
    "resolve_problems",
    "samples_to_jsonl",
    "start_accuracies",
    "start_accuracy_summary",
    "summarize",
    "write_summary",
]

# The paper's generation-cutoff baseline: completions cut at 8k, 16k, 20k, 24k and 32k tokens.
DEFAULT_CUTOFFS = (8000, 16000, 20000, 24000, 32000)
BACKENDS = ("auto", "transformers", "vllm")
# How a completion cut at the token limit is graded: "wrong" (the paper's rule, as in training) or "last_box" (the
# last \boxed{} anywhere in it, as the authors' evaluation script grades every completion, cut or not)
TRUNCATED_GRADING = ("wrong", "last_box")


def grade_samples(
    samples: list[EvaluationSample],
    golds: list[str],
    reward: MathAccuracyReward = math_accuracy_reward,
    truncated_grading: str = "wrong",
) -> list[EvaluationSample]:
    """Fill in each sample's extracted answer and correctness: its final answer (`math_grader.final_answer`) against
    the gold one; a truncated sample is wrong, or with `truncated_grading="last_box"` graded on its last box."""
    _check_truncated_grading(truncated_grading)
    rescued = truncated_grading == "last_box"
    answers = [last_boxed(s.text) if s.truncated and rescued else final_answer(s.text) for s in samples]
    verdicts = reward.grader.verify(answers, [gold_answer(golds[sample.problem_index]) for sample in samples])
    for sample, answer, verdict in zip(samples, answers, verdicts, strict=True):
        sample.extracted_answer = answer
        sample.correct = bool(verdict) and (rescued or not sample.truncated)
    return samples


def start_accuracies(samples: list[EvaluationSample], num_problems: int) -> list[float]:
    """Per problem, the share of its graded samples that are correct and finished (a truncated sample is wrong, as in
    training). Every problem must have samples."""
    correct: dict[int, list[bool]] = {}
    for sample in samples:
        if sample.correct is None:
            raise ValueError("grade the samples (evaluation.grade_samples) before computing start accuracies.")
        correct.setdefault(sample.problem_index, []).append(bool(sample.correct) and not sample.truncated)
    missing = sorted(set(range(num_problems)) - set(correct))
    if missing:
        raise ValueError(f"problems {missing[:5]} have no samples; sample every problem first.")
    return [sum(correct[index]) / len(correct[index]) for index in range(num_problems)]


def start_accuracy_summary(accuracies: list[float]) -> dict[str, Any]:
    """What a start-accuracy report says of `start_accuracies`' values: their mean, and how many problems were never
    and always solved."""
    return {
        "mean_start_accuracy": sum(accuracies) / len(accuracies),
        "problems_never_solved": sum(value == 0 for value in accuracies),
        "problems_always_solved": sum(value == 1 for value in accuracies),
    }


def _check_truncated_grading(truncated_grading: str) -> None:
    if truncated_grading not in TRUNCATED_GRADING:
        raise ValueError(f"truncated_grading must be one of {list(TRUNCATED_GRADING)}, got {truncated_grading!r}.")


def summarize(samples: list[EvaluationSample]) -> dict[str, Any]:
    """Average pass@k, tokens (all, and correct only: None when none is), truncation rate, and standard errors of
    the accuracy (over problems) and of the mean tokens (over samples); `no_think_rate`, the share of samples
    answered without thinking (`thinking.without_thinking`), and `by_mode`, the figures of each mode ("think",
    "no_think"; `_mode_figures`)."""
    if any(sample.correct is None for sample in samples):
        raise ValueError("grade the samples (grade_samples) before summarizing them.")
    per_problem: dict[int, list[bool]] = {}
    for sample in samples:
        per_problem.setdefault(sample.problem_index, []).append(sample.correct)
    problem_scores = [sum(verdicts) / len(verdicts) for verdicts in per_problem.values()]
    accuracy, accuracy_stderr = _mean_and_stderr(problem_scores)
    correct_tokens = [sample.num_tokens for sample in samples if sample.correct]
    tokens = [sample.num_tokens for sample in samples]
    mean_tokens, tokens_stderr = _mean_and_stderr(tokens)
    no_think = [without_thinking(sample.text) for sample in samples]
    modes = {mode: [s for s, flag in zip(samples, no_think, strict=True) if flag == (mode == "no_think")]
             for mode in ("think", "no_think")}  # fmt: skip
    return {
        "accuracy": accuracy,
        "accuracy_stderr": accuracy_stderr,
        "mean_tokens": mean_tokens,
        "mean_tokens_stderr": tokens_stderr,
        "mean_tokens_correct": sum(correct_tokens) / len(correct_tokens) if correct_tokens else None,
        "truncation_rate": sum(sample.truncated for sample in samples) / len(samples),
        "num_problems": len(per_problem),
        "num_samples": len(samples),
        "no_think_rate": sum(no_think) / len(samples),
        "by_mode": {mode: _mode_figures(group, len(samples)) for mode, group in modes.items()},
    }


def _mean_and_stderr(values: list[float]) -> tuple[float, float]:
    """The mean of `values` (at least one) and its standard error, with the sample variance (n - 1)."""
    mean = sum(values) / len(values)
    variance = sum((value - mean) ** 2 for value in values) / max(1, len(values) - 1)
    return mean, math.sqrt(variance / len(values))


def _mode_figures(samples: list[EvaluationSample], total: int) -> dict[str, Any]:
    """One mode's figures: its `share` of all `total` samples, `num_samples`, and over the samples of that mode alone
    (not averaged per problem, since a problem's samples may fall in both modes) `accuracy` and `mean_tokens`,
    each with its standard error (samples taken as independent); None for a mode without samples."""
    if not samples:
        return {"share": 0.0, "num_samples": 0, "accuracy": None, "accuracy_stderr": None, "mean_tokens": None,
                "mean_tokens_stderr": None}  # fmt: skip
    accuracy, accuracy_stderr = _mean_and_stderr([float(sample.correct) for sample in samples])
    mean_tokens, tokens_stderr = _mean_and_stderr([sample.num_tokens for sample in samples])
    return {
        "share": len(samples) / total,
        "num_samples": len(samples),
        "accuracy": accuracy,
        "accuracy_stderr": accuracy_stderr,
        "mean_tokens": mean_tokens,
        "mean_tokens_stderr": tokens_stderr,
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
            replace(
                sample,
                num_tokens=min(sample.num_tokens, cutoff),
                truncated=sample.truncated or sample.num_tokens > cutoff,
                correct=bool(sample.correct) and sample.num_tokens <= cutoff,
            )
            for sample in samples
        ]
        rows.append({"cutoff": cutoff, **summarize(clipped)})
    return rows


def evaluate(
    model: str,
    dataset: str,
    output_dir: str | Path,
    sampling: SamplingSettings | None = None,
    *,
    num_problems: int | None = None,
    split: str = "test",
    prompt_template: str | None = None,
    backend: str = "auto",
    batch_size: int = 64,
    tensor_parallel_size: int = 1,
    data_parallel_size: int = 1,
    cutoffs: tuple[int, ...] = DEFAULT_CUTOFFS,
    truncated_grading: str = "wrong",
) -> dict[str, Any]:
    """Evaluate `model` on `dataset` into the run directory `output_dir`, resuming it if it was interrupted:
    `resolve_problems`, then `evaluate_problems` (see both). `sampling` defaults to the paper's (`SamplingSettings`:
    temperature 0.6, 32,768 tokens, k = GSM8K 1, MATH500 3, AIME 2024 10); `prompt_template` to the dataset's own
    (`data.prompt_template_for`: the bare problem for a demo task, else the paper's prompt)."""
    sampling = (sampling or SamplingSettings()).for_dataset(dataset)
    prompt_template = prompt_template_for(dataset, prompt_template)
    # The run's options first (cheap), then the dataset: everything is checked before the run directory exists.
    backend = _check_run_options(model, backend, batch_size, tensor_parallel_size, data_parallel_size)
    problems = resolve_problems(dataset, split=split, num_problems=num_problems, prompt_template=prompt_template)
    return evaluate_problems(
        model, problems, output_dir, sampling, dataset=dataset, prompt_template=prompt_template, backend=backend,
        batch_size=batch_size, tensor_parallel_size=tensor_parallel_size, data_parallel_size=data_parallel_size,
        cutoffs=cutoffs, truncated_grading=truncated_grading,
    )  # fmt: skip


def resolve_problems(
    dataset: str, *, split: str = "test", num_problems: int | None = None, prompt_template: str | None = None
) -> Any:
    """The problems of `dataset` as `evaluate_problems` takes them: a `Dataset` with a `prompt` (the user turn,
    `prompt_template` with '{problem}' replaced; default: the dataset's own, `data.prompt_template_for`) and a
    checked gold `answer` column.

    `dataset` is a shipped test set (`DEFAULT_K`), a demo task (`synthetic.TASKS`: its held-out problems,
    `data.task_held_out_problems`, `TASK_EVAL_PROBLEMS` of them by default; graded's rows keep their `tier`), a
    local file or directory, or a hub name (its `split`); `num_problems` keeps the first N.
    """
    prompt_template = prompt_template_for(dataset, prompt_template)
    if dataset in TASKS and not Path(dataset).exists():
        if split == "train":
            raise ValueError(
                f"the demo task {dataset!r} is an evaluation set here (its held-out problems); its training "
                "prompts come with the experiments (efficient-trl demo --task ...)."
            )
        return to_prompts(task_held_out_problems(dataset, num_problems or TASK_EVAL_PROBLEMS), prompt_template)
    if dataset not in LOCAL_DATASETS and not Path(dataset).exists() and "/" not in dataset:
        raise ValueError(
            f"unknown dataset {dataset!r}: the shipped test sets are {sorted(DEFAULT_K)} and the demo tasks "
            f"{list(TASKS)}; a local file or a hub name (owner/name) also works."
        )
    problems = load_problems(dataset, split=split)
    if num_problems is not None:
        problems = problems.select(range(min(num_problems, len(problems))))
    check_gold_answers(problems, dataset)
    return to_prompts(problems, prompt_template)


def default_output_dir(
    model: str,
    dataset: str,
    sampling: SamplingSettings,
    *,
    num_problems: int | None = None,
    prompt_template: str | None = None,
    truncated_grading: str = "wrong",
) -> str:
    """An evaluation's default run directory: runs/eval/<model>/<dataset>-k<k>-t<temperature>-max<max_new_tokens>,
    followed by every other setting that differs from its default (-n<num_problems>, -seed<seed>,
    -thinking_budget<N>, -prompt<hash of the template>, -last_box), so that other settings get their own directory and
    the same settings find theirs again (to resume)."""
    sampling = sampling.for_dataset(dataset)
    name = f"{Path(dataset).stem}-k{sampling.k}-t{sampling.temperature:g}-max{sampling.max_new_tokens}"
    defaults = asdict(SamplingSettings())
    for key, value in sampling.recorded().items():
        if key not in ("k", "temperature", "max_new_tokens") and value != defaults.get(key):
            name += f"-{key}{value:g}" if isinstance(value, float) else f"-{key}{_short(value)}"
    if num_problems is not None:
        name += f"-n{num_problems}"
    if prompt_template_for(dataset, prompt_template) != prompt_template_for(dataset):
        name += f"-prompt{_short(prompt_template)}"
    if truncated_grading != "wrong":
        name += f"-{truncated_grading}"
    return f"runs/eval/{result_name(model)}/{name}"


def _short(value: Any) -> str:
    """`value` as it goes into a directory name: a number as written, anything else as 8 hex digits of a hash."""
    if isinstance(value, int):
        return str(value)
    return hashlib.sha256(str(value).encode()).hexdigest()[:8]


def evaluate_problems(
    model: str,
    problems: Any,
    output_dir: str | Path,
    sampling: SamplingSettings,
    *,
    dataset: str,
    prompt_template: str | None = None,
    backend: str = "auto",
    batch_size: int = 64,
    tensor_parallel_size: int = 1,
    data_parallel_size: int = 1,
    cutoffs: tuple[int, ...] = DEFAULT_CUTOFFS,
    device: str | None = None,
    name: str | None = None,
    truncated_grading: str = "wrong",
) -> dict[str, Any]:
    """Sample, grade and summarize `model` (a local directory or hub name) on `problems` (`prompt` and gold `answer`
    columns, e.g. from `resolve_problems`) into the run directory `output_dir`, resuming it if it was interrupted.

    `dataset` and `prompt_template` name where the problems came from, for the run's settings; `name`, if given, is
    the model's name in results (`analysis.load_results`; default: its directory's, as `provenance.result_name` says).
    `backend` is
    "transformers" (`generate`, runs anywhere), "vllm" (batched, the normal choice on GPUs) or "auto" (vLLM when it
    is installed and CUDA is present, else transformers; `resolve_backend`); vLLM runs `data_parallel_size` engines
    of `tensor_parallel_size` GPUs each, so a node's GPUs all work; the transformers backend runs on `device`
    (default: CUDA when present, else the CPU). `sampling.k` unset is the paper's for
    `dataset` (`SamplingSettings.for_dataset`). `load_samples(output_dir)` reads the graded samples back.
    `truncated_grading` (`TRUNCATED_GRADING`) says how a sample cut at the token limit is graded: "wrong" (the
    paper's rule) or "last_box" (its last box, as the authors' evaluation script did; recorded in the settings, so a
    run under the other rule is another run; the generation-cutoff baseline still counts the samples it cuts wrong).

    Writes `settings.json`, `samples.jsonl` (one graded sample per line, appended batch by batch), and at the end
    `summary.json` and `summary.csv` (written whole, then renamed into place). A directory that holds a run with
    other settings is refused, never overwritten.
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer

    sampling = sampling.for_dataset(dataset)
    # Everything checked before the run directory is created, so that a corrected command is never refused.
    backend = _check_run_options(model, backend, batch_size, tensor_parallel_size, data_parallel_size)
    _check_truncated_grading(truncated_grading)
    missing = {"prompt", "answer"} - set(problems.column_names)
    if missing:
        raise ValueError(
            f"the problems have no {sorted(missing)} column: give a Dataset with `prompt` and `answer` columns "
            "(resolve_problems makes one)."
        )
    check_prompts(problems["prompt"])

    run_dir = Path(output_dir)
    settings = {
        **({"name": name} if name is not None else {}),
        "model": model, "model_fingerprint": model_fingerprint(model), "dataset": dataset,
        "num_problems": len(problems), **sampling.recorded(), "backend": backend, "prompt_template": prompt_template,
        **({"truncated_grading": truncated_grading} if truncated_grading != "wrong" else {}),  # absent: the paper's
    }  # fmt: skip
    samples_path = run_dir / "samples.jsonl"
    # one process at a time (two would generate every sample twice); other settings are refused
    with held_run_dir(
        run_dir,
        settings,
        has_results=lambda path: bool(_read_samples(path / "samples.jsonl")),
        option="output directory (--output_dir)",
    ) as resumed:
        done = _resumed_samples(run_dir, settings) if resumed else {}
        golds = problems["answer"]

        def record(batch: list[EvaluationSample]) -> None:
            grade_samples(batch, golds, truncated_grading=truncated_grading)
            with samples_path.open("a") as f:
                f.write(samples_to_jsonl(batch))

        if len(done) < len(problems) * sampling.k:
            tokenizer = AutoTokenizer.from_pretrained(model)
            # a resumed run draws new random numbers for the samples it still needs
            remaining = replace(sampling, seed=sampling.seed + len(done))
            if backend == "vllm":
                generate_samples_vllm(
                    model, tokenizer, problems["prompt"], remaining, skip=frozenset(done), on_batch=record,
                    data_parallel_size=data_parallel_size, tensor_parallel_size=tensor_parallel_size,
                )  # fmt: skip
            else:
                loaded = AutoModelForCausalLM.from_pretrained(model, dtype="auto")
                loaded.to(device or ("cuda" if torch.cuda.is_available() else "cpu"))
                generate_samples(
                    loaded, tokenizer, problems["prompt"], remaining, batch_size=batch_size, desc=dataset,
                    skip=frozenset(done), on_batch=record,
                )  # fmt: skip
        levels = problems["level"] if "level" in problems.column_names else None
        return write_summary(
            run_dir, settings, load_samples(run_dir), cutoffs, read_provenance(model), levels, _tiers(problems)
        )


def evaluate_budgets(
    model: str,
    dataset: str,
    output_dir: str | Path,
    sampling: SamplingSettings,
    budgets: list[int],
    *,
    mode: str = "prompt",
    measure: str = "completion",
    template: str = "exact",
    num_problems: int | None = None,
    split: str = "test",
    prompt_template: str | None = None,
    **run_options: Any,
) -> list[dict[str, Any]]:
    """Evaluate `model` once per token budget on `dataset` (`resolve_problems`), each in its run directory
    `output_dir/budget-<N>` (resumable as `evaluate_problems`'s); returns the summaries, which also hold `budget`,
    `budget_mode`, `budget_measure` and the `budgets.budget_adherence` metrics (`evaluate_problems_by_budget`).
    """
    prompt_template = prompt_template_for(dataset, prompt_template)
    problems = resolve_problems(dataset, split=split, num_problems=num_problems, prompt_template=prompt_template)
    return evaluate_problems_by_budget(
        model, problems, output_dir, sampling, budgets, mode=mode, measure=measure, template=template,
        dataset=dataset, prompt_template=prompt_template, **run_options,
    )  # fmt: skip


def evaluate_problems_by_budget(
    model: str,
    problems: Any,
    output_dir: str | Path,
    sampling: SamplingSettings,
    budgets: list[int],
    *,
    mode: str = "prompt",
    measure: str = "completion",
    template: str = "exact",
    dataset: str,
    prompt_template: str,
    **run_options: Any,
) -> list[dict[str, Any]]:
    """Evaluate `model` once per token budget on `problems` (as `evaluate_problems` takes them), each in its run
    directory `output_dir/budget-<N>`; returns the summaries, which also hold `budget`, `budget_mode`,
    `budget_measure` and the `budgets.budget_adherence` metrics.

    `mode` "prompt": the budget is written into each prompt with `template` (`budgets.with_budgets`, as training
    writes it: for budget-trained models); "force": budget forcing (`SamplingSettings.thinking_budget`) on the
    unchanged prompts, for any model. `measure` says what L counts: "completion" (every token) or "thinking" (the
    tokens before `</think>`), as training's `length_penalty_measure`. `dataset` and `prompt_template` say where the
    problems came from (the run's settings); `run_options` go to `evaluate_problems`. Problems with a `tier` get
    the adherence metrics per tier too, in each tier's entry of the summary's `by_tier`.
    """
    if mode not in BUDGET_MODES:
        raise ValueError(f"budget mode must be one of {list(BUDGET_MODES)}, got {mode!r}.")
    if measure not in BUDGET_MEASURES:
        raise ValueError(f"budget measure must be one of {list(BUDGET_MEASURES)}, got {measure!r}.")
    if not budgets or any(isinstance(b, bool) or not isinstance(b, int) or b < 1 for b in budgets):
        raise ValueError(f"budgets must be one or more positive token counts, got {budgets!r}.")
    if len(set(budgets)) != len(budgets):
        raise ValueError(f"budgets must differ from each other (one run directory each), got {budgets!r}.")
    written_template = budget_template(template)
    summaries = []
    for budget in budgets:
        run_dir = Path(output_dir) / f"budget-{budget}"
        if mode == "prompt":
            # The recorded template is the one the prompts were written with: another budget or sentence is another
            # run, refused in this directory.
            written = written_template.format(budget=budget, prompt=prompt_template)
            summary = evaluate_problems(
                model, with_budgets(problems, budget, template), run_dir, sampling, dataset=dataset,
                prompt_template=written, **run_options,
            )  # fmt: skip
        else:
            summary = evaluate_problems(
                model, problems, run_dir, replace(sampling, thinking_budget=budget), dataset=dataset,
                prompt_template=prompt_template, **run_options,
            )  # fmt: skip
        samples = load_samples(run_dir)
        if measure == "thinking" and any(sample.thinking_tokens is None for sample in samples):
            raise ValueError(
                f"{run_dir} holds samples without thinking_tokens (written by an older efficient-trl): evaluate "
                "into a new directory to measure thinking tokens."
            )

        def lengths(group: list[EvaluationSample]) -> list[int]:
            return [sample.thinking_tokens if measure == "thinking" else sample.num_tokens for sample in group]

        adherence = budget_adherence(lengths(samples), budget)
        summary.update({"budget": budget, "budget_mode": mode, "budget_measure": measure, **adherence})
        for tier, group in _groups(samples, _tiers(problems)).items():  # by budget and tier, as the whole run
            summary["by_tier"][tier].update(budget_adherence(lengths(group), budget))
        if mode == "prompt":
            summary["budget_template"] = written_template
        write_atomically(run_dir / "summary.json", json.dumps(summary, indent=1) + "\n")
        summaries.append(summary)
    return summaries


def _check_run_options(
    model: str, backend: str, batch_size: int, tensor_parallel_size: int, data_parallel_size: int
) -> str:
    """The backend chosen (`resolve_backend`), once the model and the run's options are checked."""
    backend = resolve_backend(backend)
    if backend == "vllm" and importlib.util.find_spec("vllm") is None:
        raise ImportError(
            "--backend vllm needs vLLM: pip install 'efficient-trl[vllm]' (or use --backend transformers)."
        )
    if backend != "vllm" and (tensor_parallel_size, data_parallel_size) != (1, 1):
        raise ValueError(
            "tensor_parallel_size and data_parallel_size need the vLLM backend (--backend vllm); the transformers "
            "backend runs on one device."
        )
    for name, value in (
        ("batch_size", batch_size), ("tensor_parallel_size", tensor_parallel_size),
        ("data_parallel_size", data_parallel_size),
    ):  # fmt: skip
        if value < 1:
            raise ValueError(f"{name} must be >= 1, got {value}.")
    check_model_reference(model)
    return backend


def write_summary(
    run_dir: str | Path,
    settings: dict[str, Any],
    samples: list[EvaluationSample],
    cutoffs: tuple[int, ...],
    provenance: dict[str, Any] | None,
    levels: list[Any] | None = None,
    tiers: list[Any] | None = None,
) -> dict[str, Any]:
    """Summarize an evaluation run's graded samples into run_dir/summary.json and summary.csv (each written whole,
    then renamed into place) and return the summary: the run's `settings`, `summarize`'s figures, the generation
    cutoff baseline at `cutoffs`, the evaluated model's `provenance` (None: it has none) and, given each problem's
    level, the figures per level (`by_level`, levels in sorted order).

    Given each problem's tier (e.g. the graded task's easy/medium/hard; None: the problem has none), `by_tier` holds
    per tier, in the order the tiers first appear among the problems, what the whole summary holds of the samples
    of that tier's problems: `summarize`'s figures (`accuracy`, `accuracy_stderr`, `mean_tokens`,
    `mean_tokens_stderr`, `truncation_rate`, `num_problems`, ...) and its `cutoff_baseline`. No `by_tier` when no
    problem has a tier."""
    run_dir = Path(run_dir)
    summary = {**settings, **summarize(samples), "cutoff_baseline": cutoff_baseline(samples, cutoffs)}
    if levels is not None:
        summary["by_level"] = {level: summarize(group) for level, group in sorted(_groups(samples, levels).items())}
    by_tier = {
        tier: {**summarize(group), "cutoff_baseline": cutoff_baseline(group, cutoffs)}
        for tier, group in _groups(samples, tiers).items()
    }
    if by_tier:
        summary["by_tier"] = by_tier
    summary["provenance"] = provenance  # how the model was trained, for efficient_trl.analysis
    reason = missing_provenance(settings["model"]) if provenance is None else None
    if reason:  # said, not recorded as untrained in silence
        print(f"warning: {reason}", flush=True)
        summary.update(provenance_missing=True, provenance_missing_reason=reason)
    write_atomically(run_dir / "summary.json", json.dumps(summary, indent=1) + "\n")
    write_atomically(run_dir / "summary.csv", _summary_csv(summary))
    return summary


def resolve_backend(backend: str) -> str:
    """'transformers' or 'vllm' as given; 'auto' is vLLM when it is installed and CUDA is present, else
    transformers. Says which it chose, and why, on standard output."""
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {list(BACKENDS)}, got {backend!r}.")
    if backend != "auto":
        return backend
    has_vllm, has_cuda = importlib.util.find_spec("vllm") is not None, torch.cuda.is_available()
    chosen = "vllm" if has_vllm and has_cuda else "transformers"
    reason = "vLLM is installed and CUDA is present" if chosen == "vllm" else (
        "no CUDA device" if has_vllm else "vLLM is not installed (pip install 'efficient-trl[vllm]')"
    )  # fmt: skip
    print(f"evaluation backend: {chosen} ({reason}; choose with --backend)", flush=True)
    return chosen


def _resumed_samples(run_dir: Path, settings: dict[str, Any]) -> dict[tuple[int, int], EvaluationSample]:
    """The samples a resumed run directory already holds for these settings."""
    samples = _read_samples(run_dir / "samples.jsonl")
    out_of_range = [key for key in samples if key[0] >= settings["num_problems"] or key[1] >= settings["k"]]
    if out_of_range:
        raise ValueError(f"{run_dir / 'samples.jsonl'} holds samples of another run (e.g. {out_of_range[0]}).")
    # Rewrite the file with its whole lines only, so that new samples never follow a torn one.
    write_atomically(run_dir / "samples.jsonl", samples_to_jsonl(samples.values()))
    return samples


def check_model_reference(model: str) -> None:
    """Refuse, before anything is created, a model that is neither a saved model directory nor possibly a hub name.

    A reference that looks local and does not exist is "no such directory": one that starts with ./ ../ / or ~, has
    no slash or more than one, or whose first component is a local directory (`runs/x` when runs/ exists). Any other
    `owner/name` may be a hub name; with HF_HUB_OFFLINE=1 it must then be in the local hub cache, and the error
    names both readings.
    """
    path = Path(model).expanduser()
    if path.exists():
        if not (path / "config.json").is_file() and not (path / "adapter_config.json").is_file():
            raise FileNotFoundError(f"{model} has no config.json: it is not a saved model directory.")
        return
    first = model.split("/")[0]
    looks_local = model.startswith((".", "/", "~")) or model.count("/") != 1 or Path(first).is_dir()
    if looks_local:
        raise FileNotFoundError(
            f"no such directory: {model} (a local path, since {_why_local(model, first)}); check the path, or train "
            "or download the model there first."
        )
    if os.environ.get("HF_HUB_OFFLINE", "").upper() in ("1", "ON", "YES", "TRUE") and not _in_hub_cache(model):
        raise FileNotFoundError(
            f"no such directory: {model}; nor, read as a hub name, is {model} in the local hub cache (HF_HUB_OFFLINE "
            "is set). Check the path, or download the model with the hub reachable first."
        )


def _why_local(model: str, first: str) -> str:
    if model.startswith((".", "/", "~")):
        return f"it starts with {model[0]}"
    if model.count("/") != 1:
        return "a hub name is written owner/name, e.g. deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B"
    return f"{first}/ is a local directory"


def _in_hub_cache(model: str) -> bool:
    from huggingface_hub import try_to_load_from_cache

    try:
        found = [try_to_load_from_cache(model, file) for file in ("config.json", "adapter_config.json")]
    except ValueError:  # not a valid repository id
        return False
    return any(isinstance(path, str) for path in found)


def samples_to_jsonl(samples: Iterable[EvaluationSample]) -> str:
    """One JSON line per sample: the format of every samples file the toolkit writes."""
    return "".join(json.dumps(sample.to_dict()) + "\n" for sample in samples)


def load_samples(run_dir: str | Path) -> list[EvaluationSample]:
    """The graded samples of an evaluation run directory, ordered by problem and sample."""
    samples = _read_samples(Path(run_dir) / "samples.jsonl")
    return [samples[key] for key in sorted(samples)]


def _read_samples(path: Path) -> dict[tuple[int, int], EvaluationSample]:
    samples = {}
    if path.exists():
        for line in path.read_text().splitlines():
            try:
                sample = EvaluationSample(**json.loads(line))
            except (json.JSONDecodeError, TypeError):
                continue  # a line torn by an interruption: that sample is generated again
            samples[(sample.problem_index, sample.sample_index)] = sample
    return samples


def _tiers(problems: Any) -> list[Any] | None:
    """Each problem's tier (its `tier` column), or None when the problems have no such column."""
    return problems["tier"] if "tier" in problems.column_names else None


def _groups(samples: list[EvaluationSample], values: list[Any] | None) -> dict[str, list[EvaluationSample]]:
    """The samples grouped by their problem's value (as text; `values` by problem index), in the order the values
    first appear among the samples; samples of problems whose value is None are in no group."""
    grouped: dict[str, list[EvaluationSample]] = {}
    for sample in samples if values is not None else []:
        if values[sample.problem_index] is not None:
            grouped.setdefault(str(values[sample.problem_index]), []).append(sample)
    return grouped


def _summary_csv(summary: dict[str, Any]) -> str:
    """One row for the full samples, then one per generation cutoff."""
    columns = ["cutoff", "accuracy", "accuracy_stderr", "mean_tokens", "truncation_rate", "num_samples"]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerow({**summary, "cutoff": "none"})
    writer.writerows(summary["cutoff_baseline"])
    return buffer.getvalue()


@dataclass
class GenerationArguments:
    """How prompts are rendered and generated: shared by recipes/evaluate.py and recipes/rejection_sampling.py."""

    backend: str = field(
        default=function_default(evaluate, "backend"),
        metadata={"help": "auto: vLLM if installed and CUDA is present.", "choices": list(BACKENDS)},
    )
    batch_size: int = field(
        default=function_default(evaluate, "batch_size"), metadata={"help": "Prompts per `generate` call."}
    )
    tensor_parallel_size: int = field(
        default=function_default(evaluate, "tensor_parallel_size"), metadata={"help": "GPUs per vLLM engine."}
    )
    data_parallel_size: int = field(
        default=function_default(evaluate, "data_parallel_size"),
        metadata={"help": "vLLM engines, one process each."},
    )
    prompt_template: str | None = field(
        default=function_default(evaluate, "prompt_template"),
        metadata={
            "help": "User turn; {problem} is replaced. None: the dataset's own, the bare problem for a demo task "
            "(sums, multi_sums, graded), the paper's prompt otherwise."
        },
    )


@dataclass
class EvaluationArguments:
    """What recipes/evaluate.py evaluates, and where; parsed beside `SamplingSettings` and `GenerationArguments`."""

    model: str = field(metadata={"help": "Local directory or hub name."})
    dataset: str = field(
        metadata={
            "help": f"{sorted(DEFAULT_K)}, a demo task's held-out problems ({', '.join(TASKS)}), a .jsonl file or a "
            "hub name."
        }
    )
    num_problems: int | None = field(
        default=None,
        metadata={"help": f"Evaluate on the first N problems only (a demo task: {TASK_EVAL_PROBLEMS} by default)."},
    )
    output_dir: str | None = field(
        default=None,
        metadata={
            "help": "Run directory; None: runs/eval/<model>/<dataset>-k<k>-t<temperature>-max<max_new_tokens>, "
            "followed by any other setting that differs from its default (-n<num_problems>, -seed<seed>, "
            "-prompt<hash>, ..., -last_box under that grading)."
        },
    )
    truncated_grading: str = field(
        default=function_default(evaluate, "truncated_grading"),
        metadata={
            "help": "A completion cut at the token limit: 'wrong' (the paper's rule, as in training) or 'last_box' "
            "(graded on its last \\boxed{}, as the authors' evaluation script did).",
            "choices": list(TRUNCATED_GRADING),
        },
    )


@dataclass
class BudgetArguments:
    """recipes/evaluate.py's evaluation by token budget (`evaluate_budgets`): one run per budget when `budgets` is
    given; parsed beside `EvaluationArguments`."""

    budgets: list[int] | None = field(
        default=None, metadata={"help": "Token budgets N, one evaluation run each (e.g. --budgets 40 60 80)."}
    )
    budget_mode: str = field(
        default=function_default(evaluate_budgets, "mode"),
        metadata={
            "help": "prompt: N written into the prompt as in training (budget-trained models); force: budget forcing "
            "of the thinking, for any model.",
            "choices": list(BUDGET_MODES),
        },
    )
    budget_measure: str = field(
        default=function_default(evaluate_budgets, "measure"),
        metadata={
            "help": "What L counts: every completion token, or the thinking (the tokens before </think>).",
            "choices": list(BUDGET_MEASURES),
        },
    )
    budget_template: str = field(
        default=function_default(evaluate_budgets, "template"),
        metadata={
            "help": "Prompt mode: 'exact', 'max' or a template of your own with {budget} (and {prompt} to place the "
            "user's text; without it the sentence follows the text), as the model was trained with."
        },
    )
