"""efficient_trl.analysis.tables: the Markdown tables of result rows."""

import json
from pathlib import Path

import pytest

from efficient_trl.analysis import format_tradeoff_table, load_results
from efficient_trl.analysis.tables import TIER_FIELDS

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


def test_tier_table_of_a_graded_evaluation(graded_evaluations):
    from efficient_trl.analysis import format_tier_table, tier_table

    rows = load_results(graded_evaluations, cutoff_model="start", start="start")
    summaries = {
        name: json.loads((graded_evaluations / name / "summary.json").read_text()) for name in ("start", "alpha=0.2")
    }
    with pytest.warns(UserWarning, match="cut nothing"):  # as the trade-off view: a cutoff at 160 copies the model
        table = tier_table(rows + [{**rows[-1], "name": "cutoff=160", "cutoff": 160, "truncation_rate": 0.0}])
    assert [entry["name"] for entry in table] == ["start", "alpha=0.2", "cutoff=40", "cutoff=80"]
    for entry in table[:2]:
        assert list(entry["by_tier"]) == ["easy", "medium", "hard"]
        for tier, figures in entry["by_tier"].items():
            recorded, start = summaries[entry["name"]]["by_tier"][tier], summaries["start"]["by_tier"][tier]
            assert {key: figures[key] for key in TIER_FIELDS} == {key: recorded[key] for key in TIER_FIELDS}
            assert figures["token_change"] == pytest.approx(recorded["mean_tokens"] / start["mean_tokens"] - 1)
            assert figures["accuracy_change"] == pytest.approx(recorded["accuracy"] - start["accuracy"])

    markdown = format_tier_table(rows)
    lines = markdown.splitlines()
    # the shipped graded model answers some prompts without thinking: each tier gets its share's column
    assert lines[0] == (
        "| model | easy accuracy | easy tokens | easy tokens vs start | easy no thinking | medium accuracy "
        "| medium tokens | medium tokens vs start | medium no thinking | hard accuracy | hard tokens "
        "| hard tokens vs start | hard no thinking |"
    )
    hard = table[1]["by_tier"]["hard"]
    assert lines[3].startswith("| alpha=0.2 |") and lines[3].endswith(
        f"| {100 * hard['accuracy']:.1f}% ± {100 * hard['accuracy_stderr']:.1f} | {hard['mean_tokens']:.1f} ± "
        f"{hard['mean_tokens_stderr']:.1f} | {100 * hard['token_change']:+.1f}% | {100 * hard['no_think_rate']:.1f}% |"
    )
    assert lines[2].startswith("| start | ") and lines[2].count("| +0.0% |") == 3
    with pytest.raises(ValueError, match=r"no row named 'base' to compare against on \['graded/easy'"):
        format_tier_table(rows, start="base")
    with pytest.raises(ValueError, match="no tiers in the results"):
        tier_table([{key: value for key, value in row.items() if key != "by_tier"} for row in rows])


def test_tables_show_answers_without_thinking_when_some_model_gives_them(graded_evaluations):
    from efficient_trl.analysis import format_tier_table

    rows = [
        {"name": "start", "dataset": "d", "accuracy": 0.9, "accuracy_stderr": 0.01, "mean_tokens": 100.0,
         "no_think_rate": 0.0},
        {"name": "adaptive", "dataset": "d", "accuracy": 0.9, "accuracy_stderr": 0.01, "mean_tokens": 50.0,
         "no_think_rate": 0.625},
        {"name": "old", "dataset": "d", "accuracy": 0.9, "accuracy_stderr": 0.01, "mean_tokens": 100.0},
    ]  # fmt: skip
    lines = format_tradeoff_table(rows, baseline="start").splitlines()
    assert lines[0].endswith("| accuracy vs start | no thinking |") and lines[1].count("---") == 6
    assert lines[2].endswith("| 0.0% |") and lines[3].endswith("| -50.0% | +0.0 pts | 62.5% |")
    assert lines[4].endswith("| +0.0 pts |  |")  # a summary written before it was recorded: left blank
    # only models that always think (or that predate the figure): the table as it was
    assert "no thinking" not in format_tradeoff_table([rows[0], rows[2]], baseline="start")

    graded = load_results(graded_evaluations, start="start")
    for row in graded:  # as if both models always thought: no column
        row["no_think_rate"] = 0.0
        for figures in row["by_tier"].values():
            figures["no_think_rate"] = 0.0
    assert "no thinking" not in format_tier_table(graded)
    for row in graded:
        if row["name"] == "alpha=0.2":
            row["by_tier"]["hard"]["no_think_rate"] = 0.25
    lines = format_tier_table(graded).splitlines()
    assert lines[0].endswith("| hard tokens vs start | hard no thinking |") and lines[0].count("no thinking") == 3
    assert lines[3].startswith("| alpha=0.2 |") and lines[3].endswith("| 25.0% |") and lines[2].endswith("| 0.0% |")
