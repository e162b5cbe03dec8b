"""Budget-constrained training rollouts on the graded testbed (issue 27 item 4, Elastic Reasoning's claim): the demo's
rollout_thinking_budget (each alpha model also trained with every rollout's thinking kept within the budget) and
eval_thinking_budgets (every model also evaluated under budget forcing), their run directory, resume, and the report's
forced-budget tables (`format_forced_budget_table`), checked against the summaries."""

import contextlib
import io
import json
import re
from dataclasses import asdict
from pathlib import Path

import pytest

from efficient_trl.analysis import format_forced_budget_table, load_training_log
from efficient_trl.evaluation import load_samples
from efficient_trl.experiments.demo import DemoSettings, demo_specs, run_demo, write_demo_report
from efficient_trl.experiments.engine import DEMO_ANSWER_CUE, ModelSpec, alpha_spec, model_dir_name, rl_config

ROOT = Path(__file__).resolve().parents[1]
ROLLOUT = "alpha=0,rollout_budget=40"
TIERS = ("easy", "medium", "hard")


@pytest.fixture(scope="module")
def rollout_run(tmp_path_factory):
    """A real graded demo run, shrunk: alpha 0 trained with and without rollouts kept within 40 thinking tokens,
    every model also evaluated forced at 30 and 60 (about 20 seconds). Returns (run directory, rows, settings)."""
    settings = DemoSettings(
        task="graded", alphas=[0.0], rollout_thinking_budget=40, eval_thinking_budgets=[30, 60], steps=2,
        prompts_per_step=4, num_generations=4, max_completion_length=120, logging_steps=1, eval_problems=12,
    )  # fmt: skip
    run_dir = tmp_path_factory.mktemp("rollout_budget") / "run"
    with contextlib.redirect_stderr(io.StringIO()):
        rows = run_demo(run_dir, settings)
    return run_dir, rows, settings


def test_the_setting_trains_each_alpha_twice_and_reaches_the_trainer_config(tmp_path):
    settings = DemoSettings(alphas=[0.0, 0.2], rollout_thinking_budget=96)
    specs = demo_specs(settings)
    assert [spec.name for spec in specs] == [
        "alpha=0", "alpha=0,rollout_budget=96", "alpha=0.2", "alpha=0.2,rollout_budget=96"
    ]  # fmt: skip
    assert model_dir_name(specs[1].name) == "alpha_0_rollout_budget_96"
    budgeted = rl_config(specs[1], settings, tmp_path)
    assert (budgeted.rollout_thinking_budget, budgeted.rollout_answer_cue) == (96, DEMO_ANSWER_CUE) == (96, "\\boxed{")
    assert budgeted.rollout_budget_column is None and budgeted.length_penalty_alpha == 0.0
    # its twin, and every model of a plan without the setting, is configured as before
    plain = rl_config(specs[0], settings, tmp_path)
    assert plain.rollout_thinking_budget is None and not plain.rollout_budgets
    assert [spec.name for spec in demo_specs(DemoSettings(alphas=[0.0, 0.2]))] == ["alpha=0", "alpha=0.2"]
    # a plan's recorded specs keep their old form without it
    assert "rollout_thinking_budget" not in alpha_spec(0.2).recorded()
    assert specs[1].recorded()["rollout_thinking_budget"] == 96
    with pytest.raises(ValueError, match="rollout_budgets .* or rollout_thinking_budget, not both"):
        ModelSpec("l1_exact", budget_range=(40, 140), rollout_budgets=True, rollout_thinking_budget=64)


def test_the_make_targets_command_line_parses_into_its_settings():
    from efficient_trl.cli import parse_arguments
    from efficient_trl.experiments.settings import RunArguments

    command = (
        "recipes/demo.py --task graded --alphas 0 0.2 --rollout_thinking_budget 96 --eval_thinking_budgets 64 96 128 "
        "--seed $$seed --run_dir runs/rollout-budget-graded/seed_$$seed"
    )  # make rollout-budget-graded's, for each seed
    assert command in (ROOT / "Makefile").read_text().replace("\\\n\t\t", "")
    where, settings = parse_arguments(RunArguments, DemoSettings, argv=command.replace("$$seed", "1").split()[1:])
    assert (settings.rollout_thinking_budget, settings.eval_thinking_budgets) == (96, [64, 96, 128])
    assert (settings.alphas, settings.seed, settings.max_completion_length) == ([0.0, 0.2], 1, 256)
    assert len(demo_specs(settings)) == 4 and where.run_dir == "runs/rollout-budget-graded/seed_1"
    # without them, a plan is what it was
    _, plain = parse_arguments(RunArguments, DemoSettings, argv=["--task", "graded"])
    assert (plain.rollout_thinking_budget, plain.eval_thinking_budgets) == (None, [])


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"rollout_thinking_budget": 0}, r"rollout_thinking_budget must be a positive token count .*got 0"),
        ({"rollout_thinking_budget": -8}, "rollout_thinking_budget must be a positive token count"),
        ({"rollout_thinking_budget": 256}, "rollout_thinking_budget=256 is not below max_completion_length=256"),
        ({"rollout_thinking_budget": 64, "max_completion_length": 64}, "not below max_completion_length=64"),
        ({"rollout_thinking_budget": 64, "methods": ["adapt_think"]}, "methods .* has no 'alpha': add it"),
        ({"eval_thinking_budgets": [0, 64]}, r"eval_thinking_budgets must be positive token counts .*\[0, 64\]"),
        ({"eval_thinking_budgets": [-1]}, "eval_thinking_budgets must be positive token counts"),
        ({"eval_thinking_budgets": [64, 300]}, "below max_completion_length=256"),
        ({"eval_thinking_budgets": [64, 64]}, "lists a budget twice"),
    ],
)
def test_bad_budgets_are_refused_before_anything_is_created(fields, message, tmp_path):
    with pytest.raises(ValueError, match=message):
        run_demo(tmp_path / "run", DemoSettings(**fields))
    assert not (tmp_path / "run").exists()


def test_the_forced_table_needs_forced_rows():
    row = {"name": "start", "budget": None, "accuracy": 0.5, "accuracy_stderr": 0.1, "mean_tokens": 10.0}
    with pytest.raises(ValueError, match="no evaluation under budget forcing in the rows"):
        format_forced_budget_table([row])
    prompted = {**row, "budget": 30, "budget_mode": "prompt"}  # a budget in the prompt is not forcing
    with pytest.raises(ValueError, match="budget_mode 'force'"):
        format_forced_budget_table([row, prompted])


@pytest.mark.slow
def test_the_run_trains_both_and_evaluates_every_model_forced(rollout_run):
    run_dir, rows, settings = rollout_run
    assert sorted(path.name for path in (run_dir / "eval").iterdir()) == [
        "alpha_0", "alpha_0_forced", "alpha_0_rollout_budget_40", "alpha_0_rollout_budget_40_forced", "start",
        "start_forced",
    ]  # fmt: skip
    assert [(row["name"], row.get("budget")) for row in rows] == [
        (name, budget) for name in ("start", "alpha=0", ROLLOUT) for budget in (None, 30, 60)
    ]
    # provenance records the rollout budget of the twin only; its rollouts were forced, the plain model's never
    rollout = json.loads((run_dir / "alpha_0_rollout_budget_40" / "provenance.json").read_text())
    assert rollout["rollout_budget"] == {"thinking_budget": 40, "column": None, "answer_cue": "\\boxed{"}
    assert "rollout_budget" not in json.loads((run_dir / "alpha_0" / "provenance.json").read_text())
    assert any(step["efficiency/rollout_forced_rate"] > 0 for step in load_training_log(run_dir / ROLLOUT.replace(
        "=", "_").replace(",", "_")))  # fmt: skip
    assert all("efficiency/rollout_forced_rate" not in step for step in load_training_log(run_dir / "alpha_0"))
    # each forced evaluation: the budget and the demo's cue, every sample's thinking within it, tiers in its summary
    for model in ("start", "alpha_0", "alpha_0_rollout_budget_40"):
        for budget in (30, 60):
            evaluation = run_dir / "eval" / f"{model}_forced" / f"budget-{budget}"
            recorded = json.loads((evaluation / "settings.json").read_text())
            assert (recorded["thinking_budget"], recorded["answer_cue"]) == (budget, "\\boxed{")
            assert all(sample.thinking_tokens <= budget for sample in load_samples(evaluation))
            summary = json.loads((evaluation / "summary.json").read_text())
            assert summary["budget_mode"] == "force" and set(summary["by_tier"]) == set(TIERS)
            assert summary["cutoff_baseline"] == []  # the start's plain evaluation has the baseline, when asked
    record = json.loads((run_dir / "settings.json").read_text())
    assert (record["rollout_thinking_budget"], record["eval_thinking_budgets"]) == (40, [30, 60])


@pytest.mark.slow
def test_a_rerun_redoes_nothing_and_other_budgets_are_refused(rollout_run):
    run_dir, rows, settings = rollout_run
    weights = {path: path.stat().st_mtime_ns for path in run_dir.glob("*/model.safetensors")}
    samples = {path: path.read_text() for path in run_dir.glob("eval/**/samples.jsonl")}
    assert len(weights) == 2 and len(samples) == 3 + 3 * 2
    with contextlib.redirect_stderr(io.StringIO()):
        assert run_demo(run_dir, settings) == rows
    assert {path: path.stat().st_mtime_ns for path in run_dir.glob("*/model.safetensors")} == weights
    assert {path: path.read_text() for path in run_dir.glob("eval/**/samples.jsonl")} == samples
    for field, value, change in (
        ("rollout_thinking_budget", 50, "rollout_thinking_budget: 40 -> 50"),
        ("eval_thinking_budgets", [30], r"eval_thinking_budgets: \[30, 60\] -> \[30\]"),
    ):
        with pytest.raises(FileExistsError, match=rf"other settings .*{change}"):
            run_demo(run_dir, DemoSettings(**{**asdict(settings), field: value}))


def _cell(figures):
    return f"{100 * figures['accuracy']:.1f}% ± {100 * figures['accuracy_stderr']:.1f}, {figures['mean_tokens']:.1f}"


@pytest.mark.slow
def test_the_report_shows_each_model_at_each_budget_from_its_summaries(rollout_run, tmp_path):
    run_dir, rows, _ = rollout_run
    table, figure = write_demo_report(run_dir, rows)
    # the twins on separate curves of the trade-off plot, each point told apart in the legend
    legend = {text.get_text() for legend in figure.legends for text in legend.get_texts()}
    legend |= {label for axes in figure.axes for label in axes.get_legend_handles_labels()[1]}
    assert {"length penalty", "length penalty (rollouts within 40 thinking tokens)"} <= legend
    assert "alpha=0, rollouts within 40 thinking tokens" in legend
    assert (run_dir / "results.md").read_text() == table + "\n" and (run_dir / "forced_budgets.png").is_file()
    sections = table.split("\n\nUnder budget forcing")
    assert len(sections) == 1 + 1 + len(TIERS)  # the trade-off and tier tables, then overall and each tier forced
    assert "N=30" not in sections[0]  # forced rows stay out of the trade-off and tier tables
    for section, tier in zip(sections[1:], (None, *TIERS), strict=True):
        assert section.startswith(":" if tier is None else f", {tier}:")
        lines = [line for line in section.splitlines() if line.startswith("| ") and not line.startswith("| ---")]
        assert lines[0] == "| model | no budget | N=30 | N=60 |"
        assert [line.split(" | ")[0] for line in lines[1:]] == ["| start", "| alpha=0", f"| {ROLLOUT}"]
        for line, name in zip(lines[1:], ("start", "alpha_0", "alpha_0_rollout_budget_40"), strict=True):
            cells = line.strip("| ").split(" | ")[1:]
            paths = [run_dir / "eval" / name, *(run_dir / "eval" / f"{name}_forced" / f"budget-{n}" for n in (30, 60))]
            for cell, path in zip(cells, paths, strict=True):
                summary = json.loads((path / "summary.json").read_text())
                assert cell == _cell(summary if tier is None else summary["by_tier"][tier]) + " tokens"
    assert re.search(r"\| alpha=0,rollout_budget=40 \| [\d.]+% ±", sections[0])  # the twin in the tier table too
