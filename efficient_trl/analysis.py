"""Figures and tables from evaluation results: accuracy against tokens spent, one point per model."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

__all__ = ["format_tradeoff_table", "plot_tradeoff"]


def format_tradeoff_table(rows: list[dict[str, Any]], baseline: str) -> str:
    """Markdown table of accuracy and mean tokens per model, with the change against the `baseline` row.

    Each row needs `name`, `accuracy`, `accuracy_stderr` and `mean_tokens` (and may have `mean_tokens_stderr`);
    the ± figures are one standard error.
    """
    reference = next((row for row in rows if row["name"] == baseline), None)
    if reference is None:
        raise ValueError(f"no row named {baseline!r} to compare against (rows: {[row['name'] for row in rows]}).")
    lines = [
        "| model | accuracy | mean tokens | tokens vs start | accuracy vs start |",
        "| --- | --- | --- | --- | --- |",
    ]
    for row in rows:
        token_change = row["mean_tokens"] / reference["mean_tokens"] - 1
        accuracy_change = 100 * (row["accuracy"] - reference["accuracy"])
        tokens_stderr = f" ± {row['mean_tokens_stderr']:.1f}" if "mean_tokens_stderr" in row else ""
        lines.append(
            f"| {row['name']} | {100 * row['accuracy']:.1f}% ± {100 * row['accuracy_stderr']:.1f} "
            f"| {row['mean_tokens']:.1f}{tokens_stderr} | {100 * token_change:+.1f}% | {accuracy_change:+.1f} pts |"
        )
    return "\n".join(lines)


def plot_tradeoff(rows: list[dict[str, Any]], path: str | Path, title: str = "Accuracy against tokens") -> Path:
    """Save a PNG of accuracy (with 1-stderr bars) against mean completion tokens, one labelled point per row."""
    import matplotlib

    matplotlib.use("Agg")  # files only: no display needed
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(6, 4.5), dpi=120)
    for row in rows:
        stderr = row.get("accuracy_stderr", 0.0)
        axes.errorbar(
            row["mean_tokens"],
            100 * row["accuracy"],
            yerr=100 * stderr if math.isfinite(stderr) else None,
            fmt="o",
            capsize=3,
        )
        axes.annotate(
            row["name"], (row["mean_tokens"], 100 * row["accuracy"]), textcoords="offset points", xytext=(6, 6)
        )
    axes.set_xlabel("mean completion tokens")
    axes.set_ylabel("accuracy (%)")
    axes.set_title(title)
    axes.grid(alpha=0.3)
    figure.tight_layout()
    path = Path(path)
    figure.savefig(path)
    plt.close(figure)
    return path
