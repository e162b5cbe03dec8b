"""Markdown tables of result rows (`efficient_trl.analysis.results`): accuracy and tokens against a baseline model,
the same per tier of difficulty, and evaluations by token budget."""

from __future__ import annotations

from typing import Any

from .results import _distinct, _sorted_by, select, tier_rows
from .results import tradeoff_rows as _tradeoff_view

__all__ = [
    "format_budget_table",
    "format_forced_budget_table",
    "format_tier_table",
    "format_tradeoff_table",
    "tier_table",
]


def format_tradeoff_table(rows: list[dict[str, Any]], baseline: str) -> str:
    """Markdown table of accuracy and mean tokens per model, with the change against the `baseline` model's row on
    the same dataset (a dataset column appears when there is more than one dataset, and a "no thinking" column, the
    share of answers given without thinking, when some row has such answers).

    The ± figures are one standard error.
    """
    references = {row["dataset"]: row for row in rows if row["name"] == baseline}
    datasets = _distinct(rows, "dataset")
    missing = [dataset for dataset in datasets if dataset not in references]
    if not rows or missing:
        raise ValueError(
            f"no row named {baseline!r} to compare against on {missing or 'any dataset'} (rows: {_distinct(rows)})."
        )
    several, modes = len(datasets) > 1, _answers_without_thinking(rows)
    lines = [
        ("| dataset " if several else "")
        + "| model | accuracy | mean tokens | tokens vs start | accuracy vs start |"
        + (" no thinking |" if modes else ""),
        ("| --- " if several else "") + "| --- | --- | --- | --- | --- |" + (" --- |" if modes else ""),
    ]
    for row in sorted(rows, key=lambda row: datasets.index(row["dataset"])):
        reference = references[row["dataset"]]
        token_change = row["mean_tokens"] / reference["mean_tokens"] - 1
        accuracy_change = 100 * (row["accuracy"] - reference["accuracy"])
        tokens_stderr = f" ± {row['mean_tokens_stderr']:.1f}" if "mean_tokens_stderr" in row else ""
        lines.append(
            (f"| {row['dataset']} " if several else "")
            + f"| {row['name']} | {100 * row['accuracy']:.1f}% ± {100 * row['accuracy_stderr']:.1f} "
            f"| {row['mean_tokens']:.1f}{tokens_stderr} | {100 * token_change:+.1f}% | {accuracy_change:+.1f} pts |"
            + (f" {_share(row.get('no_think_rate'))} |" if modes else "")
        )
    return "\n".join(lines)


def format_budget_table(rows: list[dict[str, Any]], plain_rows: list[dict[str, Any]] = ()) -> str:
    """Markdown table of evaluations by budget (`evaluation.evaluate_budgets`' rows), one line per model, mode and
    budget: accuracy, mean tokens, mean |L - N| / N, the share within 10% of N and the share at most N; then the
    `plain_rows` (models asked for no budget: the starting model, the alpha family) with accuracy and mean tokens.
    The ± figures are one standard error."""
    lines = [
        "| model | budget N | accuracy | mean tokens | mean \\|L-N\\|/N | within 10% of N | at most N |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name, mode in dict.fromkeys((row["name"], row["budget_mode"]) for row in rows):
        for row in _sorted_by(select(rows, name=name, budget_mode=mode), "budget"):
            asked = "in the prompt" if mode == "prompt" else "forced"
            lines.append(
                f"| {name} | {row['budget']} ({asked}) | {100 * row['accuracy']:.1f}% ± "
                f"{100 * row['accuracy_stderr']:.1f} | {row['mean_budget_length']:.1f} "
                f"| {row['budget_deviation']:.3f} | {100 * row['share_within_10pct']:.1f}% "
                f"| {100 * row['share_at_most_budget']:.1f}% |"
            )
    for row in plain_rows:
        lines.append(
            f"| {row['name']} | none | {100 * row['accuracy']:.1f}% ± {100 * row['accuracy_stderr']:.1f} "
            f"| {row['mean_tokens']:.1f} | | | |"
        )
    return "\n".join(lines)


def format_forced_budget_table(rows: list[dict[str, Any]], tier: str | None = None) -> str:
    """Markdown table of models evaluated under budget forcing (`evaluation.evaluate_budgets` with mode "force"):
    one line per model so evaluated, its accuracy (± one standard error) and mean tokens without a budget (its
    plain row, when `rows` hold one) and at each forced budget N, on every problem or, with `tier`, on that tier's
    (the summaries' `by_tier`). Models appear in the rows' order, so a model trained with budget-constrained
    rollouts sits beside the one trained without; a cell is empty where the model was not evaluated so."""
    rows = [row for row in rows if row.get("budget") is None or row.get("budget_mode") == "force"]
    if tier is not None:
        rows = select(tier_rows(rows), tier=tier)
    budgets = sorted({row["budget"] for row in rows if row.get("budget") is not None})
    order = {name: index for index, name in enumerate(_distinct(rows))}  # the rows' order, plain rows first
    if not budgets:
        raise ValueError(
            f"no evaluation under budget forcing{'' if tier is None else f' on tier {tier!r}'} in the rows: evaluate "
            "with budget_mode 'force' (the demo's --eval_thinking_budgets, recipes/evaluate.py --budget_mode force)."
        )
    header = ["model", "no budget", *(f"N={budget}" for budget in budgets)]
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    for name in sorted(_distinct([row for row in rows if row.get("budget") is not None]), key=order.get):
        cells = {row.get("budget"): row for row in select(rows, name=name)}
        line = [name] + [
            "" if (row := cells.get(budget)) is None
            else f"{100 * row['accuracy']:.1f}% ± {100 * row['accuracy_stderr']:.1f}, {row['mean_tokens']:.1f} tokens"
            for budget in [None, *budgets]
        ]  # fmt: skip
        lines.append("| " + " | ".join(line) + " |")
    return "\n".join(lines)


# What `tier_table` gives per tier: the tier's figures as `evaluation.write_summary` recorded them
TIER_FIELDS = (
    "accuracy", "accuracy_stderr", "mean_tokens", "mean_tokens_stderr", "truncation_rate", "num_problems",
    "no_think_rate",
)  # fmt: skip


def tier_table(rows: list[dict[str, Any]], start: str = "start") -> list[dict[str, Any]]:
    """Per model, its figures on each tier of difficulty against the `start` model's on the same tier and dataset:
    one dict per model (the rows with tiers, `results.tier_rows`, that the accuracy-against-tokens view keeps,
    `results.tradeoff_rows`), with `name`, `dataset` and `by_tier`: tier -> `TIER_FIELDS`, `token_change` (mean
    tokens relative to the start's: -0.35 is 35% fewer) and `accuracy_change` (in accuracy, 0.01 is one point).

    The paper's result reads per tier: the relative cut in tokens is largest on the easiest problems.
    `format_tier_table` writes it as Markdown."""
    by_model = tier_rows(_tradeoff_view(rows))
    references = {(row["dataset"], row["tier"]): row for row in by_model if row["name"] == start}
    missing = sorted({f"{row['dataset']}/{row['tier']}" for row in by_model} - {f"{d}/{t}" for d, t in references})
    if not by_model or missing:
        raise ValueError(
            f"no tiers in the results (rows: {_distinct(rows)}): evaluate problems with a `tier` column (the graded "
            "task's) to compare models per tier."
            if not by_model
            else f"no row named {start!r} to compare against on {missing} (rows with tiers: {_distinct(by_model)})."
        )
    table: dict[tuple[str, str], dict[str, Any]] = {}
    for row in by_model:
        reference = references[(row["dataset"], row["tier"])]
        entry = table.setdefault((row["dataset"], row["name"]), {"name": row["name"], "dataset": row["dataset"]})
        entry.setdefault("by_tier", {})[row["tier"]] = {
            **{key: row.get(key) for key in TIER_FIELDS},
            "token_change": row["mean_tokens"] / reference["mean_tokens"] - 1,
            "accuracy_change": row["accuracy"] - reference["accuracy"],
        }
    return list(table.values())


def format_tier_table(rows: list[dict[str, Any]], start: str = "start") -> str:
    """Markdown table of `tier_table`: one line per model, per tier its accuracy and mean tokens (± one standard
    error) and its mean tokens against the `start` model's on that tier (a dataset column appears when there is
    more than one dataset; a "no thinking" column per tier, the share of answers given without thinking, when some
    model has such answers)."""
    table = tier_table(rows, start)
    tiers = list(dict.fromkeys(tier for entry in table for tier in entry["by_tier"]))
    several = len(_distinct(table, "dataset")) > 1
    modes = _answers_without_thinking([figures for entry in table for figures in entry["by_tier"].values()])
    columns = ("accuracy", "tokens", "tokens vs start") + ("no thinking",) * modes
    header = ["dataset"] * several + ["model"]
    header += [f"{tier} {column}" for tier in tiers for column in columns]
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    for entry in table:
        cells = [entry["dataset"]] * several + [entry["name"]]
        for tier in tiers:
            figures = entry["by_tier"].get(tier)
            if figures is None:  # a model evaluated without this tier
                cells += [""] * len(columns)
                continue
            tokens_stderr = "" if figures["mean_tokens_stderr"] is None else f" ± {figures['mean_tokens_stderr']:.1f}"
            cells += [
                f"{100 * figures['accuracy']:.1f}% ± {100 * figures['accuracy_stderr']:.1f}",
                f"{figures['mean_tokens']:.1f}{tokens_stderr}",
                f"{100 * figures['token_change']:+.1f}%",
            ] + [_share(figures["no_think_rate"])] * modes
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _answers_without_thinking(rows: list[dict[str, Any]]) -> bool:
    """Whether some row has answers given without thinking: the tables show the share only then, so that the tables
    of models that always think (or of summaries written before it was recorded) stay as they were."""
    return any(row.get("no_think_rate") for row in rows)


def _share(rate: float | None) -> str:
    return "" if rate is None else f"{100 * rate:.1f}%"
