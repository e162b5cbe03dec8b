import json

import pytest

from efficient_trl import __version__
from efficient_trl.configs import EfficientGRPOConfig
from efficient_trl.provenance import (
    PROVENANCE_FILE,
    SCHEMA_VERSION,
    model_fingerprint,
    read_provenance,
    training_provenance,
    write_provenance,
)

DATA = {"dataset": "data/train-3.2k", "num_problems": 3200, "prompt_template": "{problem}"}


def grpo_args(tmp_path, **overrides):
    fields = dict(output_dir=str(tmp_path / "out"), use_cpu=True, bf16=False, report_to="none")
    return EfficientGRPOConfig(**{**fields, **overrides})


def test_provenance_of_an_rl_run_round_trips(tmp_path, tiny_model_path):
    args = grpo_args(
        tmp_path, length_penalty_alpha=0.2, advantage_normalization="group", length_penalty_measure="thinking",
        learning_rate=1e-6, max_steps=100, seed=3, num_generations=8, beta=1e-3,
    )  # fmt: skip
    provenance = training_provenance("grpo", args, tiny_model_path, DATA, lora=True, global_step=40)
    assert provenance == {
        "schema": SCHEMA_VERSION, "trainer": "grpo",
        "base_model": {"name_or_path": tiny_model_path, "fingerprint": model_fingerprint(tiny_model_path)},
        "length_reward": {"name": "sigmoid", "alpha": 0.2, "eps": 1e-7, "measure": "thinking"},
        "advantage_normalization": "group", "learning_rate": 1e-6, "max_steps": 100, "global_step": 40, "seed": 3,
        "num_generations": 8, "beta": 1e-3, "data": DATA, "lora": True, "efficient_trl_version": __version__,
        "trl_version": provenance["trl_version"],
    }  # fmt: skip
    model_dir = tmp_path / "model"
    assert write_provenance(model_dir, provenance) == model_dir / PROVENANCE_FILE
    assert read_provenance(model_dir) == provenance
    assert [path.name for path in model_dir.iterdir()] == [PROVENANCE_FILE]  # no temporary file left behind


def test_baselines_have_no_length_reward(tmp_path, tiny_model_path):
    from trl import SFTConfig

    args = SFTConfig(output_dir=str(tmp_path), use_cpu=True, bf16=False, learning_rate=1e-4, report_to="none")
    provenance = training_provenance("sft", args, tiny_model_path, DATA, global_step=7)
    assert provenance["length_reward"] is provenance["advantage_normalization"] is provenance["beta"] is None
    assert (provenance["trainer"], provenance["learning_rate"], provenance["global_step"]) == ("sft", 1e-4, 7)
    with pytest.raises(ValueError, match="trainer must be one of"):
        training_provenance("ppo", args, tiny_model_path, DATA)


def test_reading_provenance_names_what_is_wrong(tmp_path):
    assert read_provenance(tmp_path) is None  # a model trained elsewhere
    assert read_provenance("deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B") is None  # a hub name
    (tmp_path / PROVENANCE_FILE).write_text("{torn")
    with pytest.raises(ValueError, match="provenance.json is not valid JSON"):
        read_provenance(tmp_path)
    (tmp_path / PROVENANCE_FILE).write_text(json.dumps({"trainer": "grpo"}))
    with pytest.raises(ValueError, match="not an efficient-trl provenance file"):
        read_provenance(tmp_path)
    (tmp_path / PROVENANCE_FILE).write_text(json.dumps({"schema": SCHEMA_VERSION + 1}))
    with pytest.raises(ValueError, match=f"schema {SCHEMA_VERSION + 1}, newer .*upgrade efficient-trl"):
        read_provenance(tmp_path)


def test_the_shipped_demo_model_records_how_it_was_made():
    from efficient_trl.experiments.engine import START_MODELS

    provenance = read_provenance(START_MODELS["sums"])
    assert provenance["trainer"] == "sft" and provenance["data"]["num_problems"] == 20_000
    assert provenance["base_model"]["name_or_path"].startswith("efficient_trl.testing.build_tiny_model(")


def test_provenance_records_the_chosen_length_reward_with_every_parameter(tmp_path, tiny_model_path):
    args = grpo_args(tmp_path, length_reward="kimi", length_reward_kwargs='{"weight": 0.5}')
    provenance = training_provenance("grpo", args, tiny_model_path, DATA)
    assert provenance["length_reward"] == {"name": "kimi", "weight": 0.5, "measure": "completion"}


def test_a_trained_looking_model_without_provenance_is_named(tmp_path, tiny_model_path, capsys):
    import shutil

    from efficient_trl.evaluation import write_summary
    from efficient_trl.provenance import missing_provenance
    from efficient_trl.sampling import EvaluationSample

    model = tmp_path / "alpha_0.2"
    shutil.copytree(tiny_model_path, model)
    assert missing_provenance(model) is None  # an untrained model: nothing missing
    assert missing_provenance("deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B") is None
    (model / "trainer_state.json").write_text("{}")
    (model / "checkpoint-2").mkdir()
    reason = missing_provenance(model)
    assert "trainer_state.json, checkpoint-2 but no provenance.json" in reason and str(model) in reason
    write_provenance(model, {"schema": SCHEMA_VERSION})
    assert missing_provenance(model) is None
    (model / PROVENANCE_FILE).unlink()

    # an evaluation says so, on screen and in summary.json, instead of recording an untrained model in silence
    samples = [EvaluationSample(0, 0, "\\boxed{3}", 10, False, correct=True)]
    (tmp_path / "eval").mkdir(), (tmp_path / "eval2").mkdir()
    summary = write_summary(tmp_path / "eval", {"model": str(model)}, samples, (), provenance=None)
    assert summary["provenance"] is None and summary["provenance_missing"] is True
    assert json.loads((tmp_path / "eval" / "summary.json").read_text())["provenance_missing_reason"] == reason
    assert f"warning: {reason}" in capsys.readouterr().out
    untrained = write_summary(tmp_path / "eval2", {"model": tiny_model_path}, samples, (), provenance=None)
    assert "provenance_missing" not in untrained
