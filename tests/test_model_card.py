"""efficient_trl.model_card: the card's table and section from result rows, its hub metadata, and the section that
a rewrite replaces while the rest of the card stays; recipes/model_card.py end to end."""

import runpy
import shutil
import sys

import pytest

from efficient_trl.analysis import load_results, provenance_fields, select
from efficient_trl.model_card import (
    model_card_data,
    model_card_section,
    model_card_table,
    write_model_card,
)
from efficient_trl.rundir import MODEL_CARD_BEGIN


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
