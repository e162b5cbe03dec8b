"""Evaluation: sample k completions per problem, grade them, and report average pass@k beside the tokens spent.

Average pass@k as the paper defines it: k samples per problem at temperature 0.6, the mean correctness of a
problem's samples, averaged over problems. A completion that hits the token limit without EOS counts as wrong, as in
training. The samples come from `efficient_trl.sampling` (transformers `generate` or vLLM, one `SamplingSettings`);
this module grades them and keeps the run directory: settings.json, samples.jsonl (resumable), summary.json.
"""

from __future__ import annotations

import csv
import importlib.util
import io
import json
import math
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import torch

from .budgets import BUDGET_MEASURES, BUDGET_MODES, budget_adherence, budget_template, with_budgets
from .cli import function_default
from .data import LOCAL_DATASETS, PAPER_PROMPT, check_gold_answers, load_problems, to_prompts
from .math_grader import MathAccuracyReward, final_answer, math_accuracy_reward
from .provenance import missing_provenance, model_fingerprint, read_provenance
from .rundir import held_run_dir, write_atomically
from .sampling import DEFAULT_K, EvaluationSample, SamplingSettings, check_prompts, generate_samples
from .sampling import prompt_token_ids as prompt_token_ids  # importable from here as before; home: sampling.py
from .sampling import render_prompt as render_prompt  # likewise
from .sampling_vllm import generate_samples_vllm

__all__ = [
    "EvaluationArguments",
    "GenerationArguments",
    "check_model_reference",
    "cutoff_baseline",
    "evaluate",
    "evaluate_budgets",
    "evaluate_problems_by_budget",
    "evaluate_problems",
    "grade_samples",
    "load_samples",
    "resolve_backend",
    "resolve_problems",
    "samples_to_jsonl",
    "summarize",
    "write_summary",
]

# The paper's generation-cutoff baseline: completions cut at 8k, 16k, 20k, 24k and 32k tokens.
DEFAULT_CUTOFFS = (8000, 16000, 20000, 24000, 32000)
BACKENDS = ("auto", "transformers", "vllm")


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
    prompt_template: str = PAPER_PROMPT,
    backend: str = "auto",
    batch_size: int = 64,
    tensor_parallel_size: int = 1,
    data_parallel_size: int = 1,
    cutoffs: tuple[int, ...] = DEFAULT_CUTOFFS,
) -> dict[str, Any]:
    """Evaluate `model` on `dataset` into the run directory `output_dir`, resuming it if it was interrupted:
    `resolve_problems`, then `evaluate_problems` (see both). `sampling` defaults to the paper's (`SamplingSettings`:
    temperature 0.6, 32,768 tokens, k = GSM8K 1, MATH500 3, AIME 2024 10)."""
    sampling = (sampling or SamplingSettings()).for_dataset(dataset)
    # The run's options first (cheap), then the dataset: everything is checked before the run directory exists.
    backend = _check_run_options(model, backend, batch_size, tensor_parallel_size, data_parallel_size)
    problems = resolve_problems(dataset, split=split, num_problems=num_problems, prompt_template=prompt_template)
    return evaluate_problems(
        model, problems, output_dir, sampling, dataset=dataset, prompt_template=prompt_template, backend=backend,
        batch_size=batch_size, tensor_parallel_size=tensor_parallel_size, data_parallel_size=data_parallel_size,
        cutoffs=cutoffs,
    )  # fmt: skip


def resolve_problems(
    dataset: str, *, split: str = "test", num_problems: int | None = None, prompt_template: str = PAPER_PROMPT
) -> Any:
    """The problems of `dataset` as `evaluate_problems` takes them: a `Dataset` with a `prompt` (the user turn,
    `prompt_template` with '{problem}' replaced; default: the paper's) and a checked gold `answer` column.

    `dataset` is a shipped test set (`DEFAULT_K`), a local file or directory, or a hub name (its `split`);
    `num_problems` keeps the first N.
    """
    if dataset not in LOCAL_DATASETS and not Path(dataset).exists() and "/" not in dataset:
        raise ValueError(
            f"unknown dataset {dataset!r}: the shipped test sets are {sorted(DEFAULT_K)}; a local file or a hub "
            "name (owner/name) also works."
        )
    problems = load_problems(dataset, split=split)
    if num_problems is not None:
        problems = problems.select(range(min(num_problems, len(problems))))
    check_gold_answers(problems, dataset)
    return to_prompts(problems, prompt_template)


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
) -> dict[str, Any]:
    """Sample, grade and summarize `model` (a local directory or hub name) on `problems` (`prompt` and gold `answer`
    columns, e.g. from `resolve_problems`) into the run directory `output_dir`, resuming it if it was interrupted.

    `dataset` and `prompt_template` name where the problems came from, for the run's settings; `name`, if given, is
    the model's name in results (`analysis.load_results`; default: its directory's, as `analysis.result_name` says).
    `backend` is
    "transformers" (`generate`, runs anywhere), "vllm" (batched, the normal choice on GPUs) or "auto" (vLLM when it
    is installed and CUDA is present, else transformers; `resolve_backend`); vLLM runs `data_parallel_size` engines
    of `tensor_parallel_size` GPUs each, so a node's GPUs all work; the transformers backend runs on `device`
    (default: CUDA when present, else the CPU). `sampling.k` unset is the paper's for
    `dataset` (`SamplingSettings.for_dataset`). `load_samples(output_dir)` reads the graded samples back.

    Writes `settings.json`, `samples.jsonl` (one graded sample per line, appended batch by batch), and at the end
    `summary.json` and `summary.csv` (written whole, then renamed into place). A directory that holds a run with
    other settings is refused, never overwritten.
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer

    sampling = sampling.for_dataset(dataset)
    # Everything checked before the run directory is created, so that a corrected command is never refused.
    backend = _check_run_options(model, backend, batch_size, tensor_parallel_size, data_parallel_size)
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
    }  # fmt: skip
    samples_path = run_dir / "samples.jsonl"
    # one process at a time (two would generate every sample twice); other settings are refused
    with held_run_dir(
        run_dir, settings, has_results=lambda path: bool(_read_samples(path / "samples.jsonl"))
    ) as resumed:
        done = _resumed_samples(run_dir, settings) if resumed else {}
        golds = problems["answer"]

        def record(batch: list[EvaluationSample]) -> None:
            grade_samples(batch, golds)
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
    prompt_template: str = PAPER_PROMPT,
    **run_options: Any,
) -> list[dict[str, Any]]:
    """Evaluate `model` once per token budget on `dataset` (`resolve_problems`), each in its run directory
    `output_dir/budget-<N>` (resumable as `evaluate_problems`'s); returns the summaries, which also hold `budget`,
    `budget_mode`, `budget_measure` and the `budgets.budget_adherence` metrics (`evaluate_problems_by_budget`).
    """
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
    """Refuse a model that is neither a saved model directory nor possibly a hub name (owner/name)."""
    path = Path(model).expanduser()
    if path.exists():
        if not (path / "config.json").is_file() and not (path / "adapter_config.json").is_file():
            raise FileNotFoundError(f"{model} has no config.json: it is not a saved model directory.")
        return
    looks_local = model.startswith((".", "/", "~")) or model.count("/") != 1
    if looks_local:
        raise FileNotFoundError(
            f"model {model!r} is neither a local directory nor a hub name: check the path (a hub name is written "
            "owner/name, e.g. deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B)."
        )


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
    prompt_template: str = field(
        default=function_default(evaluate, "prompt_template"),
        metadata={"help": "User turn; {problem} is replaced."},
    )


@dataclass
class EvaluationArguments:
    """What recipes/evaluate.py evaluates, and where; parsed beside `SamplingSettings` and `GenerationArguments`."""

    model: str = field(metadata={"help": "Local directory or hub name."})
    dataset: str = field(metadata={"help": f"{sorted(DEFAULT_K)}, a .jsonl file or a hub name."})
    num_problems: int | None = field(default=None, metadata={"help": "Evaluate on the first N problems only."})
    output_dir: str | None = field(
        default=None,
        metadata={"help": "Run directory; None: runs/eval/<model>/<dataset>-k<k>-t<temperature>-max<max_new_tokens>."},
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
