"""efficient_trl.model_card: the card's table and section from result rows, its hub metadata, and the section that
a rewrite replaces while the rest of the card stays; recipes/model_card.py end to end."""

import json
import runpy
import shutil
import sys
from pathlib import Path

import pytest

from efficient_trl.analysis import load_results, provenance_fields, select
from efficient_trl.model_card import (
    check_results_match,
    checkpoint_card,
    checkpoint_results_name,
    files_to_upload,
    model_card_data,
    model_card_section,
    model_card_table,
    push_checkpoint,
    write_model_card,
)
from efficient_trl.provenance import PROVENANCE_FILE, model_fingerprint, read_provenance
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
    section, data = checkpoint_card(rows, checkpoint, "alpha_0.3", "demo_model", base, ["my/data"])
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
    provenance = read_provenance(checkpoint)
    assert model_card_data(hub_rows, model="alpha_0.3", start="demo_model", provenance=provenance).base_model == base
    assert f"`{base}`" in model_card_section(hub_rows, model="alpha_0.3", start="demo_model", provenance=provenance)
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
    data = model_card_data(rows, model="mine", start="base", provenance=provenance)
    assert (data.base_model, data.datasets) == ("deepseek-ai/R1-1.5B", ["you/math-3.2k"])
    section = model_card_section(rows, model="mine", start="base", provenance=provenance)
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


def test_model_card_takes_how_the_model_was_trained_from_the_checkpoint_not_the_results():
    provenance = {
        "schema": 1, "trainer": "grpo", "base_model": {"name_or_path": "deepseek-ai/R1-1.5B", "fingerprint": "f"},
        "length_reward": {"name": "sigmoid", "alpha": 0.2, "measure": "completion"}, "advantage_normalization": "none",
        "learning_rate": 1e-6, "max_steps": 2, "global_step": 2, "seed": 0, "data": {"dataset": "you/math-3.2k"},
    }  # fmt: skip
    row = {"dataset": "gsm8k", "accuracy": 0.8, "accuracy_stderr": 0.01, "mean_tokens": 100.0}
    rows = [
        {**row, "name": "base", "family": "start", "model": "deepseek-ai/R1-1.5B"},
        {**row, "name": "mine", "mean_tokens": 60.0, "provenance": provenance, **provenance_fields(provenance)},
    ]
    # a checkpoint without provenance.json: no training settings, alpha, base model or data the results recorded
    section = model_card_section(rows, model="mine", start="base")
    assert "not recorded: its directory holds no provenance.json" in section
    assert "alpha" not in section and "GRPO" not in section and "R1-1.5B" not in section
    data = model_card_data(rows, model="mine", start="base")
    assert data.base_model is None and data.datasets is None
    # an SFT checkpoint is not said to be trained with the length-penalized RL
    sft = {**provenance, "trainer": "sft", "length_reward": None, "advantage_normalization": None}
    section = model_card_section(rows, model="mine", start="base", provenance=sft)
    assert section.startswith("Trained from `deepseek-ai/R1-1.5B` by SFT") and "length-penalized" not in section


def test_model_card_refuses_results_of_other_weights(tmp_path, tiny_model_path):
    import shutil

    checkpoint = tmp_path / "mine"
    shutil.copytree(tiny_model_path, checkpoint)
    row = {"dataset": "gsm8k", "accuracy": 0.8, "mean_tokens": 60.0, "family": "model", "name": "mine"}
    own = {**row, "model_fingerprint": model_fingerprint(str(checkpoint)), "run_dir": "runs/eval/mine/gsm8k"}
    check_results_match([own, {**row, "name": "other", "model_fingerprint": "0"}], "mine", checkpoint)
    (checkpoint / "model.safetensors").write_bytes(b"retrained" + (checkpoint / "model.safetensors").read_bytes())
    with pytest.raises(ValueError) as refused:
        check_results_match([own], "mine", checkpoint)
    message = str(refused.value)
    assert f"mine/gsm8k of 'mine' (gsm8k, model None) was made on weights {own['model_fingerprint']}" in message
    assert f"holds weights {model_fingerprint(str(checkpoint))}" in message
    assert f"python recipes/evaluate.py --model {checkpoint} --dataset gsm8k" in message
    with pytest.raises(ValueError, match="recorded no weights fingerprint"):
        check_results_match([{**row, "run_dir": "old"}], "mine", checkpoint)


def test_model_card_recipe_refuses_a_copy_of_another_model_under_the_same_name(
    evaluation_runs, tiny_demo_run, tmp_path, monkeypatch
):
    """The issue's case: the untouched demo model copied into a folder named like a trained model gets neither that
    model's numbers nor its provenance; nor does a trained model whose weights changed after its evaluation."""
    from efficient_trl.experiments.engine import START_MODELS

    impostor = tmp_path / "alpha_0.3"
    shutil.copytree(START_MODELS["sums"], impostor)
    argv = ["model_card.py", "--results", str(evaluation_runs), "--start", "demo_model", "--checkpoint"]
    monkeypatch.setattr(sys, "argv", [*argv, str(impostor)])
    with pytest.raises(ValueError, match=r"alpha_0.3/gsm8k of 'alpha_0.3' .* holds weights .*not this checkpoint"):
        runpy.run_path("recipes/model_card.py", run_name="__main__")
    assert not (impostor / "README.md").exists()

    retrained = tmp_path / "runs" / "alpha_0.3"
    shutil.copytree(tiny_demo_run[0] / "alpha_0.3", retrained)
    shutil.copy(tiny_demo_run[0] / "alpha_0.3_norm_group" / "model.safetensors", retrained)
    monkeypatch.setattr(sys, "argv", [*argv, str(retrained)])
    with pytest.raises(ValueError, match="its results are not this checkpoint's"):
        runpy.run_path("recipes/model_card.py", run_name="__main__")

    # the same weights without their provenance.json: the numbers, and no training settings
    unrecorded = tmp_path / "copy" / "alpha_0.3"
    shutil.copytree(tiny_demo_run[0] / "alpha_0.3", unrecorded)
    (unrecorded / PROVENANCE_FILE).unlink()
    monkeypatch.setattr(sys, "argv", [*argv, str(unrecorded)])
    runpy.run_path("recipes/model_card.py", run_name="__main__")
    card = (unrecorded / "README.md").read_text()
    assert "| gsm8k |" in card and "not recorded" in card and "alpha = 0.3" not in card and "GRPO" not in card


@pytest.fixture(scope="module")
def trained_output_dir(tiny_model_path, tmp_path_factory) -> Path:
    """A real training output directory, as `recipes/train.py` leaves it: a tiny GRPO run of 4 steps saving every 2
    (checkpoint-2/ and checkpoint-4/, each with its optimizer, scheduler, RNG and trainer state), then the final
    model, tokenizer, TRL's card, provenance.json and the run's settings (about 10 s)."""
    from efficient_trl.training import parse_training_arguments, train

    root = tmp_path_factory.mktemp("trained")
    problems = root / "problems.jsonl"
    problems.write_text("".join(json.dumps({"problem": f"{a}+{a}=", "answer": str(2 * a)}) + "\n" for a in range(16)))
    argv = ["--model_name_or_path", tiny_model_path, "--dataset_name", str(problems), "--output_dir", f"{root}/run"]
    argv += ["--num_generations", "4", "--per_device_train_batch_size", "8", "--max_completion_length", "12"]
    argv += ["--max_steps", "4", "--save_steps", "2", "--use_cpu", "true", "--bf16", "false", "--report_to", "none"]
    train(*parse_training_arguments(argv))
    return root / "run"


def listing(directory: Path) -> list[str]:
    return sorted(path.relative_to(directory).as_posix() for path in directory.rglob("*") if path.is_file())


# What the tiny run's final model is, file by file: weights, configs, tokenizer, chat template, card, provenance
FINAL_MODEL = [
    "README.md", "chat_template.jinja", "config.json", "generation_config.json", "model.safetensors",
    "provenance.json", "tokenizer.json", "tokenizer_config.json",
]  # fmt: skip


@pytest.mark.slow
def test_the_upload_selects_the_final_model_of_a_training_output_directory(trained_output_dir):
    every = listing(trained_output_dir)
    # what must stay home is there: checkpoints with their optimizer state, the trainer's state and settings
    for path in ("checkpoint-2/optimizer.pt", "checkpoint-4/scheduler.pt", "checkpoint-4/rng_state.pth"):
        assert path in every
    assert {"trainer_state.json", "training_args.bin", "efficient_trl_run.json"} <= set(every)
    assert files_to_upload(every) == FINAL_MODEL
    # a checkpoint folder passed as the model: its weights and tokenizer, not its optimizer, RNG or trainer state
    assert files_to_upload(listing(trained_output_dir / "checkpoint-4")) == [
        name for name in FINAL_MODEL if name != "README.md"
    ]


def test_the_upload_selects_sharded_weights_and_adapters_and_never_training_state():
    paths = [
        "model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors", "model.safetensors.index.json",
        "adapter_config.json", "adapter_model.safetensors", "additional_chat_templates/tool_use.jinja",
        "checkpoint-20/model-00001-of-00002.safetensors", "checkpoint-20/adapter_model.safetensors",
        "checkpoint-20/global_step20/bf16_zero_pp_rank_0_mp_rank_00_optim_states.pt",
        "checkpoint-20/global_step20/mp_rank_00_model_states.pt", "checkpoint-20/latest", "optimizer.pt",
        "scheduler.pt", "rng_state_0.pth", "trainer_state.json", "training_args.bin", "efficient_trl_run.json",
        "runs/Dec03_17-00-00/events.out.tfevents.1", "completions/completions_00020.parquet", "notes/config.json",
    ]  # fmt: skip
    assert files_to_upload(paths) == paths[:6]


@pytest.mark.slow
def test_push_checkpoint_says_what_it_sends_and_sends_the_final_model_only(trained_output_dir, monkeypatch, capsys):
    """The hub is the one boundary replaced here: `HfApi.create_repo` and `HfApi.create_commit` record what they
    would send instead of sending it; the files, their listing and the printed sizes are real."""
    from huggingface_hub import HfApi

    sent = {}
    monkeypatch.setattr(HfApi, "create_repo", lambda self, repo_id, **kwargs: sent.update(repo=(repo_id, kwargs)))

    def create_commit(self, repo_id, operations, commit_message, **kwargs):
        sent.update(commit=(repo_id, [(op.path_in_repo, op.path_or_fileobj) for op in operations]))
        return type("CommitInfo", (), {"commit_url": f"https://huggingface.co/{repo_id}/commit/0"})()

    monkeypatch.setattr(HfApi, "create_commit", create_commit)
    url = push_checkpoint(trained_output_dir, "you/tiny", private=True)
    assert url == "https://huggingface.co/you/tiny/commit/0"
    assert sent["repo"] == ("you/tiny", {"private": True, "exist_ok": True})
    assert sent["commit"] == ("you/tiny", [(name, str(trained_output_dir / name)) for name in FINAL_MODEL])
    sizes = {name: (trained_output_dir / name).stat().st_size for name in FINAL_MODEL}
    out = capsys.readouterr().out
    total = sum(sizes.values())
    assert f"uploading to you/tiny: 8 files of {trained_output_dir}, {total / 1000:.1f} kB in all" in out
    assert f"  model.safetensors  {sizes['model.safetensors'] / 1000:.1f} kB" in out
    assert f"  config.json  {sizes['config.json']} B" in out
    left_out = "checkpoint-2/, checkpoint-4/, efficient_trl_run.json, trainer_state.json, training_args.bin"
    assert f"left out (training state and logs, not the model): {left_out}\n" in out
    # the listing comes before anything is sent
    assert out.index("uploading to") < out.index("left out")


def test_push_checkpoint_refuses_a_directory_without_weights_before_creating_the_repository(tmp_path, monkeypatch):
    from huggingface_hub import HfApi

    monkeypatch.setattr(HfApi, "create_repo", lambda *args, **kwargs: pytest.fail("the repository was created"))
    (tmp_path / "config.json").write_text("{}")
    (tmp_path / "checkpoint-2").mkdir()
    (tmp_path / "checkpoint-2" / "model.safetensors").write_bytes(b"0")
    with pytest.raises(FileNotFoundError, match="holds no model weights"):
        push_checkpoint(tmp_path, "you/empty")


@pytest.mark.slow
def test_the_model_card_of_a_demo_runs_model_finds_its_results_without_model(tiny_demo_run, tmp_path, monkeypatch):
    """The README's command on a demo run: `--checkpoint RUN/alpha_0.3 --results RUN --start start`, without
    `--model`, takes the results evaluated on the checkpoint's weights (the demo names them "alpha=0.3")."""
    run = tmp_path / "run"
    shutil.copytree(tiny_demo_run[0], run)
    rows = load_results(run)
    assert "alpha_0.3" not in {row["name"] for row in rows}
    name = checkpoint_results_name(rows, run / "alpha_0.3", "start")
    assert name == "alpha=0.3"
    argv = ["model_card.py", "--checkpoint", str(run / "alpha_0.3"), "--results", str(run), "--start", "start"]
    monkeypatch.setattr(sys, "argv", argv)
    runpy.run_path("recipes/model_card.py", run_name="__main__")
    assert model_card_table(rows, name, "start") in (run / "alpha_0.3" / "README.md").read_text()
    # the starting model itself, or weights no result was made on: the error names the fix
    from efficient_trl.experiments.engine import START_MODELS

    with pytest.raises(ValueError, match="holds the weights of the starting model 'start'"):
        checkpoint_results_name(rows, START_MODELS["sums"], "start")
    other = tmp_path / "other" / "mine"
    shutil.copytree(run / "alpha_0.3", other)
    (other / "model.safetensors").write_bytes(b"retrained" + (other / "model.safetensors").read_bytes())
    with pytest.raises(ValueError, match=r"no results for 'mine' and no evaluation of .*mine's weights .* --model"):
        checkpoint_results_name(rows, other, "start")
