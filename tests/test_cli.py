"""One command line: `efficient-trl <command>` dispatches to efficient_trl.scripts (recipes/<name>.py runs the same
main), and every command parses its library dataclasses with TRL's TrlParser (efficient_trl.cli), so each takes
`--config file.yaml`, command-line overrides, and answers --help with every field's help."""

import importlib
import json
import platform
import runpy
import subprocess
import sys
from dataclasses import fields
from importlib.metadata import version
from pathlib import Path

import pytest
import torch
import yaml

import efficient_trl
from efficient_trl import EfficientGRPOConfig
from efficient_trl.baselines import RejectionSamplingArguments
from efficient_trl.cli import COMMANDS, command_module, main, parse_arguments
from efficient_trl.data import PreparationArguments
from efficient_trl.evaluation import EvaluationArguments, GenerationArguments
from efficient_trl.experiments.budget_demo import BudgetDemoSettings
from efficient_trl.experiments.compare import CompareSettings
from efficient_trl.experiments.demo import DemoSettings
from efficient_trl.experiments.demo_model import DemoModelArguments
from efficient_trl.experiments.engine import START_MODELS, time_stamped
from efficient_trl.experiments.settings import RunArguments
from efficient_trl.model_card import ModelCardArguments
from efficient_trl.sampling import SamplingSettings
from efficient_trl.scripts.env import PACKAGES
from efficient_trl.scripts.quickstart import QuickstartArguments, quickstart_defaults
from efficient_trl.scripts.start_accuracy import StartAccuracyArguments

ROOT = Path(__file__).resolve().parents[1]

# recipe -> (its dataclasses, in the order it parses them; the defaults it passes)
RECIPES = {
    "evaluate.py": ((EvaluationArguments, SamplingSettings, GenerationArguments), None),
    "rejection_sampling.py": ((RejectionSamplingArguments, GenerationArguments), None),
    "start_accuracy.py": ((StartAccuracyArguments, GenerationArguments), None),
    "prepare_data.py": ((PreparationArguments,), None),
    "model_card.py": ((ModelCardArguments,), None),
    "demo.py": ((RunArguments, DemoSettings), None),
    "budget_demo.py": ((RunArguments, BudgetDemoSettings), None),
    "build_demo_model.py": ((DemoModelArguments,), None),
    "compare.py": ((RunArguments, CompareSettings), None),
    "quickstart.py": ((QuickstartArguments, EfficientGRPOConfig), quickstart_defaults()),
}

# recipe -> (a --config YAML, command-line overrides, what the parse must give: YAML values, overrides, defaults)
CASES = {
    "evaluate.py": (
        {"model": "runs/m", "dataset": "math500", "temperature": 0.8, "backend": "transformers", "num_problems": 5},
        ["--temperature", "1.0", "--data_parallel_size", "2"],
        {"model": "runs/m", "temperature": 1.0, "backend": "transformers", "num_problems": 5, "data_parallel_size": 2,
         "max_new_tokens": 32768, "k": None, "batch_size": 64},
    ),
    "rejection_sampling.py": (
        {"model": "runs/m", "output_dir": "rs", "num_samples": 4, "max_new_tokens": 64},
        ["--num_samples", "2", "--backend", "vllm"],
        {"num_samples": 2, "max_new_tokens": 64, "backend": "vllm", "temperature": 1.0, "dataset": "data/train-3.2k"},
    ),
    "start_accuracy.py": (
        {"model": "runs/m", "output_dir": "sa", "num_samples": 8, "max_new_tokens": 64},
        ["--num_samples", "4", "--backend", "vllm"],
        {"num_samples": 4, "max_new_tokens": 64, "backend": "vllm", "temperature": 0.6, "dataset": "data/train-3.2k"},
    ),
    "prepare_data.py": (
        {"output_dir": "data/x", "sources": ["math_train"], "num_samples": 10},
        ["--sources", "aime_1983_2023", "math_train", "--seed", "3"],
        {"output_dir": "data/x", "sources": ["aime_1983_2023", "math_train"], "num_samples": 10, "seed": 3,
         "num_proc": None, "authors_split": False},
    ),
    "model_card.py": (
        {"checkpoint": "runs/c", "results": "runs/eval", "start": "s", "datasets": ["a/b"], "push_to_hub": True,
         "hub_model_id": "you/x"},
        ["--private", "--start", "t"],
        {"checkpoint": "runs/c", "start": "t", "datasets": ["a/b"], "push_to_hub": True, "private": True},
    ),
    "demo.py": (
        {"alphas": [0.05, 0.2], "steps": 3, "baselines": True, "learning_rate": "5e-5", "run_dir": "runs/yaml"},
        ["--alphas", "0.1", "0.3", "--run_dir", "runs/flag"],
        {"alphas": [0.1, 0.3], "steps": 3, "baselines": True, "learning_rate": 5e-5, "run_dir": "runs/flag",
         "cutoffs": [40, 60, 80]},
    ),
    "compare.py": (
        {"tasks": ["multi_sums"], "settings": ["kimi,weight=2"], "steps": 3, "run_dir": "runs/yaml"},
        ["--settings", "alpha=0.2", "kimi,weight=1", "--run_dir", "runs/flag"],
        {"tasks": ["multi_sums"], "settings": ["alpha=0.2", "kimi,weight=1"], "steps": 3, "run_dir": "runs/flag",
         "workers": 2},
    ),
    "budget_demo.py": (
        {"eval_budgets": [60, 90], "steps": 3, "a": "0.02", "run_dir": "runs/yaml"},
        ["--eval_budgets", "50", "100", "--run_dir", "runs/flag"],
        {"eval_budgets": [50, 100], "steps": 3, "a": 0.02, "run_dir": "runs/flag", "budget_range": [40, 140],
         "length_reward": "l1_exact"},
    ),
    "build_demo_model.py": (
        {"output_dir": "m", "epochs": 2.0, "num_problems": 50},
        ["--num_problems", "100"],
        {"output_dir": "m", "epochs": 2.0, "num_problems": 100, "seed": 0, "task": "sums", "init_model": ""},
    ),
    "quickstart.py": (
        {"num_prompts": 8, "max_steps": 3, "length_penalty_alpha": 0.1},
        ["--max_steps", "2", "--output_dir", "runs/q"],
        {"num_prompts": 8, "max_steps": 2, "length_penalty_alpha": 0.1, "use_cpu": True, "output_dir": "runs/q"},
    ),
}  # fmt: skip


def parse(recipe: str, argv: list[str]) -> tuple:
    dataclass_types, defaults = RECIPES[recipe]
    return parse_arguments(*dataclass_types, argv=argv, defaults=defaults)


def parsed_value(parsed: tuple, name: str):
    (value,) = [getattr(instance, name) for instance in parsed if hasattr(instance, name)]
    return value


def test_every_recipe_is_covered():
    assert set(RECIPES) == set(CASES)
    assert {path.name for path in (ROOT / "recipes").glob("*.py")} == set(RECIPES) | {"train.py", "sft.py", "dpo.py"}


@pytest.mark.parametrize("recipe", sorted(CASES))
def test_config_sets_fields_and_the_command_line_overrides_it(recipe, tmp_path):
    config, overrides, expected = CASES[recipe]
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    parsed = parse(recipe, ["--config", str(path), *overrides])
    assert {name: parsed_value(parsed, name) for name in expected} == expected
    # the YAML alone: its values, not the overrides
    alone = parse(recipe, ["--config", str(path)])
    flagged = {overrides[i].removeprefix("--") for i, word in enumerate(overrides) if word.startswith("--")}
    for name in flagged & set(config):
        assert parsed_value(alone, name) == config[name] or str(parsed_value(alone, name)) == str(config[name])


@pytest.mark.parametrize("recipe", sorted(RECIPES))
def test_help_lists_every_field_with_its_help(recipe, monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", [recipe, "--help"])
    with pytest.raises(SystemExit) as exited:
        runpy.run_path(str(ROOT / "recipes" / recipe), run_name="__main__")
    assert exited.value.code == 0
    shown = "".join(capsys.readouterr().out.split())  # argparse wraps lines (and breaks at hyphens)
    for dataclass_type in RECIPES[recipe][0]:
        for spec in fields(dataclass_type):
            if spec.init:
                assert f"--{spec.name}" in shown, spec.name
                assert "".join(spec.metadata["help"].replace("%%", "%").split()) in shown, spec.name


def test_booleans_are_flags_as_the_readme_writes_them():
    (card,) = parse("model_card.py", ["--checkpoint", "c", "--results", "r", "--start", "s", "--push_to_hub",
                                      "--hub_model_id", "you/x"])  # fmt: skip
    assert card.push_to_hub and card.hub_model_id == "you/x" and not card.private
    (preparation,) = parse("prepare_data.py", ["--authors_split", "--output_dir", "data/authors-3.2k"])
    assert preparation.chosen_sources() == ["daman1209arora/compression_dataset"]
    # make sweep
    run, settings = parse("demo.py", "--alphas 0 0.05 0.1 0.2 0.4 --baselines".split())
    assert settings.alphas == [0, 0.05, 0.1, 0.2, 0.4] and settings.baselines
    assert run.run_dir == "" and time_stamped("demo").startswith("runs/demo-")  # time-stamped when it runs


def usage_error(recipe: str, argv: list[str], capsys) -> str:
    with pytest.raises(SystemExit) as exited:
        parse(recipe, argv)
    assert exited.value.code == 2
    return " ".join(capsys.readouterr().err.split())


def test_a_missing_required_field_is_named(tmp_path, capsys):
    assert "required: --model" in usage_error("evaluate.py", ["--dataset", "math500"], capsys)
    assert "--output_dir" in usage_error("prepare_data.py", [], capsys)
    config = tmp_path / "eval.yaml"
    config.write_text("model: null\ndataset: math500\n")  # a YAML null lifts argparse's own requirement
    message = usage_error("evaluate.py", ["--config", str(config)], capsys)
    assert "--model is required (on the command line or in the --config YAML)" in message


def test_a_bad_choice_names_the_allowed_values(tmp_path, capsys):
    message = usage_error("evaluate.py", ["--model", "m", "--dataset", "math500", "--backend", "gpu"], capsys)
    assert "invalid choice: 'gpu'" in message and "'transformers'" in message
    config = tmp_path / "eval.yaml"
    config.write_text("model: m\ndataset: math500\nbackend: gpu\n")  # argparse checks the command line only
    message = usage_error("rejection_sampling.py", ["--config", str(config), "--output_dir", "o"], capsys)
    assert "--backend must be one of ['auto', 'transformers', 'vllm'], got 'gpu'" in message


def test_bad_input_is_a_usage_error_naming_the_fix(tmp_path, capsys):
    config = tmp_path / "typo.yaml"
    config.write_text("model: m\ndataset: math500\ntemprature: 0.7\n")
    assert "temprature" in usage_error("evaluate.py", ["--config", str(config)], capsys)
    message = usage_error("model_card.py", ["--checkpoint", "c", "--results", "r", "--start", "s", "--push_to_hub"],
                          capsys)  # fmt: skip
    assert "--push_to_hub needs --hub_model_id" in message
    message = usage_error("prepare_data.py", ["--authors_split", "--sources", "x", "--output_dir", "o"], capsys)
    assert "--sources x would be ignored" in message
    assert "alphas must be a non-empty list" in usage_error("demo.py", ["--alphas", "1.5"], capsys)
    assert "settings must be a non-empty list" in usage_error("compare.py", ["--settings", "l1_exact"], capsys)


def test_evaluate_recipe_runs_from_a_yaml_config(tmp_path, monkeypatch, capsys):
    # A real evaluation of the demo model, configured by YAML, with one setting overridden on the command line
    config = tmp_path / "eval.yaml"
    settings = {"model": str(START_MODELS["sums"]), "dataset": "gsm8k", "num_problems": 2, "k": 2, "max_new_tokens": 8}
    config.write_text(yaml.safe_dump({**settings, "backend": "transformers", "output_dir": str(tmp_path / "run")}))
    monkeypatch.setattr(sys, "argv", ["evaluate.py", "--config", str(config), "--temperature", "0.9"])
    runpy.run_path(str(ROOT / "recipes" / "evaluate.py"), run_name="__main__")
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert {name: summary[name] for name in settings} == settings
    assert summary["temperature"] == 0.9 and summary["backend"] == "transformers"
    assert f"samples and summary in {tmp_path / 'run'}" in capsys.readouterr().out


def test_the_command_table_lists_every_command_and_each_recipe_runs_its_main(capsys):
    assert main(["--help"]) == 0
    shown = capsys.readouterr().out
    assert shown.startswith("usage: efficient-trl <command>")
    for command, description in COMMANDS.items():
        assert f"  {command} " in shown and description in shown, command
    assert {"train", "evaluate", "model-card", "env", "demo", "compare", "budget-demo"} <= set(COMMANDS)
    for command in COMMANDS:
        module = importlib.import_module(command_module(command))
        assert module.__doc__ and callable(module.main), command
        recipe = ROOT / "recipes" / f"{command.replace('-', '_')}.py"
        if recipe.exists():  # the same main, not a copy
            assert runpy.run_path(str(recipe), run_name="imported")["main"] is module.main, recipe


def test_a_command_gets_its_flags_and_shows_its_docstring(capsys):
    with pytest.raises(SystemExit) as exited:
        main(["evaluate", "--help"])
    assert exited.value.code == 0
    shown = capsys.readouterr().out
    assert shown.startswith("usage: efficient-trl evaluate ")
    summary = " ".join(importlib.import_module("efficient_trl.scripts.evaluate").__doc__.split("\n\n")[0].split())
    assert summary in " ".join(shown.split()) and "--max_new_tokens" in shown
    with pytest.raises(SystemExit) as exited:  # the recipe's file name names the command too
        main(["prepare_data", "--num_samples", "3"])
    assert exited.value.code == 2
    assert "efficient-trl prepare-data: error: the following arguments are required: --output_dir" in " ".join(
        capsys.readouterr().err.split()
    )


def test_an_unknown_command_names_the_commands(capsys):
    assert main(["trian", "--config", "x.yaml"]) == 2
    error = capsys.readouterr().err
    assert "unknown command 'trian'" in error and "train, sft, dpo, evaluate" in error


def test_the_command_table_imports_no_command():
    # `efficient-trl --help` answers at once: a command's module (and torch, TRL) is imported only when it runs
    check = (
        "import sys; from efficient_trl.cli import main; main(['--help']); "
        "print(sorted(m for m in sys.modules if m.startswith('efficient_trl.scripts.') or m in ('torch', 'trl')))"
    )
    result = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == "[]"


def test_env_reports_versions_and_devices_for_bug_reports():
    result = subprocess.run(
        [sys.executable, "-m", "efficient_trl", "env"], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    lines = dict(line[2:].split(": ", 1) for line in result.stdout.splitlines() if line.startswith("- "))
    assert list(lines) == ["Platform", "Python", "efficient-trl", "PyTorch", *PACKAGES.values(), "Devices"]
    assert lines["Python"] == platform.python_version()
    assert lines["efficient-trl"] == f"{efficient_trl.__version__} ({Path(efficient_trl.__file__).parent})"
    assert lines["PyTorch"].startswith(f"{torch.__version__} (")
    assert ("CUDA" in lines["PyTorch"]) == (torch.version.cuda is not None)
    for distribution, label in PACKAGES.items():
        assert lines[label] == (
            version(distribution) if importlib.util.find_spec(distribution.replace("-", "_")) else "not installed"
        ), label
    expected_devices = f"{torch.cuda.device_count()} GPU(s): " if torch.cuda.is_available() else "CPU, "
    assert lines["Devices"].startswith(expected_devices)


def test_env_names_each_gpu(monkeypatch):
    from efficient_trl.scripts.env import devices

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda index: f"NVIDIA H200 #{index}")
    assert devices() == "2 GPU(s): NVIDIA H200 #0, NVIDIA H200 #1"


def test_typos_are_usage_errors_naming_the_closest_field(tmp_path, capsys):
    # Every command, train included, says "unknown option --x; did you mean --y?" (flags) or names the YAML key,
    # before any other error: on a machine without a GPU, the recipes' bf16 error would otherwise come first.
    from efficient_trl.scripts.evaluate import main as evaluate
    from efficient_trl.scripts.sft import main as sft
    from efficient_trl.scripts.train import main as train

    recipe = "recipes/deepseek-r1-distill-qwen-1.5b/alpha_0.2.yaml"
    misspelt = tmp_path / "misspelt.yaml"
    misspelt.write_text("learning_rte: 1.0e-6\nmodel_name_or_path: org/model\n")
    cases = [
        (train, ["--config", recipe, "--learning_rat", "1"], "option --learning_rat; did you mean --learning_rate?"),
        (train, ["--config", str(misspelt)], "key 'learning_rte' in the --config YAML; did you mean learning_rate?"),
        (train, ["--config", recipe, "--zzzz", "1"], "option --zzzz."),
        (evaluate, ["--model", "m", "--dataset", "sums", "--num_problem", "3"], "option --num_problem; did you mean "
         "--num_problems?"),
        (sft, ["--config", "recipes/deepseek-r1-distill-qwen-1.5b/sft_lr_1e-5.yaml", "--learning_rat", "1"],
         "option --learning_rat; did you mean --learning_rate?"),
    ]  # fmt: skip
    for command, argv, message in cases:
        with pytest.raises(SystemExit) as exited:
            command(argv)
        assert exited.value.code == 2, argv
        assert capsys.readouterr().err.strip().splitlines()[-1].endswith(f"error: unknown {message}"), argv


@pytest.mark.skipif(torch.cuda.is_available(), reason="the message of a machine without a GPU")
def test_train_on_a_cpu_says_how_in_one_line():
    command = [sys.executable, "recipes/train.py", "--config", "recipes/deepseek-r1-distill-qwen-1.5b/alpha_0.2.yaml"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300, cwd=Path(__file__).parents[1])
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines() == [
        "train.py: error: bf16 needs a GPU and this machine has none; to train on the CPU, add --use_cpu true "
        "--bf16 false (slow: for tiny models and smoke tests)."
    ]
