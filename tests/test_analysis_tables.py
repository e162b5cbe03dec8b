"""efficient_trl.analysis.tables: the Markdown tables of result rows."""

from pathlib import Path

import pytest

from efficient_trl.analysis import format_tradeoff_table, load_results

DEMO_RUNS = Path(__file__).resolve().parents[1] / "notebooks" / "demo_runs"


def test_tradeoff_table():
    rows = [
        {"name": "start", "dataset": "d", "accuracy": 0.9, "accuracy_stderr": 0.01, "mean_tokens": 100.0},
        {"name": "alpha=0.2", "dataset": "d", "accuracy": 0.88, "accuracy_stderr": 0.01, "mean_tokens": 60.0},
    ]
    table = format_tradeoff_table(rows, baseline="start")
    assert "| alpha=0.2 | 88.0% ± 1.0 | 60.0 | -40.0% | -2.0 pts |" in table
    with pytest.raises(ValueError, match="no row named 'base'"):
        format_tradeoff_table(rows, baseline="base")
    # several datasets: each row is compared with the baseline on its own dataset
    other = [{**row, "dataset": "e", "mean_tokens": row["mean_tokens"] * 2} for row in rows]
    table = format_tradeoff_table(rows + other[:1], baseline="start")
    assert table.splitlines()[0].startswith("| dataset | model |") and "| e | start |" in table
    with pytest.raises(ValueError, match=r"on \['e'\]"):
        format_tradeoff_table(rows + other[1:], baseline="start")


@pytest.mark.parametrize(
    ("run", "cutoff_model"), [("sweep", "start"), ("ablation", None), ("ablation_multi_sums", None)]
)
def test_the_committed_demo_runs_tables_are_their_rows_tables(run, cutoff_model):
    # the demo wrote results.md from its rows: the committed summaries and provenance give it again, byte for byte
    rows = load_results(DEMO_RUNS / run, cutoff_model=cutoff_model)
    assert format_tradeoff_table(rows, baseline="start") + "\n" == (DEMO_RUNS / run / "results.md").read_text()
