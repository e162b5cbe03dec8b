"""Math problem sets in the shape the trainers read (`prompt`, `answer`), offline from the package or from the hub.

Shipped sets (see `efficient_trl/data/README.md` for sources and licenses) are addressed by short names; anything
else is a `save_to_disk` directory, a JSON/JSONL file, or a hub dataset name loaded with `datasets.load_dataset`.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import re
import threading
import warnings
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from datasets import Dataset, concatenate_datasets, load_dataset, load_from_disk

from .cli import function_default
from .math_grader import gold_answer, parse_boxed, plain_number
from .rundir import check_new_output_dir
from .synthetic import TASKS

__all__ = [
    "AUTHORS_TRAINING_SET",
    "LOCAL_DATASETS",
    "OFFLINE_SOURCES",
    "PAPER_PROMPT",
    "PLACEHOLDER_ANSWERS",
    "PREPARED_TRAINING_SET",
    "TASK_EVAL_PROBLEMS",
    "TASK_EVAL_SEED",
    "TASK_PROMPT",
    "FIGURE_PATTERNS",
    "PreparationArguments",
    "PreparationReport",
    "check_gold_answers",
    "default_num_proc",
    "figure_reference",
    "load_problems",
    "numeric_answer",
    "prepare_training_set",
    "prompt_template_for",
    "task_held_out_problems",
    "to_prompts",
    "to_raw_prompts",
    "unreadable_answer",
]

DATA_DIR = Path(__file__).resolve().parent / "data"

# The paper's prompt (its Appendix C), placed inside the model's chat template as the user turn.
PAPER_PROMPT = "Please reason step by step, and put your final answer within \\boxed{{}}. Question: {problem}"

# The authors' published training split (Numina's MATH, cn_k12, AIME, AoPS and olympiad problems whose answers
# parse easily): a `save_to_disk` directory on the hub with columns problem, solution, year, extracted (the answer).
AUTHORS_TRAINING_SET = "daman1209arora/compression_dataset"

# short name -> file in efficient_trl/data (sources and licenses in its README)
LOCAL_DATASETS = {
    "math_train": "math_train.jsonl",
    "aime_1983_2023": "aime_1983_2023_paper_train.jsonl",
    "gsm8k": "gsm8k_test.jsonl",
    "math500": "math500_test.jsonl",
    "aime24": "aime24_test.jsonl",
}
# What recipes/prepare_data.py draws from offline (stand-ins for the paper's Numina subsets), and where it writes
OFFLINE_SOURCES = ("math_train", "aime_1983_2023")
PREPARED_TRAINING_SET = "data/train-3.2k"

# The demo tasks (`efficient_trl.synthetic.TASKS`: sums, multi_sums, graded) as evaluation datasets: a task's name
# stands for the held-out problems every experiment evaluates its models on (seeded; the first TASK_EVAL_PROBLEMS by
# default, as the demo), whose user turn is the bare problem, as the demo models were trained on.
TASK_PROMPT = "{problem}"
TASK_EVAL_SEED = 3
TASK_EVAL_PROBLEMS = 1000


def task_held_out_problems(task: str, num_problems: int = TASK_EVAL_PROBLEMS) -> Dataset:
    """The first `num_problems` held-out problems of demo task `task` (`prompt`, `problem`, `answer` and, for
    graded, `tier` columns): the one source of every evaluation on a demo task, the experiments' and
    `recipes/evaluate.py --dataset <task>`'s."""
    if task not in TASKS:
        raise ValueError(f"task must be one of {list(TASKS)}, got {task!r}.")
    return TASKS[task](num_problems, seed=TASK_EVAL_SEED, split="held_out")


def prompt_template_for(dataset: str, template: str | None = None) -> str:
    """`template` if given, else `dataset`'s own prompt: the bare problem for a demo task (`TASK_PROMPT`), the
    paper's prompt (`PAPER_PROMPT`) for anything else."""
    if template is not None:
        return template
    return TASK_PROMPT if dataset in TASKS else PAPER_PROMPT


def load_problems(name: str, split: str = "train") -> Dataset:
    """A problem set with `problem` and `answer` columns (plus its own), by short name, path or hub name.

    The gold `answer` is the dataset's `answer` column (GSM8K's `#### 18` cut to `18`), else the last box of its
    `solution` column; `problem` comes from a `problem` or `question` column.
    """
    if name in LOCAL_DATASETS:
        dataset = load_dataset("json", data_files=str(DATA_DIR / LOCAL_DATASETS[name]), split="train")
    elif Path(name).is_dir():
        dataset = load_from_disk(name)
        dataset = dataset[split] if hasattr(dataset, "keys") else dataset
    elif Path(name).is_file():
        try:
            dataset = load_dataset("json", data_files=name, split="train")
        except StopIteration:  # how `datasets` reports a file without rows
            raise ValueError(f"dataset {name!r} has no problems: the file holds no rows.") from None
    elif name == AUTHORS_TRAINING_SET:
        dataset = load_from_disk(_download_authors_training_set())
    elif "/" in name:
        try:
            dataset = load_dataset(name, split=split)
        except Exception as error:  # the hub's message ("couldn't reach ...") hides that a local path is missing
            raise FileNotFoundError(
                f"dataset {name!r} is neither a local directory or file nor a hub dataset that could be loaded. "
                f"If it is the training set, prepare it first: python recipes/prepare_data.py --output_dir {name} "
                f"(the hub said: {error})"
            ) from error
    else:
        raise ValueError(
            f"unknown dataset {name!r}: use one of the shipped sets {sorted(LOCAL_DATASETS)}, a save_to_disk "
            "directory, a .json/.jsonl file, or a hub name such as 'AI-MO/NuminaMath-CoT'."
        )
    return _with_problem_and_answer(dataset, name)


def _with_problem_and_answer(dataset: Dataset, name: str) -> Dataset:
    columns = set(dataset.column_names)
    problem_column = next((c for c in ("problem", "question") if c in columns), None)
    if problem_column is None:
        raise ValueError(f"dataset {name!r} has no 'problem' or 'question' column (columns: {sorted(columns)}).")
    if not {"answer", "extracted", "solution"} & columns:
        raise ValueError(
            f"dataset {name!r} has no 'answer' or 'solution' column (nor the authors' 'extracted') to take the gold "
            f"answer from (columns: {sorted(columns)})."
        )
    if problem_column != "problem":
        dataset = dataset.rename_column(problem_column, "problem")
    if "answer" not in columns and "extracted" in columns:  # the authors' set: `extracted` is the solution's answer
        dataset = dataset.rename_column("extracted", "answer")

    def add_answer(row: dict) -> dict:
        if row.get("answer") is not None:
            return {"answer": gold_answer(row["answer"])}
        solution = row.get("solution") or ""
        try:
            return {"answer": gold_answer(None, solution)}
        except ValueError:
            return {"answer": ""}  # no box: kept visible (and dropped by `prepare_training_set` with a reason)

    return dataset.map(add_answer, desc="gold answers")


def check_gold_answers(dataset: Dataset, name: str, warn_share: float = 0.1) -> None:
    """Refuse a problem set with no problems or no gold answer a correct completion could match (every reward would
    be 0), and warn when more than `warn_share` of its answers are unreadable (`unreadable_answer`); the message
    counts them and names the first rows (index and answer, with the reason)."""
    if len(dataset) == 0:
        raise ValueError(f"dataset {name!r} has no problems; check its path, split and num_problems.")
    answers = dataset["answer"]
    empty = [index for index, answer in enumerate(answers) if not answer.strip()]
    reasons = {index: unreadable_answer(answer) for index, answer in enumerate(answers) if answer.strip()}
    unparseable = {index: reason for index, reason in reasons.items() if reason}
    unreadable = len(empty) + len(unparseable)
    if not unreadable:
        return
    named = [f"row {index} {answers[index][:60]!r} ({reason})" for index, reason in list(unparseable.items())[:5]]
    named += [f"row {index} (empty)" for index in empty[: max(0, 5 - len(named))]]
    more = f" and {unreadable - len(named)} more" if unreadable > len(named) else ""
    counts = (
        f"{unreadable} of its {len(answers)} gold answers cannot be read ({len(empty)} empty, {len(unparseable)} "
        f"that math-verify cannot read as an answer a completion could match; {', '.join(named)}{more})"
    )
    if unreadable == len(answers):
        raise ValueError(
            f"dataset {name!r}: {counts}, so every completion would score 0. Give it an 'answer' column (or a "
            "'solution' column whose last \\boxed{} holds the answer)."
        )
    if unreadable > warn_share * len(answers):
        warnings.warn(f"dataset {name!r}: {counts}; those problems always score 0.", UserWarning, stacklevel=2)


# Gold answers that stand for no answer; compared lower-cased, without surrounding spaces and a final period
PLACEHOLDER_ANSWERS = frozenset(
    {"n/a", "na", "none", "null", "nil", "nan", "todo", "tbd", "tba", "fixme", "xxx", "unknown", "see figure"}
)
# A text answer written as LaTeX text (\text{Evelyn}, \text{(C)}, \mbox{odd}), and LaTeX environments' names
_LATEX_TEXT = re.compile(r"\\(?:text[a-z]*|mbox|mathrm|operatorname)\s*\{([^{}]*)\}")
_ENVIRONMENT = re.compile(r"\\(?:begin|end)\s*\{[a-z]*\*?\}")
# Prose: a word of three or more letters, lower case after its first, that is no LaTeX command ("see", "None",
# "accepted"; not "xy", "CD", "LQSX", "\sqrt")
_PROSE = re.compile(r"(?<![\\A-Za-z])[A-Za-z][a-z]{2,}")
# Function names and words that math answers write bare
_MATH_WORDS = frozenset(
    {"sin", "cos", "tan", "cot", "sec", "csc", "arcsin", "arccos", "arctan", "sinh", "cosh", "tanh", "log", "exp"}
    | {"sqrt", "max", "min", "gcd", "lcm", "mod", "det", "deg", "inf", "infty", "and"}
)


def unreadable_answer(answer: str) -> str | None:
    """Why `answer` cannot be a gold answer that a correct completion could match, or None when it can: a number, an
    expression, an equation, an interval, a set or tuple, a matrix, a choice letter, LaTeX with balanced braces, text
    written as LaTeX text (`\\text{...}`). math-verify reads almost any text as symbols ("N/A" as N/A, "none" as
    n*o*n*e), so placeholders, prose and broken LaTeX are caught here before it parses the rest."""
    if plain_number(answer) is not None:
        return None  # the common case, without parsing LaTeX
    stripped = answer.strip()
    texts = [stripped, *_LATEX_TEXT.findall(stripped)]
    if any(text.strip().rstrip(".").strip().lower() in PLACEHOLDER_ANSWERS for text in texts):
        return "a placeholder, not an answer"
    depth = 0
    for brace in re.findall(r"\\[{}]|[{}]", stripped):  # escaped braces, \{1, 2\}, are a set's, not LaTeX's
        depth += {"{": 1, "}": -1}.get(brace, 0)
        if depth < 0:
            break
    if depth:
        return "unbalanced braces"
    math = _ENVIRONMENT.sub(" ", _LATEX_TEXT.sub(" ", stripped))
    prose = [word for word in _PROSE.findall(math) if word.lower() not in _MATH_WORDS]
    if prose:
        return f"reads as words ({' '.join(prose[:3])}), not math; a text answer is written \\text{{...}}"
    if len(texts) == 1 and not re.search(r"[0-9A-Za-z\\]", math):
        return "holds no number, letter or LaTeX command"
    # math-verify's own timeout needs the main thread; elsewhere parse without one
    timeout = 5 if threading.current_thread() is threading.main_thread() else None
    try:
        parsed = parse_boxed(stripped, parsing_timeout=timeout)
    except Exception:
        parsed = []
    return None if parsed else "math-verify cannot parse it"


def to_prompts(dataset: Dataset, template: str = PAPER_PROMPT) -> Dataset:
    """Add a conversational `prompt` column (one user turn) that TRL renders with the model's chat template."""
    if "{problem}" not in template:
        raise ValueError(f"the prompt template must contain '{{problem}}', got {template!r}.")
    return dataset.map(
        lambda row: {"prompt": [{"role": "user", "content": template.format(problem=row["problem"])}]},
        desc="prompts",
    )


# What an R1-distill chat template writes after `<｜Assistant｜>` to open the thinking (its generation prompt prefill)
THINK_PREFILLS = ("<think>\n", "<think>")


def to_raw_prompts(dataset: Dataset, tokenizer: Any, chat_template_kwargs: dict[str, Any] | None = None) -> Dataset:
    """The authors' training prompts: each conversational `prompt` rendered once, here, by `tokenizer`'s chat template
    with its generation prompt (and `chat_template_kwargs`, as TRL passes the config's), as plain text without the
    `<think>` prefill that an R1-distill template adds.

    For DeepSeek-R1-Distill that is the authors' OpenRLHF `input_template`, `<｜begin▁of▁sentence｜><｜User｜>{user
    turn}<｜Assistant｜>`, where TRL's chat rendering ends with `<｜Assistant｜><think>\n`: the model chooses to open
    its thoughts itself. A leading BOS is left out of the text where the tokenizer adds one when it tokenizes text
    (TRL tokenizes a string prompt with special tokens, as does vLLM), so that the prompt's ids hold BOS once. A
    template without a prefill renders as it would in chat. Budget sentences (`budgets.with_budgets`) go in before:
    they are written into the user turn.
    """
    bos, bos_id = tokenizer.bos_token, tokenizer.bos_token_id
    adds_bos = bos_id is not None and tokenizer("a")["input_ids"][:1] == [bos_id]

    def render(row: dict) -> dict:
        if isinstance(row["prompt"], str):
            raise ValueError(f"prompt {row['prompt'][:60]!r} is already text: to_raw_prompts renders chat turns.")
        text = tokenizer.apply_chat_template(
            row["prompt"], tokenize=False, add_generation_prompt=True, **(chat_template_kwargs or {})
        )
        prefill = next((prefill for prefill in THINK_PREFILLS if text.endswith(prefill)), "")
        text = text[: len(text) - len(prefill)]
        return {"prompt": text[len(bos) :] if adds_bos and text.startswith(bos) else text}

    return dataset.map(render, desc="raw prompts")


def numeric_answer(answer: str) -> bool:
    """Whether math-verify reads `answer` as a single number (integer, decimal or fraction)."""
    import sympy

    if not answer.strip():
        return False
    parsed = parse_boxed(answer, parsing_timeout=5)  # signals: called in a main thread (a datasets worker's, or ours)
    return bool(parsed) and isinstance(parsed[0], sympy.Number)


# Problems a text-only model cannot solve as given: the figure is Asymptote code, an image file, or not there at all.
# (drop reason, pattern); the phrases are the ones that name a figure the problem relies on, so that "a figure is
# created by connecting A to B" or "figure out" stay in.
FIGURE_PATTERNS = (
    ("figure in Asymptote code ([asy])", re.compile(r"\[asy\]", re.IGNORECASE)),
    ("figure as an image file", re.compile(r"\.(?:png|jpe?g|gif|svg)\b", re.IGNORECASE)),
    (
        "refers to a figure it does not include",
        re.compile(
            r"\b(?:in|on|from|see|by) the (?:\w+ )?(?:figure|diagram)s?\b"  # as shown in the (first) figure
            r"|\((?:see )?(?:figure|diagram)\.?\)"  # (See figure.)
            r"|\bthe (?:figure|diagram)s? (?:below|above|shown|indicates?)\b"  # the diagram indicates ...
            r"|\bgraph\b[^.]*\bshown\b|\bshown\b[^.]*\bgraph\b",  # the graph of f is shown in red below
            re.IGNORECASE,
        ),
    ),
)
MAX_DEFAULT_PROCESSES = 8  # math-verify parsing scales to a few processes; more mostly costs start-up time


def figure_reference(problem: str) -> str | None:
    """Why `problem` needs a figure that a text-only model cannot see (a `FIGURE_PATTERNS` reason), else None."""
    return next((reason for reason, pattern in FIGURE_PATTERNS if pattern.search(problem)), None)


def default_num_proc() -> int:
    """Processes for data preparation: the machine's cores, at most `MAX_DEFAULT_PROCESSES`."""
    return max(1, min(os.cpu_count() or 1, MAX_DEFAULT_PROCESSES))


def _checks(problem: str, answer: str) -> dict:
    """Per-problem checks, computed in parallel; the order-dependent ones (duplicates) are decided afterwards."""
    has_answer = bool(answer.strip())
    return {
        "key": hashlib.sha1(" ".join(problem.split()).encode()).hexdigest(),
        "has_answer": has_answer,
        "figure": figure_reference(problem) or "",
        # math-verify's timeout uses signals: each datasets worker process runs this in its own main thread
        "numeric": has_answer and numeric_answer(answer),
    }


@dataclass
class PreparationReport:
    """What `prepare_training_set` kept and dropped, per source and reason."""

    kept: Counter = field(default_factory=Counter)
    dropped: dict[str, Counter] = field(default_factory=dict)
    pool: int = 0
    sampled: int = 0

    def drop(self, source: str, reason: str) -> None:
        self.dropped.setdefault(source, Counter())[reason] += 1

    def to_dict(self) -> dict:
        return {
            "kept_by_source": dict(self.kept),
            "dropped_by_source_and_reason": {s: dict(c) for s, c in self.dropped.items()},
            "eligible": self.pool,
            "sampled": self.sampled,
        }

    def table(self) -> str:
        lines = [f"{'source':<20} {'eligible':>9}  dropped (reason: count)"]
        for source in sorted({*self.kept, *self.dropped}):
            reasons = ", ".join(f"{r}: {n}" for r, n in sorted(self.dropped.get(source, Counter()).items()))
            lines.append(f"{source:<20} {self.kept[source]:>9}  {reasons or '-'}")
        lines.append(f"sampled {self.sampled} of {self.pool} eligible problems")
        return "\n".join(lines)


def prepare_training_set(
    sources: list[str],
    num_samples: int = 3200,
    seed: int = 0,
    num_proc: int | None = None,
) -> tuple[Dataset, PreparationReport]:
    """The paper's training prompts: problems with a numeric gold answer and no figure, deduplicated, a
    deterministic sample.

    Returns the sample (columns `problem`, `answer`, `source`) and a report of what was dropped and why. Asking for
    more problems than are eligible is an error, not a silently smaller set. The checks run in `num_proc` processes
    (default `default_num_proc()`), with a progress bar per source; the result does not depend on `num_proc`.
    """
    if num_samples < 1:
        raise ValueError(f"num_samples must be >= 1, got {num_samples}.")
    num_proc = default_num_proc() if num_proc is None else num_proc
    if num_proc < 1:
        raise ValueError(f"num_proc must be >= 1, got {num_proc}.")
    report = PreparationReport()
    seen: set[str] = set()
    pools = []
    for source in sources:
        dataset = load_problems(source)
        processes = min(num_proc, len(dataset))
        checks = dataset.map(
            _checks,
            input_columns=["problem", "answer"],
            remove_columns=dataset.column_names,
            num_proc=processes if processes > 1 else None,
            desc=f"checking {source}",
        )
        keep = []
        for index, row in enumerate(checks):
            if not row["has_answer"]:
                report.drop(source, "no gold answer")
            elif row["figure"]:
                report.drop(source, row["figure"])
            elif row["key"] in seen:
                report.drop(source, "duplicate problem")
            elif not row["numeric"]:
                report.drop(source, "answer not a number")
            else:
                seen.add(row["key"])
                keep.append(index)
        report.kept[source] = len(keep)
        pools.append(
            dataset.select(keep).select_columns(["problem", "answer"]).add_column("source", [source] * len(keep))
        )
    pool = concatenate_datasets(pools)
    report.pool = len(pool)
    if num_samples > len(pool):
        raise ValueError(
            f"asked for {num_samples} problems but only {len(pool)} are eligible in {sources}; lower num_samples "
            "or add sources."
        )
    order = list(range(len(pool)))
    random.Random(seed).shuffle(order)
    sample = pool.select(sorted(order[:num_samples]))
    report.sampled = len(sample)
    return sample, report


def save_prepared(sample: Dataset, report: PreparationReport, output_dir: str | Path) -> Path:
    """Save a prepared set with `save_to_disk`, beside its report; refuse to overwrite an earlier one."""
    output_dir = check_new_output_dir(output_dir)
    sample.save_to_disk(str(output_dir))
    (output_dir / "preparation_report.json").write_text(json.dumps(report.to_dict(), indent=2) + "\n")
    return output_dir


def _download_authors_training_set() -> str:
    """Download the authors' split (needs hub access); `load_dataset` cannot read it, as it is a `save_to_disk`
    directory, so it is fetched whole, as the authors' README does, and read with `load_from_disk`."""
    from huggingface_hub import snapshot_download

    return snapshot_download(AUTHORS_TRAINING_SET, repo_type="dataset")


@dataclass
class PreparationArguments:
    """What recipes/prepare_data.py prepares (`prepare_training_set`), and where it saves it."""

    output_dir: str = field(metadata={"help": f"Directory to save the set in (e.g. {PREPARED_TRAINING_SET})."})
    sources: list[str] = field(
        default_factory=lambda: list(OFFLINE_SOURCES),
        metadata={"help": "Problem sets to draw from: shipped names, .jsonl files or hub names."},
    )
    authors_split: bool = field(
        default=False,
        metadata={
            "help": f"Draw from the authors' published training split ({AUTHORS_TRAINING_SET}, hub) instead of "
            "--sources."
        },
    )
    num_samples: int = field(
        default=function_default(prepare_training_set, "num_samples"), metadata={"help": "Problems to sample."}
    )
    seed: int = field(default=function_default(prepare_training_set, "seed"), metadata={"help": "Sampling seed."})
    num_proc: int | None = field(
        default=function_default(prepare_training_set, "num_proc"),
        metadata={"help": f"Processes for the checks; None: the cores, at most {MAX_DEFAULT_PROCESSES}."},
    )

    def __post_init__(self) -> None:
        if self.authors_split and list(self.sources) != list(OFFLINE_SOURCES):
            raise ValueError(
                f"--authors_split draws from {AUTHORS_TRAINING_SET} only, so --sources {' '.join(self.sources)} "
                "would be ignored: give one of the two."
            )

    def chosen_sources(self) -> list[str]:
        """The sources to prepare from: the authors' split with --authors_split, else --sources."""
        return [AUTHORS_TRAINING_SET] if self.authors_split else list(self.sources)
