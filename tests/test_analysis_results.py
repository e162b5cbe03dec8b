"""efficient_trl.analysis.results: result rows of evaluation run directories and training logs, each model's family
from its provenance, and the order rows come in."""

import ast
import json
import shutil
from pathlib import Path

import pytest

from efficient_trl.analysis import (
    load_results,
    load_training_log,
    load_training_logs,
    model_label,
    model_style,
    plot_tradeoff,
    select,
)
from efficient_trl.experiments.engine import START_MODELS
from efficient_trl.provenance import read_provenance, result_name
from efficient_trl.rewards import ADVANTAGE_NORMALIZATIONS
from efficient_trl.synthetic import graded_problems
from efficient_trl.thinking import without_thinking


def test_demo_run_results_and_logs(tiny_demo_run):
    run_dir, written, settings = tiny_demo_run
    rows = load_results(run_dir, cutoff_model="start")
    assert [row["family"] for row in rows] == ["start"] + ["alpha"] * 4 + ["cutoff"] * 2 + ["sft", "dpo"]
    assert [row["accuracy"] for row in rows] == [row["accuracy"] for row in written]

    logs = load_training_logs(run_dir)
    assert list(logs) == ["alpha=0", "alpha=0.3", "alpha=0,norm=group", "alpha=0.3,norm=group", "sft", "dpo"]
    for name in list(logs)[:4]:  # RL logs every step here: accuracy and lengths as the trainer logged them
        assert [entry["step"] for entry in logs[name]] == list(range(1, settings.steps + 1))
        assert all(0 <= entry["efficiency/accuracy"] <= 1 for entry in logs[name])


def test_evaluation_run_directories(evaluation_runs, tiny_demo_run):
    rows = load_results(evaluation_runs, cutoff_model="demo_model")
    evaluated = [row for row in rows if row["family"] != "cutoff"]
    assert sorted((row["name"], row["dataset"], row["family"]) for row in evaluated) == [
        ("alpha_0.3", "gsm8k", "alpha"), ("alpha_0.3", "math500", "alpha"),
        ("alpha_0.3_norm_group", "gsm8k", "alpha"), ("alpha_0.3_norm_group", "math500", "alpha"),
        ("demo_model", "gsm8k", "start"), ("demo_model", "math500", "start"),
    ]  # fmt: skip
    assert [row["advantage_normalization"] for row in select(rows, dataset="gsm8k", family="alpha")] == [
        "none", "group"
    ]  # fmt: skip
    summary = json.loads((evaluation_runs / "alpha_0.3" / "math500" / "summary.json").read_text())
    (row,) = select(rows, name="alpha_0.3", dataset="math500")
    assert row["accuracy"] == summary["accuracy"] and row["mean_tokens"] == summary["mean_tokens"]
    assert row["alpha"] == 0.3 and row["k"] == 2
    # evaluate() copied the provenance training wrote next to the weights; the starting model's is the shipped one
    assert summary["provenance"] == read_provenance(tiny_demo_run[0] / "alpha_0.3") == row["provenance"]
    assert row["trainer"] == "grpo" and row["length_reward"] == {
        "name": "sigmoid",
        "alpha": 0.3,
        "eps": 1e-7,
        "measure": "completion",
    }
    assert select(rows, name="demo_model")[0]["provenance"] == read_provenance(START_MODELS["sums"])
    cutoffs = select(rows, family="cutoff", dataset="gsm8k")
    assert [row["cutoff"] for row in cutoffs] == [8000, 16000, 20000, 24000, 32000]
    assert len(plot_tradeoff(rows).axes) == 2
    with pytest.raises(ValueError, match="no model named 'base'"):
        load_results(evaluation_runs, cutoff_model="base")


def test_a_model_is_what_its_provenance_says_not_what_its_directory_is_called(tiny_demo_run, tmp_path):
    from efficient_trl.evaluation import evaluate
    from efficient_trl.sampling import SamplingSettings

    # trained at alpha 0.3 with unnormalized advantages, then saved under a misleading name
    misleading = tmp_path / "alpha_0.4_norm_group"
    shutil.copytree(tiny_demo_run[0] / "alpha_0.3", misleading)
    sampling = SamplingSettings(k=1, max_new_tokens=8)
    evaluate(str(misleading), "gsm8k", tmp_path / "eval" / misleading.name, sampling, num_problems=2)
    (row,) = load_results(tmp_path / "eval")
    assert (row["name"], row["family"], row["alpha"], row["advantage_normalization"]) == (
        "alpha_0.4_norm_group", "alpha", 0.3, "none"
    )  # fmt: skip
    honest = {"name": "alpha_0.3", "family": "alpha", "alpha": 0.3, "advantage_normalization": "none", "lora": False}
    assert model_label(row) == "alpha=0.3" and model_style(row) == model_style(honest)
    figure = plot_tradeoff([row])
    assert "alpha=0.3" in figure.axes[0].get_legend_handles_labels()[1]
    assert "length penalty" in figure.axes[0].get_legend_handles_labels()[1]  # a solid line: no normalization


def test_evaluations_without_provenance_load_with_one_warning(evaluation_runs, tmp_path):
    tree = tmp_path / "eval"
    shutil.copytree(evaluation_runs, tree)
    for path in tree.rglob("summary.json"):  # as written before evaluate() recorded provenance
        summary = json.loads(path.read_text())
        del summary["provenance"]
        path.write_text(json.dumps(summary))
    with pytest.warns(UserWarning, match=r"6 evaluation\(s\) .* before efficient-trl recorded provenance") as caught:
        rows = load_results(tree, start="demo_model")
    assert len([w for w in caught if "provenance" in str(w.message)]) == 1
    assert "rerun recipes/evaluate.py with the same command" in str(caught[0].message).lower()
    families = {row["name"]: row["family"] for row in rows}
    # a name that says alpha is not believed: without provenance the model is taken as untrained
    assert families == {"demo_model": "start", "alpha_0.3": "model", "alpha_0.3_norm_group": "model"}


def test_unfinished_and_duplicate_evaluations_are_not_passed_over(evaluation_runs, tmp_path):
    tree = tmp_path / "eval"
    shutil.copytree(evaluation_runs, tree)
    (tree / "alpha_0.3" / "gsm8k" / "summary.json").unlink()  # as if still running
    with pytest.warns(UserWarning, match=r"left out unfinished evaluations .*alpha_0.3/gsm8k"):
        rows = load_results(tree)
    assert len(select(rows, name="alpha_0.3")) == 1
    shutil.copytree(tree / "demo_model" / "math500", tree / "demo_model" / "math500-max64")
    with pytest.raises(ValueError, match="two evaluations of 'demo_model' on 'math500'"):
        load_results(tree)


def test_training_log_from_the_newest_checkpoint(tiny_demo_run, tmp_path):
    state = json.loads((tiny_demo_run[0] / "alpha_0" / "trainer_state.json").read_text())
    output_dir = tmp_path / "runs" / "alpha_0.1"
    for step in (3, 10):  # numeric order, not lexicographic: checkpoint-10 is the newest
        (output_dir / f"checkpoint-{step}").mkdir(parents=True)
        logged = {**state, "log_history": [{**e, "step": step} for e in state["log_history"]]}
        (output_dir / f"checkpoint-{step}" / "trainer_state.json").write_text(json.dumps(logged))
    (tmp_path / "runs" / "eval").mkdir()  # not a training output: skipped
    assert {entry["step"] for entry in load_training_log(output_dir)} == {10}
    assert list(load_training_logs(output_dir)) == ["alpha_0.1"]
    assert list(load_training_logs(tmp_path / "runs")) == ["alpha_0.1"]  # a directory of training output dirs
    assert result_name(output_dir / "checkpoint-10") == "alpha_0.1/checkpoint-10"


def test_clear_errors_for_missing_or_old_outputs(tmp_path):
    with pytest.raises(FileNotFoundError, match="no results under"):
        load_results(tmp_path)
    with pytest.raises(FileNotFoundError, match="no training log in"):
        load_training_log(tmp_path)
    with pytest.raises(FileNotFoundError, match="no training logs in or under"):
        load_training_logs(tmp_path)
    (tmp_path / "results.json").write_text(json.dumps([{"name": "start", "accuracy": 1.0}]))
    with pytest.raises(
        ValueError, match=r"demo run in the old layout .*no longer reads: rerun it with `efficient-trl demo`"
    ):
        load_results(tmp_path)
    (tmp_path / "eval").mkdir()
    summary = {"model": "m", "dataset": "d", "accuracy": 1.0, "provenance": None}
    (tmp_path / "eval" / "summary.json").write_text(json.dumps(summary))
    with pytest.raises(ValueError, match=r"lacks \['accuracy_stderr', 'mean_tokens'\]; .* rerun"):
        load_results(tmp_path)


def test_in_a_chain_of_trainings_only_the_root_is_the_start(tmp_path):
    # start -> budget SFT (prompts with budgets) -> L1 RL: the SFT stage is a model of its own, not the start (though
    # the RL names it as its base) and not the SFT baseline (its prompts carried budgets)
    def provenance(trainer, base, **data):
        return {"schema": 1, "trainer": trainer, "base_model": {"name_or_path": base, "fingerprint": base},
                "length_reward": {"name": "l1_exact", "a": 0.01} if trainer == "grpo" else None,
                "data": {"dataset": "sums", **data}}  # fmt: skip

    models = {
        "start": None,
        "stage1": provenance("sft", "start", budget_template="exact", budget_spread=0.1),
        "stage2": provenance("grpo", "stage1", budget_range=[40, 140], budget_template="exact"),
        "sft": provenance("sft", "start"),
    }
    for name, recorded in models.items():
        summary = {"model": f"runs/{name}", "dataset": "sums", "accuracy": 0.9, "accuracy_stderr": 0.01,
                   "mean_tokens": 50.0, "model_fingerprint": name, "provenance": recorded}  # fmt: skip
        (tmp_path / name).mkdir()
        (tmp_path / name / "summary.json").write_text(json.dumps(summary))
    rows = load_results(tmp_path)
    assert {row["name"]: row["family"] for row in rows} == {
        "start": "start", "stage1": "model", "stage2": "l1_exact", "sft": "sft"
    }  # fmt: skip


def test_rows_come_in_the_order_of_the_families_then_normalization_lora_and_alpha(tmp_path):
    def provenance(trainer, alpha=None, normalization="none", lora=False, reward="sigmoid"):
        length_reward = {"name": reward, "alpha": alpha} if trainer == "grpo" else None
        return {"schema": 1, "trainer": trainer, "length_reward": length_reward,
                "advantage_normalization": normalization, "lora": lora}  # fmt: skip

    models = {  # written in an order unlike the one expected
        "dpo": provenance("dpo"),
        "batch_0.1": provenance("grpo", 0.1, "batch"),
        "lora_0.1": provenance("grpo", 0.1, lora=True),
        "group_0.1": provenance("grpo", 0.1, "group"),
        "none_0.2": provenance("grpo", 0.2),
        "kimi": provenance("grpo", reward="kimi"),
        "none_0.1": provenance("grpo", 0.1),
        "sft": provenance("sft"),
        "start": None,
    }
    for name, recorded in models.items():
        summary = {"model": f"runs/{name}", "dataset": "sums", "accuracy": 0.9, "accuracy_stderr": 0.01,
                   "mean_tokens": 50.0, "provenance": recorded}  # fmt: skip
        (tmp_path / name).mkdir()
        (tmp_path / name / "summary.json").write_text(json.dumps(summary))
    names = [row["name"] for row in load_results(tmp_path, start="start")]
    # normalizations in the order the trainers define them, whatever the figures' styles are
    assert ADVANTAGE_NORMALIZATIONS == ("none", "group", "batch", "batch_token")
    assert names == ["start", "none_0.1", "none_0.2", "lora_0.1", "group_0.1", "batch_0.1", "kimi", "sft", "dpo"]


def test_results_import_neither_tables_nor_plots():
    # imports flow one way (results <- tables <- plots): the order and families of rows are the results' own
    source = Path(__file__).resolve().parents[1] / "efficient_trl" / "analysis" / "results.py"
    imported = {node.module for node in ast.walk(ast.parse(source.read_text())) if isinstance(node, ast.ImportFrom)}
    assert imported & {"tables", "styles", "plots"} == set()
    assert {"length_rewards", "provenance", "rewards"} <= imported


def test_tier_rows_are_the_models_rows_with_each_tiers_figures(graded_evaluations):
    from efficient_trl.analysis import tier_rows

    rows = load_results(graded_evaluations, cutoff_model="start", start="start")
    by_tier = tier_rows(rows)
    assert [(row["name"], row["tier"]) for row in by_tier] == [
        (name, tier)
        for name in ("start", "alpha=0.2", "cutoff=40", "cutoff=80")
        for tier in ("easy", "medium", "hard")
    ]
    for row in by_tier:
        if row["family"] == "cutoff":  # the cutoff baseline on the tier's samples of the start model
            summary = json.loads((graded_evaluations / "start" / "summary.json").read_text())
            (figures,) = [
                c for c in summary["by_tier"][row["tier"]]["cutoff_baseline"] if c["cutoff"] == row["cutoff"]
            ]
        else:
            summary = json.loads((graded_evaluations / row["name"] / "summary.json").read_text())
            figures = summary["by_tier"][row["tier"]]
        assert {key: row[key] for key in figures} == figures and "by_tier" not in row
        assert row["family"] == select(rows, name=row["name"])[0]["family"]
    # results without tiers give no tier rows
    assert tier_rows([{key: value for key, value in row.items() if key != "by_tier"} for row in rows]) == []


def test_an_older_runs_shaped_reward_is_read_under_its_current_name():
    # The committed sweep logged the shaped reward as rewards/math_accuracy_reward/mean; it reads as
    # rewards/length_reward/mean beside it, and its file stays as it was
    from efficient_trl.analysis import load_training_log

    state = Path(__file__).parents[1] / "notebooks" / "demo_runs" / "sweep" / "alpha_0.2" / "trainer_state.json"
    before = state.read_text()
    log = load_training_log(state.parent)
    assert log and all(e["rewards/length_reward/mean"] == e["rewards/math_accuracy_reward/mean"] for e in log)
    assert all(e["rewards/length_reward/mean"] <= e["efficiency/accuracy"] + 1e-9 for e in log)  # shaped <= accuracy
    assert state.read_text() == before


def test_rows_carry_the_share_of_answers_without_thinking_and_old_summaries_load_as_before(graded_evaluations):
    from efficient_trl.analysis import tier_rows

    # a new evaluation records it, as its samples' text says, for the whole run, each tier and each cutoff (the
    # cutoffs are the start model's samples cut: its rate)
    rows = load_results(graded_evaluations, cutoff_model="start", start="start")
    problems = graded_problems(6, seed=3, split="held_out")
    opened = {}
    for name in ("start", "alpha=0.2"):
        samples = [json.loads(line) for line in (graded_evaluations / name / "samples.jsonl").read_text().splitlines()]
        opened[name] = [
            (problems["tier"][s["problem_index"]], without_thinking(s["text"]), s["correct"]) for s in samples
        ]
    rate = {name: sum(o for _, o, _ in marks) / len(marks) for name, marks in opened.items()}
    assert [row["no_think_rate"] for row in rows] == [rate["start"], rate["alpha=0.2"], rate["start"], rate["start"]]
    for row in tier_rows(rows):
        marks = [o for tier, o, _ in opened["start" if row["name"].startswith("cutoff") else row["name"]]
                 if tier == row["tier"]]  # fmt: skip
        assert row["no_think_rate"] == sum(marks) / len(marks)
    start = select(rows, name="start")[0]
    # each mode's accuracy is over that mode's samples
    for mode, flag in (("think", False), ("no_think", True)):
        right = [c for _, o, c in opened["start"] if o == flag]
        assert start["by_mode"][mode]["accuracy"] == (pytest.approx(sum(right) / len(right)) if right else None)
    # the committed demo runs' summaries predate it: they load as they did, with no_think_rate None
    old = load_results(Path(__file__).resolve().parents[1] / "notebooks" / "demo_runs" / "sweep", cutoff_model="start")
    assert old and all(row["no_think_rate"] is None and "by_mode" not in row for row in old)
