"""Markdown tables of result rows (`efficient_trl.analysis.results`): accuracy and tokens against a baseline model,
and evaluations by token budget."""

from __future__ import annotations

from typing import Any

from .results import _distinct, _sorted_by, select

__all__ = ["format_budget_table", "format_tradeoff_table"]


def format_tradeoff_table(rows: list[dict[str, Any]], baseline: str) -> str:
    """Markdown table of accuracy and mean tokens per model, with the change against the `baseline` model's row on
    the same dataset (a dataset column appears when there is more than one dataset).

    The ± figures are one standard error.
    """
    references = {row["dataset"]: row for row in rows if row["name"] == baseline}
    datasets = _distinct(rows, "dataset")
    missing = [dataset for dataset in datasets if dataset not in references]
    if not rows or missing:
        raise ValueError(
            f"no row named {baseline!r} to compare against on {missing or 'any dataset'} (rows: {_distinct(rows)})."
        )
    several = len(datasets) > 1
    lines = [
        ("| dataset " if several else "") + "| model | accuracy | mean tokens | tokens vs start | accuracy vs start |",
        ("| --- " if several else "") + "| --- | --- | --- | --- | --- |",
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
