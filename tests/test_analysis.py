import json
import runpy
import shutil
import sys
from pathlib import Path

import pytest

from efficient_trl.analysis import (
    format_tradeoff_table,
    load_results,
    load_training_log,
    load_training_logs,
    model_label,
    model_style,
    plot_normalization_ablation,
    plot_tradeoff,
    plot_training_dynamics,
    provenance_fields,
    result_name,
    select,
)
from efficient_trl.demo import DEMO_MODEL_DIR, write_demo_report
from efficient_trl.model_card import (
    MODEL_CARD_BEGIN,
    model_card_data,
    model_card_section,
    model_card_table,
    write_model_card,
)
from efficient_trl.provenance import read_provenance


def test_tradeoff_table_and_plot(tmp_path):
    rows = [
        {"name": "start", "dataset": "d", "accuracy": 0.9, "accuracy_stderr": 0.01, "mean_tokens": 100.0},
        {"name": "alpha=0.2", "dataset": "d", "accuracy": 0.88, "accuracy_stderr": 0.01, "mean_tokens": 60.0},
    ]
    table = format_tradeoff_table(rows, baseline="start")
    assert "| alpha=0.2 | 88.0% ± 1.0 | 60.0 | -40.0% | -2.0 pts |" in table
    with pytest.raises(ValueError, match="no row named 'base'"):
        format_tradeoff_table(rows, baseline="base")
    figure = plot_tradeoff([{**row, "family": "model"} for row in rows], tmp_path / "plot.png")
    assert (tmp_path / "plot.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and len(figure.axes) == 1
    # several datasets: each row is compared with the baseline on its own dataset
    other = [{**row, "dataset": "e", "mean_tokens": row["mean_tokens"] * 2} for row in rows]
    table = format_tradeoff_table(rows + other[:1], baseline="start")
    assert table.splitlines()[0].startswith("| dataset | model |") and "| e | start |" in table
    with pytest.raises(ValueError, match=r"on \['e'\]"):
        format_tradeoff_table(rows + other[1:], baseline="start")


def test_demo_run_results_logs_and_figures(tiny_demo_run):
    run_dir, written, settings = tiny_demo_run
    rows = load_results(run_dir, cutoff_model="start")
    assert [row["family"] for row in rows] == ["start"] + ["alpha"] * 4 + ["cutoff"] * 2 + ["sft", "dpo"]
    assert [row["accuracy"] for row in rows] == [row["accuracy"] for row in written]

    logs = load_training_logs(run_dir)
    assert list(logs) == ["alpha=0", "alpha=0.3", "alpha=0,norm=group", "alpha=0.3,norm=group", "sft", "dpo"]
    for name in list(logs)[:4]:  # RL logs every step here: accuracy and lengths as the trainer logged them
        assert [entry["step"] for entry in logs[name]] == list(range(1, settings.steps + 1))
        assert all(0 <= entry["efficiency/accuracy"] <= 1 for entry in logs[name])

    figure = plot_training_dynamics(logs)
    accuracy_axes, length_axes = figure.axes
    # one line per model with the metric: the SFT/DPO logs have no RL accuracy and are left out
    # labelled by how each model was trained (its provenance.json)
    assert [line.get_label() for line in accuracy_axes.get_lines()] == [
        "alpha=0", "alpha=0.3", "alpha=0, group-normalized", "alpha=0.3, group-normalized"
    ]  # fmt: skip
    line = accuracy_axes.get_lines()[1]
    assert list(line.get_ydata()) == pytest.approx([100 * e["efficiency/accuracy"] for e in logs["alpha=0.3"]])
    assert list(length_axes.get_lines()[0].get_ydata()) == [e["completions/mean_length"] for e in logs["alpha=0"]]
    with pytest.raises(ValueError, match="no training log has 'nope'"):
        plot_training_dynamics(logs, metrics=(("nope", "nope", 1.0),))

    tradeoff = plot_tradeoff(rows)
    labels = [text.get_text() for text in tradeoff.axes[0].texts]
    assert {"α=0", "α=0.3", "≤30", "≤60"} <= set(labels)
    assert tradeoff.axes[0].get_title() == "held-out sums"

    ablation = plot_normalization_ablation(rows, logs)
    assert len(ablation.axes) == 3
    styles = {line.get_label(): line.get_linestyle() for line in ablation.axes[0].get_lines()}
    assert styles == {
        "alpha=0": "-", "alpha=0.3": "-", "alpha=0, group-normalized": "--", "alpha=0.3, group-normalized": "--"
    }  # fmt: skip
    with pytest.raises(ValueError, match="two or more advantage normalizations"):
        plot_normalization_ablation(select(rows, advantage_normalization="none"), logs)


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
    assert select(rows, name="demo_model")[0]["provenance"] == read_provenance(DEMO_MODEL_DIR)
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


def test_the_committed_demo_runs_are_their_old_results_converted(tmp_path):
    from efficient_trl.demo import convert_legacy_demo_run

    committed = Path(__file__).resolve().parents[1] / "notebooks" / "demo_runs" / "sweep"
    legacy = tmp_path / "sweep"  # the old layout: results.json, settings.json and the training logs
    for path in ["settings.json", "rejection_sampling_report.json", *committed.glob("*/trainer_state.json")]:
        relative = Path(path).relative_to(committed) if Path(path).is_absolute() else Path(path)
        (legacy / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(committed / relative, legacy / relative)
    old_rows = json.loads((Path(__file__).parent / "data" / "legacy_sweep_results.json").read_text())
    (legacy / "results.json").write_text(json.dumps(old_rows))
    with pytest.raises(ValueError, match="old layout"):
        load_results(legacy)
    converted = convert_legacy_demo_run(legacy)
    assert not (legacy / "results.json").exists()
    assert load_results(legacy, cutoff_model="start") == converted
    # the same rows, in the same order, with the same figures as the old results.json
    figures = ("name", "accuracy", "accuracy_stderr", "mean_tokens", "mean_tokens_stderr", "num_samples")
    assert [[row[key] for key in figures] for row in converted] == [[row[key] for key in figures] for row in old_rows]
    assert [row["family"] for row in converted] == ["start"] + ["alpha"] * 5 + ["cutoff"] * 3 + ["sft", "dpo"]
    alphas = [row["alpha"] for row in old_rows if row.get("advantage_normalization")]
    assert [row["alpha"] for row in select(converted, family="alpha")] == alphas
    # ... and they are what notebooks/demo_runs/sweep holds
    committed_rows = load_results(committed, cutoff_model="start")
    assert [{**row, "run_dir": None} for row in converted] == [{**row, "run_dir": None} for row in committed_rows]
    for name in ("alpha_0.2", "sft"):
        assert json.loads((legacy / name / "provenance.json").read_text()) == read_provenance(committed / name)


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


def test_normalization_ablation_from_evaluation_and_training_runs(evaluation_runs, ablation_training_dirs):
    # A user's own ablation: evaluation runs, and training output directories named as the demo names its models
    rows, logs = load_results(evaluation_runs), load_training_logs(ablation_training_dirs)
    with pytest.raises(ValueError, match="several datasets"):
        plot_normalization_ablation(rows, logs)
    figure = plot_normalization_ablation(rows, logs, dataset="math500")
    styles = {line.get_label(): line.get_linestyle() for line in figure.axes[0].get_lines()}
    assert styles == {"alpha=0.3": "-", "alpha=0.3, group-normalized": "--"}
    held_out_labels = figure.axes[2].get_legend_handles_labels()[1]
    assert held_out_labels == ["alpha=0.3", "alpha=0.3, group-normalized", "demo_model"]
    with pytest.warns(UserWarning, match=r"left out \['alpha_0.3_norm_group'\]: no training log"):
        with pytest.raises(ValueError, match="two or more advantage normalizations"):
            plot_normalization_ablation(rows, {"alpha_0.3": logs["alpha_0.3"]}, dataset="math500")


def test_model_card(evaluation_runs, tiny_demo_run, tmp_path):
    rows = load_results(evaluation_runs)
    table = model_card_table(rows, model="alpha_0.3", start="demo_model")
    start, trained = select(rows, name="demo_model", dataset="gsm8k")[0], select(rows, name="alpha_0.3")[0]
    change = 100 * (trained["mean_tokens"] / start["mean_tokens"] - 1)
    assert f"| gsm8k | {100 * start['accuracy']:.1f}% | {100 * trained['accuracy']:.1f}% |" in table
    assert f"| {change:+.1f}% |" in table.splitlines()[2]
    assert "gsm8k k=2, temperature 0.6, up to 24 tokens" in table

    checkpoint = tmp_path / "alpha_0.3"
    shutil.copytree(tiny_demo_run[0] / "alpha_0.3", checkpoint)
    (checkpoint / "README.md").write_text("---\nlicense: apache-2.0\n---\n# My model\n\nNotes I wrote.\n")
    card = write_model_card(checkpoint, table)
    first = card.read_text()
    assert first.startswith("---\nlicense: apache-2.0\n---\n# My model\n\nNotes I wrote.\n\n" + MODEL_CARD_BEGIN)
    (checkpoint / "README.md").write_text(first + "\nMore notes.\n")
    write_model_card(checkpoint, table.replace("gsm8k", "GSM8K"))
    second = card.read_text()
    assert second.count(MODEL_CARD_BEGIN) == 1 and "| GSM8K |" in second and "| gsm8k |" not in second
    assert second.endswith("\nMore notes.\n") and "Notes I wrote." in second

    with pytest.raises(ValueError, match="no results for 'alpha_9'"):
        model_card_table(rows, model="alpha_9", start="demo_model")
    with pytest.raises(ValueError, match="'alpha_0.3' has no results on"):
        model_card_table(select(rows, dataset="gsm8k", name="demo_model"), model="demo_model", start="alpha_0.3")
    with pytest.raises(FileNotFoundError, match="not a saved model"):
        write_model_card(tmp_path, table)


def test_model_card_for_the_hub(evaluation_runs, tiny_demo_run, tmp_path):
    from huggingface_hub import ModelCard

    rows = load_results(evaluation_runs)
    checkpoint = tmp_path / "alpha_0.3"
    shutil.copytree(tiny_demo_run[0] / "alpha_0.3", checkpoint)
    trl_card = "---\nlibrary_name: transformers\nmodel_name: alpha_0.3\ntags:\n- trl\n- grpo\n---\n# TRL's card\n"
    (checkpoint / "README.md").write_text(trl_card)  # what TRL's push_to_hub leaves
    base = "deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B"
    section = model_card_section(rows, model="alpha_0.3", start="demo_model", base_model=base)
    data = model_card_data(rows, model="alpha_0.3", start="demo_model", base_model=base, datasets=["my/data"])
    for _ in range(2):  # rerunning rewrites the same card
        path = write_model_card(checkpoint, section, data=data)
    card = ModelCard.load(path)  # parsed back as the hub parses it
    assert (
        card.data.base_model == base and card.data.datasets == ["my/data"] and card.data.library_name == "transformers"
    )
    assert card.data.tags == ["trl", "grpo", "efficient-trl", "reasoning", "length-penalty", "arxiv:2502.04463"]
    assert card.text.startswith("# TRL's card\n") and card.text.count(MODEL_CARD_BEGIN) == 1
    assert f"`{base}`" in card.text and "arxiv.org/abs/2502.04463" in card.text and "alpha = 0.3" in card.text
    assert model_card_table(rows, model="alpha_0.3", start="demo_model") in card.text
    assert "k=2, temperature 0.6, up to 24 tokens" in card.text  # the evaluation settings
    # the model-index: accuracy and mean tokens of every evaluation of the model, as evaluate() summarized them
    index = {(result.dataset_name, result.metric_type): result for result in card.data.eval_results}
    assert card.data.model_name == "alpha_0.3" and len(index) == len(card.data.eval_results) == 4
    for row in select(rows, name="alpha_0.3"):
        assert index[row["dataset"], "accuracy"].metric_value == row["accuracy"]
        assert index[row["dataset"], "mean_tokens"].metric_value == row["mean_tokens"]
    assert index["gsm8k", "accuracy"].dataset_type == "openai/gsm8k"
    assert index["math500", "accuracy"].dataset_type == "HuggingFaceH4/MATH-500"
    # the base model comes from the starting model's evaluations when they name a hub model
    hub_rows = [{**row, "model": base} if row["name"] == "demo_model" else row for row in rows]
    assert model_card_data(hub_rows, model="alpha_0.3", start="demo_model").base_model == base
    assert f"`{base}`" in model_card_section(hub_rows, model="alpha_0.3", start="demo_model")
    with pytest.raises(ValueError, match="no results for 'alpha_9'"):
        model_card_data(rows, model="alpha_9", start="demo_model")


def test_model_card_takes_base_model_data_and_settings_from_provenance():
    provenance = {
        "schema": 1, "trainer": "grpo", "base_model": {"name_or_path": "deepseek-ai/R1-1.5B", "fingerprint": "f"},
        "length_reward": {"name": "sigmoid", "alpha": 0.2, "measure": "completion"},
        "advantage_normalization": "none", "learning_rate": 1e-6, "max_steps": 100, "global_step": 100, "seed": 0,
        "num_generations": 8, "beta": 1e-3, "data": {"dataset": "you/math-3.2k", "num_problems": 3200}, "lora": False,
    }  # fmt: skip
    row = {"dataset": "gsm8k", "accuracy": 0.8, "accuracy_stderr": 0.01, "mean_tokens": 100.0}
    rows = [
        {**row, "name": "base", "family": "start", "model": "/local/copy/of/base"},
        {**row, "name": "mine", "mean_tokens": 60.0, "provenance": provenance, **provenance_fields(provenance)},
    ]
    data = model_card_data(rows, model="mine", start="base")
    assert (data.base_model, data.datasets) == ("deepseek-ai/R1-1.5B", ["you/math-3.2k"])
    section = model_card_section(rows, model="mine", start="base")
    assert "from `deepseek-ai/R1-1.5B`" in section and "at alpha = 0.2" in section
    assert "trainer GRPO; length reward sigmoid (alpha 0.2, measure completion); advantage normalization none; " \
        "learning rate 1e-06; 100 steps; seed 0; data `you/math-3.2k` (3200 examples)." in section  # fmt: skip
    # what the user passes wins
    assert model_card_data(rows, model="mine", start="base", base_model="a/b", datasets=["c/d"]).datasets == ["c/d"]


def test_model_card_recipe(evaluation_runs, tiny_demo_run, tmp_path, monkeypatch, capsys):
    checkpoint = tmp_path / "runs" / "alpha_0.3"
    shutil.copytree(tiny_demo_run[0] / "alpha_0.3", checkpoint)
    argv = ["model_card.py", "--checkpoint", str(checkpoint), "--results", str(evaluation_runs)]
    monkeypatch.setattr(sys, "argv", [*argv, "--start", "demo_model"])
    runpy.run_path("recipes/model_card.py", run_name="__main__")
    card = (checkpoint / "README.md").read_text()
    assert "| math500 |" in card and "| gsm8k |" in card and str(checkpoint / "README.md") in capsys.readouterr().out
    from huggingface_hub import ModelCard

    assert len(ModelCard.load(checkpoint / "README.md").data.eval_results) == 4  # gsm8k, math500 x accuracy, tokens
    monkeypatch.setattr(sys, "argv", [*argv, "--start", "demo_model", "--push_to_hub"])
    with pytest.raises(SystemExit):
        runpy.run_path("recipes/model_card.py", run_name="__main__")
    assert "--push_to_hub needs --hub_model_id" in capsys.readouterr().err


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
    with pytest.raises(ValueError, match=r"demo run in the old layout .*convert_legacy_demo_run\("):
        load_results(tmp_path)
    (tmp_path / "eval").mkdir()
    summary = {"model": "m", "dataset": "d", "accuracy": 1.0, "provenance": None}
    (tmp_path / "eval" / "summary.json").write_text(json.dumps(summary))
    with pytest.raises(ValueError, match=r"lacks \['accuracy_stderr', 'mean_tokens'\]; .* rerun"):
        load_results(tmp_path)


def plotted_points(axes) -> list[tuple[float, float]]:
    """Every data marker a panel shows, as (tokens, accuracy %) rounded to 6 digits, error bar caps left out."""
    return sorted(
        (round(float(x), 6), round(float(y), 6))
        for line in axes.get_lines()
        if line.get_marker() not in (None, "None", "", " ", "_")
        for x, y in line.get_xydata()
    )


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


def test_lora_models_get_a_curve_of_their_own():
    # recipes/deepseek-r1-distill-qwen-1.5b/lora_alpha_0.2.yaml writes a LoRA adapter beside the full alpha_0.2;
    # what tells it apart is its provenance's `lora`, whatever the directory is called
    row = {
        "dataset": "d",
        "accuracy": 0.9,
        "accuracy_stderr": 0.01,
        "family": "alpha",
        "advantage_normalization": "none",
        "lora": False,
    }
    rows = [{**row, "name": "alpha_0.1", "alpha": 0.1, "mean_tokens": 80.0}]
    rows += [{**row, "name": "alpha_0.2", "alpha": 0.2, "mean_tokens": 60.0}]
    rows += [{**row, "name": "adapter", "alpha": 0.2, "mean_tokens": 70.0, "lora": True}]
    rows += [{**row, "name": "alpha_0.2_lora", "alpha": 0.2, "mean_tokens": 50.0}]  # a full model, whatever its name
    curves = {line.get_label(): list(line.get_xdata()) for line in plot_tradeoff(rows).axes[0].get_lines()
              if line.get_label().startswith("length penalty")}  # fmt: skip
    assert curves == {"length penalty": [80.0, 60.0, 50.0], "length penalty (LoRA)": [70.0]}
    assert model_style(rows[2])["color"] == model_style(rows[1])["color"]
    assert model_style(rows[2])["marker"] != model_style(rows[1])["marker"] == model_style(rows[3])["marker"] == "o"
    assert model_label(rows[2]) == "alpha=0.2, LoRA"


def test_plot_tradeoff_refuses_rows_it_cannot_place():
    row = {"name": "alpha=0.2", "dataset": "d", "accuracy": 0.9, "accuracy_stderr": 0.01, "mean_tokens": 60.0}
    with pytest.raises(ValueError, match=r"cannot place \['alpha=0.2', 'mine'\] .*family"):
        plot_tradeoff([row, {**row, "name": "mine", "family": "mystery"}, {**row, "name": "s", "family": "start"}])
    with pytest.raises(ValueError, match=r"cannot place \['alpha=0.2'\] .*alpha"):
        plot_tradeoff([{**row, "family": "alpha"}])


def _pixel_boxes(figure, artists):
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = FigureCanvasAgg(figure)  # lays the figure out and draws it, as the notebook shows it
    canvas.draw()
    renderer = canvas.get_renderer()
    return [artist.get_window_extent(renderer) for artist in artists]


def _colors_by_label(figure) -> dict[str, str]:
    from matplotlib.colors import to_hex

    colors = {}
    for axes in figure.axes:
        for container in axes.containers:  # error bar points
            colors.setdefault(container.get_label(), set()).add(to_hex(container.lines[0].get_color()))
        for line in axes.get_lines():
            colors.setdefault(line.get_label(), set()).add(to_hex(line.get_color()))
    return {label: found for label, found in colors.items() if not label.startswith("_")}


def test_notebook_figures_are_readable():
    # The committed demo runs the notebooks show (notebooks/demo_runs), drawn as the notebooks draw them
    sweep = Path(__file__).resolve().parents[1] / "notebooks" / "demo_runs" / "sweep"
    rows = load_results(sweep, cutoff_model="start")
    tradeoff = plot_tradeoff(rows)
    (axes,) = tradeoff.axes
    # point labels (alpha, cutoff) do not overlap one another
    boxes = _pixel_boxes(tradeoff, axes.texts)
    assert len(boxes) == 8
    assert not [(a, b) for i, a in enumerate(boxes) for b in boxes[i + 1 :] if a.overlaps(b)]
    # the legend is outside the panel, so it hides no point or line
    (legend,) = tradeoff.legends
    legend_box, panel_box = _pixel_boxes(tradeoff, [legend, axes])
    assert not legend_box.overlaps(panel_box)
    # every model's error bar is visible: at least 6 pixels tall in the zoomed inset (the cutoff stretches the
    # main axis from 0 to 100%, where they are a pixel or two)
    (inset,) = axes.child_axes
    for row in select(rows, family="alpha") + select(rows, family="start"):
        low, high = (100 * (row["accuracy"] + sign * row["accuracy_stderr"]) for sign in (-1, 1))
        pixels = inset.transData.transform([(row["mean_tokens"], low), (row["mean_tokens"], high)])
        assert pixels[1][1] - pixels[0][1] >= 6, row["name"]
    # SFT and DPO look like no alpha point: own marker and colour
    markers = {c.get_label(): (c.lines[0].get_marker(), c.lines[0].get_color()) for c in axes.containers}
    alpha_looks = {markers[model_label(row)] for row in select(rows, family="alpha")}
    assert markers["SFT baseline"] != markers["DPO baseline"]
    for baseline in ("SFT baseline", "DPO baseline"):
        assert markers[baseline][0] not in {m for m, _ in alpha_looks}
        assert markers[baseline][1] not in {c for _, c in alpha_looks}

    # the same model has the same colour in every figure of a notebook
    logs = load_training_logs(sweep)
    figures = [tradeoff, plot_training_dynamics(logs)]
    ablation_dir = sweep.parent / "ablation"
    ablation_rows, ablation_logs = load_results(ablation_dir), load_training_logs(ablation_dir)
    figures += [plot_normalization_ablation(ablation_rows, ablation_logs), plot_training_dynamics(ablation_logs)]
    colors: dict[str, set[str]] = {}
    for figure in figures:
        for label, found in _colors_by_label(figure).items():
            colors.setdefault(label, set()).update(found)
    every_row = {row["name"]: row for row in rows + ablation_rows}
    for name in ["alpha=0", "alpha=0.05", "alpha=0.2", "alpha=0.2,norm=group", "start", "sft", "dpo"]:
        label = model_label(every_row[name])
        assert len(colors[label]) == 1, (label, colors[label])
        assert colors[label] == {model_style(every_row[name])["color"]}
    distinct = {next(iter(colors[name])) for name in ("alpha=0", "alpha=0.05", "alpha=0.1", "alpha=0.2", "alpha=0.4")}
    assert len(distinct) == 5


def test_a_model_trained_with_another_length_reward_is_plotted_in_its_rewards_family_not_on_the_alpha_curve(tmp_path):
    kimi = {"schema": 1, "trainer": "grpo", "length_reward": {"name": "kimi", "weight": 1.0, "measure": "completion"},
            "advantage_normalization": "none", "lora": False}  # fmt: skip
    sigmoid = {**kimi, "length_reward": {"name": "sigmoid", "alpha": 0.2, "eps": 1e-7, "measure": "completion"}}
    assert provenance_fields(kimi)["family"] == "kimi" and provenance_fields(kimi)["alpha"] is None
    assert provenance_fields(sigmoid)["family"] == "alpha" and provenance_fields(sigmoid)["alpha"] == 0.2
    point = {"dataset": "sums", "accuracy": 0.9, "accuracy_stderr": 0.01}
    rows = [
        {**point, "name": "kimi-run", "mean_tokens": 50.0, **provenance_fields(kimi)},
        {**point, "name": "alpha-run", "mean_tokens": 60.0, **provenance_fields(sigmoid)},
    ]
    figure = plot_tradeoff(rows, tmp_path / "plot.png")
    plotted = {tuple(xy) for axes in figure.axes for line in axes.lines for xy in line.get_xydata().tolist()}
    assert (50.0, 90.0) in plotted and (60.0, 90.0) in plotted


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
