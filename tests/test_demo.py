"""The demo plan (efficient_trl.experiments.demo): its settings, a tiny real run's layout and rows, its report."""

import json
import re

import pytest

from efficient_trl.analysis import format_tradeoff_table, load_results
from efficient_trl.evaluation import load_samples
from efficient_trl.experiments.demo import DemoSettings, run_demo, write_demo_report
from efficient_trl.experiments.engine import START_MODELS
from efficient_trl.provenance import read_provenance

from .test_analysis_plots import plotted_points


def test_demo_pipeline_end_to_end(tiny_demo_run, tmp_path):
    run_dir, rows, settings = tiny_demo_run
    assert [row["name"] for row in rows] == [
        "start", "alpha=0", "alpha=0.3", "alpha=0,norm=group", "alpha=0.3,norm=group",
        "cutoff=30", "cutoff=60", "sft", "dpo",
    ]  # fmt: skip
    # the layout evaluation writes: run_dir/eval/<model>/ per evaluated model, read back by load_results
    assert load_results(run_dir, cutoff_model="start") == rows
    assert sorted(path.name for path in (run_dir / "eval").iterdir()) == [
        "alpha_0", "alpha_0.3", "alpha_0.3_norm_group", "alpha_0_norm_group", "dpo", "sft", "start"
    ]  # fmt: skip
    for evaluation in (run_dir / "eval").iterdir():
        summary = json.loads((evaluation / "summary.json").read_text())
        assert json.loads((evaluation / "settings.json").read_text()).items() <= summary.items()
        assert len(load_samples(evaluation)) == summary["num_samples"] == 8
        model = START_MODELS["sums"] if evaluation.name == "start" else run_dir / evaluation.name
        assert summary["provenance"] == read_provenance(model) is not None  # every trained model records its own
        if evaluation.name != "start":  # ... saved with its training log
            assert (model / "model.safetensors").exists() and (model / "trainer_state.json").exists()
    assert all(row["num_samples"] == 8 and row["dataset"] == "held-out sums" for row in rows)
    assert rows[5]["mean_tokens"] <= 30 and (run_dir / "dpo" / "model.safetensors").exists()
    assert json.loads((run_dir / "rejection_sampling_report.json").read_text())["dpo_pairs"] >= 1
    assert [row["advantage_normalization"] for row in rows[1:5]] == ["none", "none", "group", "group"]
    assert [row["trainer"] for row in rows if row["family"] in ("sft", "dpo")] == ["sft", "dpo"]
    # stage lines with the time since the run started: the RL models and the start's evaluation are 5 jobs run
    # two at a time in spawned processes (their own lines go to the process's stderr file, not to the redirected
    # sys.stderr this run captured: test_experiments checks them), then the baselines one by one
    stages = re.findall(r"^\[ *\d+:\d\d\] (.*)$", (run_dir.parent / "stderr.txt").read_text(), flags=re.MULTILINE)
    sampled = json.loads((run_dir / "rejection_sampling_report.json").read_text())
    assert stages == [
        *(f"{done}/5 jobs done" for done in range(1, 6)),
        "rejection sampling the starting model: 4 samples x 8 sums prompts",
        f"training sft (SFT) on {sampled['problems_with_a_correct_sample']} examples, 1 epoch(s)",
        f"training dpo (DPO) on {sampled['dpo_pairs']} examples, 1 epoch(s)",
        "evaluating sft on 8 held-out sums problems",
        "evaluating dpo on 8 held-out sums problems",
    ]
    # a rerun with the same settings resumes the run: nothing is trained or sampled again
    weights = {path: path.stat().st_mtime_ns for path in run_dir.glob("*/model.safetensors")}
    samples = {path: path.read_text() for path in run_dir.glob("eval/*/samples.jsonl")}
    assert run_demo(run_dir, settings, start_model=START_MODELS["sums"]) == rows
    assert {path: path.stat().st_mtime_ns for path in run_dir.glob("*/model.safetensors")} == weights
    assert {path: path.read_text() for path in run_dir.glob("eval/*/samples.jsonl")} == samples
    with pytest.raises(FileExistsError, match=r"other settings .*steps: 2 -> 3"):
        run_demo(run_dir, DemoSettings(**{**vars(settings), "steps": 3}), start_model=START_MODELS["sums"])
    with pytest.raises(ValueError, match="normalizations must be a non-empty list of"):
        DemoSettings(normalizations=["std"])


def test_demo_settings_are_checked_before_anything_trains():
    # These used to fail only after the earlier models had trained, leaving a run directory that was then refused.
    for settings, message in (
        ({"alphas": [0.0, 1.0]}, r"alphas must be a non-empty list of values in \[0, 1\)"),
        ({"eval_k": 0}, "eval_k must be >= 1"),
        ({"alphas": [0.2, 0.2]}, "lists a value twice"),
        ({"eval_temperature": 0.0}, "eval_temperature must be > 0"),
        ({"num_generations": 1}, "num_generations must be >= 2"),
    ):
        with pytest.raises(ValueError, match=message):
            DemoSettings(**settings)


def test_demo_evaluates_and_rejection_samples_through_evaluation_run_directories(tiny_demo_run):
    # Every demo model is evaluated into run_dir/eval/<model>/ (the layout efficient_trl.analysis reads), and the
    # baselines' rejection sampling is an evaluation run too: the rows are those directories' summaries.
    run_dir, rows, settings = tiny_demo_run
    for row in rows:
        if row["family"] == "cutoff":
            continue
        directory = run_dir / "eval" / row["name"].replace("=", "_").replace(",", "_")
        summary = json.loads((directory / "summary.json").read_text())
        assert summary["accuracy"] == row["accuracy"] and summary["mean_tokens"] == row["mean_tokens"]
        assert (summary["k"], summary["max_new_tokens"], summary["dataset"]) == (1, 120, "held-out sums")
    start = json.loads((run_dir / "eval" / "start" / "summary.json").read_text())
    assert [row["cutoff"] for row in start["cutoff_baseline"]] == [30, 60]
    assert [row["accuracy"] for row in rows if row["family"] == "cutoff"] == [
        row["accuracy"] for row in start["cutoff_baseline"]
    ]
    sampled = json.loads((run_dir / "rejection_sampling" / "summary.json").read_text())
    assert (sampled["k"], sampled["temperature"], sampled["num_problems"]) == (4, 1.0, 8)
    assert not list(run_dir.glob("samples_*.jsonl"))


def test_demo_report_plots_every_model_of_its_table(tiny_demo_run):
    # The path recipes/demo.py takes (make demo / sweep / ablation): run_demo's rows straight into the report
    run_dir, rows, _ = tiny_demo_run
    table, figure = write_demo_report(run_dir, rows)
    assert (run_dir / "results.md").read_text() == table + "\n"
    assert (run_dir / "tradeoff.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    (axes,) = [axes for axes in figure.axes if axes.get_title() == "held-out sums"]
    # one marker per row of the table, at its tokens and accuracy (several models may share a point on 8 problems)
    expected = sorted((round(row["mean_tokens"], 6), round(100 * row["accuracy"], 6)) for row in rows)
    assert len(rows) == 9 and plotted_points(axes) == expected
    for name in ("start", "SFT", "DPO", "generation cutoff", "length penalty"):
        assert any(name.lower() in label.lower() for label in axes.get_legend_handles_labels()[1]), name
    assert {row["name"] for row in rows} <= {line.split("|")[1].strip() for line in table.splitlines()[2:]}


def test_demo_without_the_tasks_model_names_the_build_command(tmp_path):
    from efficient_trl.experiments.demo import run_demo

    with pytest.raises(FileNotFoundError, match=r"build-demo-model --task multi_sums --output_dir \S+"):
        run_demo(tmp_path / "run", DemoSettings(task="multi_sums"), start_model=tmp_path / "missing")
    assert not (tmp_path / "run").exists()


def test_demo_report_on_a_task_with_tiers_adds_the_tier_table_and_plot(graded_evaluations, tmp_path):
    # make demo runs on graded: its report prints the table per tier after the usual one and plots each tier
    import shutil

    from efficient_trl.analysis import format_tier_table

    shutil.copytree(graded_evaluations, tmp_path / "eval")
    rows = load_results(tmp_path, cutoff_model="start", start="start")
    table, _ = write_demo_report(tmp_path, rows)
    overall, tiers = table.split("\n\nPer tier (plot: tradeoff_tiers.png):\n\n")
    assert overall == format_tradeoff_table(rows, baseline="start") and tiers == format_tier_table(rows)
    assert (tmp_path / "results.md").read_text() == table + "\n"
    names = [line.split("|")[1].strip() for line in tiers.splitlines()[2:]]
    assert names[:2] == ["start", "alpha=0.2"] and sorted(names) == sorted(row["name"] for row in rows)
    assert all(f"{tier} accuracy" in tiers.splitlines()[0] for tier in ("easy", "medium", "hard"))
    assert (tmp_path / "tradeoff_tiers.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_demo_report_without_tiers_has_no_tier_table_or_plot(tiny_demo_run, tmp_path):
    _, rows, _ = tiny_demo_run
    table, _ = write_demo_report(tmp_path, rows)
    assert "Per tier" not in table and not (tmp_path / "tradeoff_tiers.png").exists()
