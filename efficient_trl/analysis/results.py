"""Result rows and training logs, read back from what the toolkit writes.

Results are evaluation run directories (`load_results`): one `summary.json` each, written by
`efficient_trl.evaluation.evaluate` (e.g. `runs/eval/<model>/<dataset>-k3-t0.6-max32768/`) or by the demo
(`<run_dir>/eval/<model>/`). Training logs are TRL's `trainer_state.json` (`load_training_log`). Every row is a dict
with at least `name`, `dataset`, `family`, `accuracy`, `accuracy_stderr`, `mean_tokens` and `no_think_rate` (the
share of answers given without thinking, `thinking.without_thinking`; None in summaries written before efficient-trl
recorded it, and `by_mode` beside it: accuracy and tokens per mode, see `evaluation.summarize`); an evaluation of
problems with tiers (the graded task's easy/medium/hard) also has `by_tier`, the same figures per tier, which
`tier_rows` turns into rows of their own.

How a model was trained comes from its provenance (`efficient_trl.provenance`, copied into `summary.json`), never
from a directory name: `family` is "alpha" (the method, trainer grpo/rloo; `alpha`, `advantage_normalization`,
`length_reward` and `lora` say how), "sft" or "dpo" (the baselines; one on prompts with token budgets is a
"model"), "cutoff" (the generation cutoff), "start" (the model the others were trained from, the root of a chain of
trainings, or the one named `start=`), the name of another length reward of `efficient_trl.LENGTH_REWARDS`
("kimi", "alp", ...: an RL model trained with it, its parameters in `length_reward`) or "model" (anything else, e.g.
a model without provenance).
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ..length_rewards import LENGTH_REWARDS
from ..provenance import BUDGET_DATA, PROVENANCE_FILE, RL_TRAINERS, read_provenance, result_name
from ..rewards import ADVANTAGE_NORMALIZATIONS

__all__ = [
    "FAMILIES",
    "REWARD_FAMILIES",
    "TrainingLog",
    "load_budget_results",
    "load_results",
    "load_training_log",
    "load_training_logs",
    "pareto_frontier",
    "provenance_fields",
    "select",
    "tier_rows",
    "tradeoff_rows",
]

REQUIRED_FIELDS = ("name", "dataset", "accuracy", "accuracy_stderr", "mean_tokens")
# The families of models trained with a length reward other than the paper's sigmoid (which is "alpha"): its name
REWARD_FAMILIES = tuple(name for name in LENGTH_REWARDS if name != "sigmoid")
# What kind of model a row is (see the module docstring), in the order rows come in
FAMILIES = ("start", "model", "alpha", *REWARD_FAMILIES, "cutoff", "sft", "dpo")
# The fields `provenance_fields` gives a row, with their values for a model without provenance (untrained)
UNTRAINED_FIELDS = {
    "family": "model",
    "trainer": None,
    "alpha": None,
    "advantage_normalization": None,
    "length_reward": None,
    "lora": False,
}


def load_results(path: str | Path, cutoff_model: str | None = None, start: str | None = None) -> list[dict[str, Any]]:
    """Result rows of every evaluation run directory (with a `summary.json`) under `path`: a tree of evaluation runs
    or a demo run directory.

    Evaluation rows are named after the evaluated model's directory (`<parent>/checkpoint-N` for a checkpoint; the
    demo records its own names: start, alpha=0.2, ...) and their `dataset` is the dataset's short name (gsm8k,
    math500, aime24, or a file's stem). How each model was trained comes from its provenance (see the module
    docstring); `start` names the starting model when no other row records it as its base model. `cutoff_model`
    names the model (usually the starting one) whose samples also give the generation-cutoff baseline rows. Rows come
    in a fixed order: start, other models, alpha models (by normalization, then alpha), other length rewards' models,
    cutoffs, SFT, DPO.
    """
    path = Path(path)
    if (path / "eval").is_dir() and (path / "settings.json").is_file():
        # a demo run directory: its models' evaluations are under eval/ (rejection_sampling/ is the baselines' data)
        path = path / "eval"
    summaries = sorted(path.rglob("summary.json"))
    if not summaries and (path / "results.json").is_file():
        raise ValueError(
            f"{path} is a demo run in the old layout (results.json, models known only by their names), which this "
            "version no longer reads: rerun it with `efficient-trl demo` (recipes/demo.py) and the same settings."
        )
    if not summaries:
        raise FileNotFoundError(
            f"no results under {path}: expected evaluation run directories (with summary.json, from "
            "recipes/evaluate.py) or a demo run directory (from efficient-trl demo)."
        )
    loaded = [(json.loads(summary.read_text()), summary.parent) for summary in summaries]
    unrecorded = [str(run_dir) for summary, run_dir in loaded if "provenance" not in summary]
    if unrecorded:
        warnings.warn(
            f"{len(unrecorded)} evaluation(s) under {path} were written before efficient-trl recorded provenance "
            f"({', '.join(unrecorded)}): their models are taken as untrained ('model', or 'start' for the starting "
            "model), whatever their names say. Rerun recipes/evaluate.py with the same command for each: it resumes "
            "from the samples and records the provenance.json of the model's directory (a model trained before "
            "efficient-trl wrote one stays untrained).",
            stacklevel=2,
        )
    rows = [_evaluation_row(summary, run_dir) for summary, run_dir in loaded]
    _check_rows(rows, path)
    seen: dict[tuple[Any, ...], str] = {}
    for row in rows:  # evaluations by budget (evaluate_budgets) are one per budget and mode
        earlier = seen.setdefault(
            (row["name"], row["dataset"], row.get("budget_mode"), row.get("budget")), row["run_dir"]
        )
        if earlier != row["run_dir"]:
            raise ValueError(
                f"two evaluations of {row['name']!r} on {row['dataset']!r} under {path}: {earlier} and "
                f"{row['run_dir']}; point at a directory that holds one of them."
            )
    started = {samples.parent for samples in path.rglob("samples.jsonl")}
    unfinished = sorted(str(run) for run in started if not (run / "summary.json").exists())
    if unfinished:
        warnings.warn(
            f"left out unfinished evaluations (no summary.json yet): {unfinished}; rerun their recipes/evaluate.py "
            "command to finish them.",
            stacklevel=2,
        )
    _mark_start(rows, start)
    if cutoff_model is not None:
        sources = [row for row in rows if row["name"] == cutoff_model]
        if not sources:
            raise ValueError(f"no model named {cutoff_model!r} under {path} (models: {_distinct(rows)}).")
        for source in sources:
            for cutoff in source["cutoff_baseline"]:
                # per tier, the cutoff's figures on that tier's samples (what the source's `by_tier` recorded)
                by_tier = {
                    tier: at_cutoff
                    for tier, figures in (source.get("by_tier") or {}).items()
                    for at_cutoff in figures.get("cutoff_baseline", [])
                    if at_cutoff["cutoff"] == cutoff["cutoff"]
                }
                rows.append(
                    {"no_think_rate": None, **cutoff, "name": f"cutoff={cutoff['cutoff']}",
                     "dataset": source["dataset"], "family": "cutoff",
                     "max_new_tokens": source.get("max_new_tokens"),  # the limit a cutoff at or above cuts nothing
                     **({"by_tier": by_tier} if by_tier else {})}
                )  # fmt: skip
    return sorted(rows, key=_row_order)


def load_budget_results(
    path: str | Path, alpha_run: str | Path | None = None, start: str | None = "start"
) -> list[dict[str, Any]]:
    """Result rows for the token-budget figure and table (`budget_report`): every evaluation under `path` (a budget
    demo run directory, or evaluation runs with `recipes/evaluate.py --budgets`; `start` as `load_results` takes it)
    and, with `alpha_run`, the alpha family (no advantage normalization) of that demo run or tree of evaluations to
    compare with."""
    rows = load_results(path, start=start)
    if alpha_run:
        rows += select(load_results(alpha_run), family="alpha", advantage_normalization="none")
    return rows


def provenance_fields(provenance: dict[str, Any] | None) -> dict[str, Any]:
    """The row fields that say how a model was trained, from its provenance (None: an untrained 'model')."""
    if provenance is None:
        return dict(UNTRAINED_FIELDS)
    trainer, length_reward = provenance["trainer"], provenance.get("length_reward")
    # The alpha family is the paper's sigmoid reward, placed by its alpha; a model trained with another registry
    # entry (no alpha) is of that entry's family, drawn as single points (its parameters in the label).
    reward = (length_reward or {}).get("name", "sigmoid")
    if trainer in RL_TRAINERS:
        family = "alpha" if reward == "sigmoid" else reward if reward in REWARD_FAMILIES else "model"
    elif any(key in provenance.get("data", {}) for key in BUDGET_DATA):
        family = "model"  # an SFT or DPO on prompts with token budgets (a budget model's stage), not the baselines
    else:
        family = trainer
    return {
        "family": family,
        "trainer": trainer,
        "alpha": length_reward.get("alpha") if length_reward else None,
        "advantage_normalization": provenance.get("advantage_normalization"),
        "length_reward": length_reward,
        "lora": bool(provenance.get("lora")),
    }


def _evaluation_row(summary: dict[str, Any], run_dir: Path) -> dict[str, Any]:
    name = summary.get("name") or result_name(summary["model"])  # the demo records its own names
    row = {
        "no_think_rate": None,  # summaries written before efficient-trl recorded it
        **summary, "name": name, "dataset": Path(summary["dataset"]).stem, "run_dir": str(run_dir),
    }  # fmt: skip
    return {**row, **provenance_fields(summary.get("provenance"))}


def _mark_start(rows: list[dict[str, Any]], start: str | None) -> None:
    """The starting model: the one other rows' provenance names as their base model (by weights fingerprint) and that
    was not itself trained from a model here (in a chain start -> stage 1 -> stage 2, stage 1 is a model), or the one
    named `start`."""

    def base(row: dict[str, Any]) -> str | None:
        return (row.get("provenance") or {}).get("base_model", {}).get("fingerprint")

    bases = {base(row) for row in rows} - {None}
    models = {row.get("model_fingerprint") for row in rows} - {None}
    for row in rows:
        if row["name"] == start or (row.get("model_fingerprint") in bases and base(row) not in models):
            row["family"] = "start"


def _row_order(row: dict[str, Any]) -> tuple:
    """Rows by family (as FAMILIES lists them), length reward, advantage normalization (as ADVANTAGE_NORMALIZATIONS
    lists them), LoRA last, then alpha or cutoff."""
    normalization = row.get("advantage_normalization") or "none"
    return (
        FAMILIES.index(row["family"]) if row["family"] in FAMILIES else len(FAMILIES),
        (row.get("length_reward") or {}).get("name") or "",
        ADVANTAGE_NORMALIZATIONS.index(normalization) if normalization in ADVANTAGE_NORMALIZATIONS else 0,
        bool(row.get("lora")),
        row.get("alpha") or row.get("cutoff") or 0.0,
    )


def _check_rows(rows: list[dict[str, Any]], source: Path) -> None:
    for row in rows:
        missing = [key for key in REQUIRED_FIELDS if key not in row]
        if missing:
            raise ValueError(
                f"{source}: result {row.get('name', row)!r} lacks {missing}; it was written by an older "
                "efficient-trl, rerun the demo or evaluation to rewrite it."
            )


def _distinct(rows: Iterable[dict[str, Any]], key: str = "name") -> list[Any]:
    """The values of `key` in the rows, each once, in order of first appearance."""
    return list(dict.fromkeys(row[key] for row in rows))


def _sorted_by(rows: list[dict[str, Any]], key: str) -> list[dict[str, Any]]:
    return sorted(rows, key=lambda row: row[key])


def _cuts_nothing(row: dict[str, Any]) -> bool:
    """A generation cutoff at or above its evaluation's token limit, or one that truncated no sample: the model
    itself, not a baseline."""
    limit = row.get("max_new_tokens")
    return (limit is not None and row["cutoff"] >= limit) or row.get("truncation_rate") == 0


def tradeoff_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows of the accuracy-against-tokens view (`plot_tradeoff`, the trade-off notebook's table), warning which it
    leaves out: runs at a token budget (the same model at several lengths of its own: `budget_report` draws them
    against the budget) and generation cutoffs that cut nothing (`_cuts_nothing`: copies of the model)."""
    budgets: dict[str, list[Any]] = {}
    for row in rows:
        if row.get("budget") is not None:
            budgets.setdefault(row.get("name", "?"), []).append(row["budget"])
    uncut = [row for row in rows if row.get("family") == "cutoff" and _cuts_nothing(row)]
    left_out = []
    if budgets:
        runs = ", ".join(f"{name} (N={', '.join(map(str, sorted(set(ns))))})" for name, ns in budgets.items())
        left_out.append(f"runs at a token budget: {runs}; budget_report draws them against the budget")
    if uncut:
        names = _distinct(uncut)
        left_out.append(f"generation cutoffs at or above the evaluation's token limit or that cut nothing: {names}")
    if left_out:
        warnings.warn(f"left out of the accuracy-against-tokens view: {'; '.join(left_out)}.", stacklevel=2)
    kept = [row for row in rows if row.get("budget") is None and not any(row is other for other in uncut)]
    if not kept:
        raise ValueError("no rows to plot: every row was left out (see the warning).")
    return kept


def tier_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per model and tier, for the views per tier (`tables.tier_table`, `plots.plot_tiers`): the model's row
    with its tier's figures from its `by_tier` (`accuracy`, `accuracy_stderr`, `mean_tokens`, `mean_tokens_stderr`,
    `truncation_rate`, `num_problems`, ...: see `evaluation.write_summary`) in place of the whole evaluation's, and
    `tier` naming the tier. In the rows' order, each model's tiers in the order its evaluation met them; rows
    without tiers (problems without a `tier`, or summaries written before efficient-trl reported tiers) give none."""
    return [
        {**{key: value for key, value in row.items() if key != "by_tier"}, **figures, "tier": tier}
        for row in rows
        for tier, figures in (row.get("by_tier") or {}).items()
    ]


def select(rows: list[dict[str, Any]], **equal: Any) -> list[dict[str, Any]]:
    """The rows whose fields equal the given values, e.g. `select(rows, dataset="math500", family="alpha")`."""
    return [row for row in rows if all(row.get(key) == value for key, value in equal.items())]


# Training-log names read under their current names: an RL run logged before the trainers named the shaped reward for
# what it is (rewards/length_reward/...) logged it under the correctness function's name, the default's below
RENAMED_METRICS = {
    "rewards/math_accuracy_reward/mean": "rewards/length_reward/mean",
    "rewards/math_accuracy_reward/std": "rewards/length_reward/std",
}


class TrainingLog(list):
    """A model's logged training steps (a list of dicts, one per logged step), with `provenance`: how the model was
    trained (its provenance.json; None when it has none), which gives its style and label in figures."""

    def __init__(self, entries: Iterable[dict[str, Any]], provenance: dict[str, Any] | None = None) -> None:
        super().__init__(entries)
        self.provenance = provenance


def load_training_log(model_dir: str | Path) -> TrainingLog:
    """The logged training steps of one model: `trainer_state.json` in `model_dir`, or in its newest checkpoint-N/,
    with the model's provenance (from the same directory).

    Each entry is what the trainer logged at one step (`step`, `loss`, `efficiency/accuracy`,
    `rewards/length_reward/mean`, `completions/mean_length`, ...); the end-of-training summary entry is left out. An
    older RL run's metrics are read under their current names too (`RENAMED_METRICS`; the file is left as it is).
    """
    model_dir = Path(model_dir)
    state = model_dir / "trainer_state.json"
    if not state.is_file():
        checkpoints = sorted(
            model_dir.glob("checkpoint-*/trainer_state.json"), key=lambda p: int(p.parent.name.split("-")[-1])
        )
        if not checkpoints:
            raise FileNotFoundError(
                f"no training log in {model_dir}: expected trainer_state.json there or in a checkpoint-N/ "
                "directory (TRL writes it with every checkpoint; efficient-trl's recipes and demo at the end)."
            )
        state = checkpoints[-1]
    history = json.loads(state.read_text())["log_history"]
    entries = [entry for entry in history if "step" in entry and "train_runtime" not in entry]
    provenance_dir = model_dir if (model_dir / PROVENANCE_FILE).is_file() else state.parent
    provenance = read_provenance(provenance_dir)
    if provenance is not None and provenance.get("trainer") in RL_TRAINERS:  # SFT/DPO logged no such column
        entries = [{**entry, **_renamed(entry)} for entry in entries]
    return TrainingLog(entries, provenance)


def _renamed(entry: dict[str, Any]) -> dict[str, Any]:
    return {new: entry[old] for old, new in RENAMED_METRICS.items() if old in entry and new not in entry}


def load_training_logs(path: str | Path) -> dict[str, TrainingLog]:
    """Training logs by model name: of a demo run (named as its results are), of one training output directory,
    or of every training output directory just under `path` (named by directory)."""
    path = Path(path)
    demo_evaluations = sorted((path / "eval").glob("*/summary.json"))
    if demo_evaluations:  # a demo run: run_dir/<model>/ holds the training log of run_dir/eval/<model>/
        directories = {
            json.loads(summary.read_text())["name"]: path / summary.parent.name
            for summary in demo_evaluations
            if _has_training_log(path / summary.parent.name)
        }
        order = {row["name"]: index for index, row in enumerate(load_results(path))}
        directories = dict(sorted(directories.items(), key=lambda item: order.get(item[0], len(order))))
    elif _has_training_log(path):
        directories = {path.name: path}
    else:
        directories = {child.name: child for child in sorted(path.iterdir()) if _has_training_log(child)}
    if not directories:
        raise FileNotFoundError(
            f"no training logs in or under {path}: expected a demo run directory or training output directories "
            "holding trainer_state.json (or checkpoint-N/trainer_state.json)."
        )
    return {name: load_training_log(directory) for name, directory in directories.items()}


def _has_training_log(directory: Path) -> bool:
    return directory.is_dir() and (
        (directory / "trainer_state.json").is_file() or any(directory.glob("checkpoint-*/trainer_state.json"))
    )


def pareto_frontier(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows no other row beats on both accuracy and mean tokens (at least as accurate and at most as long, and
    strictly better on one), in order of mean tokens; rows at the same point are all kept."""

    def beats(other: dict[str, Any], row: dict[str, Any]) -> bool:
        as_good = other["accuracy"] >= row["accuracy"] and other["mean_tokens"] <= row["mean_tokens"]
        return as_good and (other["accuracy"], other["mean_tokens"]) != (row["accuracy"], row["mean_tokens"])

    frontier = [row for row in rows if not any(beats(other, row) for other in rows)]
    return sorted(frontier, key=lambda row: (row["mean_tokens"], -row["accuracy"]))
