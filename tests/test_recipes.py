import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import trl
import yaml
from accelerate.commands.config.config_args import load_config_from_file
from safetensors.torch import load_file

from efficient_trl.analysis import load_training_log
from efficient_trl.data import PAPER_PROMPT
from efficient_trl.provenance import read_provenance
from efficient_trl.scripts.quickstart import quickstart_defaults
from efficient_trl.training import check_batch_sizes, parse_training_arguments, train

ROOT = Path(__file__).resolve().parents[1]
ACCELERATE_CONFIGS = sorted((ROOT / "accelerate_configs").glob("*.yaml"))
RECIPES = sorted((ROOT / "recipes").glob("*/alpha_*.yaml"))
CPU = ["--bf16", "false", "--use_cpu", "true"]  # the recipes ask for bf16 GPUs; parse them on this CPU


def test_every_accelerate_config_loads():
    expected = {
        "cpu": ("NO", 1, 1),
        "ddp": ("MULTI_GPU", 4, 1),
        "single_gpu": ("NO", 1, 1),
        "zero2": ("DEEPSPEED", 4, 1),
        "zero3": ("DEEPSPEED", 8, 1),
        "zero3_2nodes": ("DEEPSPEED", 8, 2),
    }
    assert {path.stem for path in ACCELERATE_CONFIGS} == set(expected)
    for path in ACCELERATE_CONFIGS:
        config = load_config_from_file(str(path))
        assert (config.distributed_type.value, config.num_processes, config.num_machines) == expected[path.stem]
        if config.distributed_type.value == "DEEPSPEED":
            assert config.deepspeed_config["zero_stage"] == int(path.stem[4])


@pytest.mark.parametrize("recipe", RECIPES, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_recipe_parses_and_matches_the_paper(recipe):
    script_args, args, model_args = parse_training_arguments(["--config", str(recipe), *CPU])
    alpha = float(recipe.stem.removeprefix("alpha_"))
    assert args.length_penalty_alpha == alpha and args.advantage_normalization == "none"
    assert (args.num_generations, args.beta, args.temperature, args.loss_type) == (8, 1e-3, 1.0, "grpo")
    assert args.max_completion_length == 32000 and args.use_vllm and args.vllm_mode == "colocate"
    is_7b = "7b" in recipe.parent.name
    assert args.learning_rate == (2e-6 if is_7b else 5e-6)
    assert model_args.model_name_or_path.endswith("7B" if is_7b else "1.5B")
    # The launch line in the header names the Accelerate config; with its process count the batch sizes must be
    # the paper's: 128 completions per optimizer step, 32 prompts x 8 per RL iteration, 100 iterations.
    accelerate_config = re.search(r"accelerate_configs/(\w+)\.yaml", recipe.read_text()).group(1)
    assert accelerate_config == ("zero3_2nodes" if is_7b else "zero2")
    processes = load_config_from_file(str(ROOT / "accelerate_configs" / f"{accelerate_config}.yaml")).num_processes
    per_step = args.per_device_train_batch_size * processes * args.gradient_accumulation_steps
    per_iteration = args.per_device_train_batch_size * processes * args.steps_per_generation
    assert (per_step, per_iteration, args.max_steps * per_step // per_iteration) == (128, 256, 100)
    assert args.activation_checkpointing
    assert (args.adam_beta1, args.adam_beta2) == (0.9, 0.95)  # the authors' OpenRLHF runs
    assert not args.vllm_importance_sampling_correction
    # The start-up check passes on the recipe's own process count and names the fix on any other.
    assert (script_args.completions_per_step, script_args.completions_per_generation) == (128, 256)
    check_batch_sizes(script_args, args, processes)
    for other in (1, 2, 16):
        with pytest.raises(ValueError, match=f"on {other} processes") as error:
            check_batch_sizes(script_args, args, other)
        message = str(error.value)
        assert f"gradient_accumulation_steps: {128 // other}" in message
        assert f"steps_per_generation: {256 // other}" in message
    with pytest.raises(ValueError, match="no whole gradient_accumulation_steps"):
        check_batch_sizes(script_args, args, 3)


def test_training_refuses_a_batch_other_than_the_recipes(tiny_model_path, tmp_path):
    # One process, but the recipe asks for 4 x 8 completions per step: refused before any model is loaded.
    recipe = write_tiny_recipe(tmp_path, tiny_model_path, tmp_path / "out")
    with open(recipe, "a") as f:
        f.write("completions_per_step: 32\ncompletions_per_generation: 32\n")
    with pytest.raises(ValueError, match="gradient_accumulation_steps: 4 "):
        train(*parse_training_arguments(["--config", str(recipe)]))
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("tracker", ["trackio", "wandb", "tensorboard"])
def test_tracking_is_one_flag_documented_in_every_recipe(tracker):
    yamls = sorted((ROOT / "recipes").glob("*/*.yaml"))
    for path in yamls:  # the switch is named where a user reads the recipe
        (line,) = [line for line in path.read_text().splitlines() if line.startswith("report_to:")]
        assert "--report_to trackio, wandb or tensorboard" in line, path
    _, args, _ = parse_training_arguments(["--config", str(RECIPES[0]), *CPU, "--report_to", tracker])
    assert args.report_to == [tracker]


def test_readme_use_snippet_is_the_recipe():
    """The README's Python snippet runs on the recipe's hardware: it sets what the 1.5B recipe sets."""
    import ast
    from dataclasses import fields

    readme = (ROOT / "README.md").read_text()
    snippet = readme.split("## Use\n", 1)[1].split("```python\n", 1)[1].split("```", 1)[0]
    calls = {node.func.id: node for node in ast.walk(ast.parse(snippet)) if isinstance(node, ast.Call)
             and isinstance(node.func, ast.Name)}  # fmt: skip
    config = {keyword.arg: ast.literal_eval(keyword.value) for keyword in calls["EfficientGRPOConfig"].keywords}
    recipe = ROOT / "recipes" / "deepseek-r1-distill-qwen-1.5b" / "alpha_0.2.yaml"
    script_args, args, model_args = parse_training_arguments(["--config", str(recipe), *CPU])
    trainer_model = next(k.value for k in calls["EfficientGRPOTrainer"].keywords if k.arg == "model")
    assert ast.literal_eval(trainer_model) == model_args.model_name_or_path
    assert ast.literal_eval(calls["load_problems"].args[0]) == script_args.dataset_name
    assert config.pop("model_init_kwargs") == {"dtype": model_args.dtype} and config.pop("bf16") is True
    for name, value in config.items():
        assert getattr(args, name) == value, name
    # every setting in which the recipe departs from the config's defaults is in the snippet (but bookkeeping)
    defaults = type(args)(output_dir=args.output_dir, use_cpu=True, bf16=False)
    bookkeeping = {"logging_steps", "save_steps", "save_total_limit", "optim", "generation_batch_size"}
    departures = {f.name for f in fields(args) if f.init and getattr(args, f.name) != getattr(defaults, f.name)}
    departures -= bookkeeping
    assert departures <= set(config), departures - set(config)


def test_unknown_recipe_key_is_an_error(tmp_path, capsys):
    recipe = yaml.safe_load(RECIPES[0].read_text())
    recipe["length_penalty"] = 0.2  # a typo of length_penalty_alpha must not be silently ignored
    path = tmp_path / "typo.yaml"
    path.write_text(yaml.safe_dump(recipe))
    with pytest.raises(SystemExit) as exited:
        parse_training_arguments(["--config", str(path), *CPU])
    assert exited.value.code == 2
    assert "unknown key 'length_penalty' in the --config YAML; did you mean length_penalty_alpha" in (
        capsys.readouterr().err
    )


def write_tiny_recipe(tmp_path: Path, model_path: str, output_dir: Path) -> Path:
    problems = tmp_path / "problems.jsonl"
    problems.write_text("".join(json.dumps({"problem": f"{a}+{a}=", "answer": str(2 * a)}) + "\n" for a in range(32)))
    recipe = {
        "trainer": "grpo",
        "model_name_or_path": model_path,
        "dataset_name": str(problems),
        "length_penalty_alpha": 0.2,
        "num_generations": 4,
        "per_device_train_batch_size": 8,
        "max_completion_length": 96,
        "max_steps": 8,
        "learning_rate": 1e-3,
        "use_cpu": True,
        "bf16": False,
        "save_strategy": "steps",
        "save_steps": 2,
        "logging_steps": 1,
        "report_to": "none",
        "seed": 0,
        "output_dir": str(output_dir),
    }
    path = tmp_path / f"{output_dir.name}.yaml"
    path.write_text(yaml.safe_dump(recipe))
    return path


def launch(recipe: Path) -> subprocess.Popen:
    command = [sys.executable, "-m", "accelerate.commands.launch", "--config_file"]
    command += [str(ROOT / "accelerate_configs" / "cpu.yaml"), str(ROOT / "recipes" / "train.py"), "--config"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    # A session of its own, so that the launcher and the training process it starts are killed together.
    return subprocess.Popen(
        [*command, str(recipe)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


@pytest.mark.slow
def test_interrupted_training_resumes_where_it_stopped(tiny_model_path, tmp_path):
    reference_dir, resumed_dir = tmp_path / "uninterrupted", tmp_path / "interrupted"
    reference = launch(write_tiny_recipe(tmp_path, tiny_model_path, reference_dir))
    recipe = write_tiny_recipe(tmp_path, tiny_model_path, resumed_dir)
    first = launch(recipe)
    deadline = time.monotonic() + 300
    while not (resumed_dir / "checkpoint-2" / "trainer_state.json").exists():
        assert first.poll() is None, first.stdout.read()[-3000:]
        assert time.monotonic() < deadline
        time.sleep(0.05)
    time.sleep(0.5)  # let the checkpoint's files land, then kill as a preemption would
    os.killpg(first.pid, signal.SIGKILL)
    first.wait()
    time.sleep(1.0)
    assert not (resumed_dir / "checkpoint-8").exists(), "the first launch finished before it could be interrupted"

    second = launch(recipe)
    output = second.communicate(timeout=600)[0]
    assert second.returncode == 0, output[-3000:]
    assert "Resuming from" in output and "checkpoint-" in output
    reference_output = reference.communicate(timeout=600)[0]
    assert reference.returncode == 0, reference_output[-3000:]

    # The whole log, saved beside the model at the end (what notebooks/training_dynamics.ipynb reads)
    steps = [entry["step"] for entry in load_training_log(resumed_dir) if "loss" in entry]
    assert steps == list(range(1, 9))  # each step exactly once: nothing lost, nothing counted twice
    assert (resumed_dir / "trainer_state.json").exists()
    # Same seed, restored optimizer, scheduler and RNG state: the resumed run ends where the uninterrupted one does.
    final = load_file(resumed_dir / "model.safetensors")
    expected = load_file(reference_dir / "model.safetensors")
    assert all(torch.equal(final[name], expected[name]) for name in expected)


def test_lora_through_model_config(tiny_model_path, tmp_path):
    from efficient_trl.training import train

    recipe = write_tiny_recipe(tmp_path, tiny_model_path, tmp_path / "lora")
    overrides = ["--use_peft", "true", "--lora_r", "4", "--lora_target_modules", "q_proj", "v_proj"]
    overrides += ["--max_steps", "2", "--save_strategy", "no"]
    trainer = train(*parse_training_arguments(["--config", str(recipe), *overrides]))
    assert type(trainer.model).__name__.startswith("Peft")
    assert trainer.state.global_step == 2
    assert (tmp_path / "lora" / "adapter_config.json").exists()


@pytest.mark.slow
@pytest.mark.parametrize("script", ["evaluate.py", "rejection_sampling.py"])
def test_evaluation_recipes_leave_the_hub_on(script):
    # `--model deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B` must download on a fresh GPU node: only the offline demo,
    # quickstart and tests may switch the hub off.
    env = {key: value for key, value in os.environ.items() if key not in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE")}
    check = (
        f"import os, runpy; runpy.run_path({str(ROOT / 'recipes' / script)!r}, run_name='imported'); "
        "import huggingface_hub.constants as c; print(os.environ.get('HF_HUB_OFFLINE'), c.HF_HUB_OFFLINE)"
    )
    result = subprocess.run([sys.executable, "-c", check], env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split() == ["None", "False"]


# Relaunching a training run: finished, other settings, incomplete checkpoint, model card. One short finished run (4
# steps, checkpoints at 2 and 4) is copied into each test.
SHORT = ["--max_steps", "4", "--save_steps", "2", "--max_completion_length", "12", "--logging_steps", "1"]


@pytest.fixture(scope="module")
def finished_run(tiny_model_path, tmp_path_factory):
    from efficient_trl.training import train

    root = tmp_path_factory.mktemp("finished")
    recipe = write_tiny_recipe(root, tiny_model_path, root / "run")
    trainer = train(*parse_training_arguments(["--config", str(recipe), *SHORT]))
    assert trainer.state.global_step == 4
    return recipe, root / "run"


def relaunch(finished_run, tmp_path, *overrides):
    """The finished run copied to tmp_path/run, and a relaunch of its command there with `overrides`."""
    import shutil

    from efficient_trl.training import train

    recipe, run = finished_run
    shutil.copytree(run, tmp_path / "run")
    return lambda *more: train(
        *parse_training_arguments(
            ["--config", str(recipe), *SHORT, "--output_dir", str(tmp_path / "run"), *overrides, *more]
        )
    )


def test_relaunching_a_finished_run_leaves_it_as_it_is(finished_run, tmp_path, capsys):
    launch_again = relaunch(finished_run, tmp_path)
    run = tmp_path / "run"
    weights, state = (run / "model.safetensors").read_bytes(), (run / "trainer_state.json").read_text()
    assert launch_again() is None
    assert "holds this run, finished" in capsys.readouterr().out
    assert (run / "model.safetensors").read_bytes() == weights and (run / "trainer_state.json").read_text() == state


def test_a_different_run_into_the_same_output_dir_is_refused(finished_run, tmp_path):
    launch_again = relaunch(finished_run, tmp_path)
    run = tmp_path / "run"
    weights = (run / "model.safetensors").read_bytes()
    with pytest.raises(FileExistsError, match=r"training.length_penalty_alpha: 0.2 -> 0.3.*--overwrite_output_dir"):
        launch_again("--length_penalty_alpha", "0.3")
    with pytest.raises(FileExistsError, match="trainer: 'EfficientGRPOTrainer' -> 'EfficientRLOOTrainer'"):
        launch_again("--trainer", "rloo")
    assert (run / "model.safetensors").read_bytes() == weights
    (run / "efficient_trl_run.json").unlink()  # a run made before settings were recorded
    with pytest.raises(FileExistsError, match="settings were not recorded"):
        launch_again()
    # The explicit way to reuse the directory: start over. Only what the earlier run wrote is deleted.
    (run / "notes.txt").write_text("keep me")
    trainer = launch_again("--overwrite_output_dir", "true", "--max_steps", "1", "--save_strategy", "no")
    assert trainer.state.global_step == 1 and not list(run.glob("checkpoint-*"))
    assert (run / "notes.txt").read_text() == "keep me"


def interrupted_after_checkpoint_4(run: Path) -> None:
    """What a run killed while saving its step-4 checkpoint leaves: no final model, log or provenance in output_dir."""
    for name in ("trainer_state.json", "model.safetensors", "provenance.json"):
        (run / name).unlink()


def test_training_records_provenance_next_to_the_weights_and_in_each_checkpoint(finished_run, tiny_model_path):
    from efficient_trl.provenance import model_fingerprint

    recipe, run = finished_run
    provenance = read_provenance(run)
    assert provenance["trainer"] == "grpo" and provenance["advantage_normalization"] == "none"
    assert provenance["length_reward"] == {"name": "sigmoid", "alpha": 0.2, "eps": 1e-7, "measure": "completion"}
    assert provenance["base_model"] == {
        "name_or_path": tiny_model_path,
        "fingerprint": model_fingerprint(tiny_model_path),
    }
    assert (provenance["max_steps"], provenance["global_step"], provenance["seed"]) == (4, 4, 0)
    assert (provenance["learning_rate"], provenance["num_generations"], provenance["beta"]) == (1e-3, 4, 1e-3)
    assert provenance["data"] == {
        "dataset": str(recipe.parent / "problems.jsonl"), "num_problems": 32, "prompt_template": PAPER_PROMPT
    }  # fmt: skip
    assert provenance["lora"] is False and provenance["trl_version"] == trl.__version__
    # each checkpoint evaluated on its own knows its step
    assert read_provenance(run / "checkpoint-2") == {**provenance, "global_step": 2}
    assert read_provenance(run / "checkpoint-4") == provenance


def test_a_checkpoint_without_its_optimizer_state_falls_back_to_the_previous_one(finished_run, tmp_path):
    # Resuming from it would silently start a fresh optimizer. (Each file a resume needs, the weights included, and
    # torn files are checked in tests/test_rundir.py.)
    launch_again = relaunch(finished_run, tmp_path)
    run = tmp_path / "run"
    interrupted_after_checkpoint_4(run)
    (run / "checkpoint-4" / "optimizer.pt").unlink()
    with pytest.warns(RuntimeWarning, match=r"checkpoint-4 \(optimizer.pt is missing.*resuming from .*checkpoint-2"):
        trainer = launch_again()
    assert trainer.state.global_step == 4
    assert read_provenance(run)["global_step"] == 4 and read_provenance(run / "checkpoint-4")["global_step"] == 4
    assert [entry["step"] for entry in load_training_log(run) if "loss" in entry] == [1, 2, 3, 4]


def test_training_never_writes_over_what_it_reads(tiny_model_path, tmp_path):
    # `--model_name_or_path D --output_dir D --overwrite_output_dir true` once deleted the model being trained. An
    # output_dir that is, lies inside or contains the start model or the data is refused before anything is written.
    import shutil

    from datasets import Dataset

    from efficient_trl.training import train_baseline

    model = shutil.copytree(tiny_model_path, tmp_path / "model")
    contents = {path.name: path.read_bytes() for path in model.iterdir()}
    recipe = write_tiny_recipe(tmp_path, str(model), tmp_path / "run")
    overlapping = {
        model: "is the start model",
        model / "run": "lies inside the start model",
        tmp_path: "contains the start model",
        tmp_path / "problems.jsonl": "is the training data",
    }
    for output_dir, what in overlapping.items():
        for overwrite in ([], ["--overwrite_output_dir", "true"]):
            with pytest.raises(ValueError, match=f"output_dir {output_dir} {what}"):
                train(
                    *parse_training_arguments(["--config", str(recipe), "--output_dir", str(output_dir), *overwrite])
                )
    assert {path.name: path.read_bytes() for path in model.iterdir()} == contents
    # the SFT/DPO baselines too
    sft_data = tmp_path / "sft"
    Dataset.from_dict({"prompt": ["1+1="], "completion": ["2"]}).save_to_disk(str(sft_data))
    baseline = ["--model_name_or_path", str(model), "--dataset_path", str(sft_data), "--use_cpu", "true"]
    for output_dir, what in ((sft_data, "is the training data"), (model, "is the start model")):
        with pytest.raises(ValueError, match=f"output_dir {output_dir} {what}"):
            train_baseline("sft", [*baseline, "--output_dir", str(output_dir), "--overwrite_output_dir", "true"])
    assert {path.name: path.read_bytes() for path in model.iterdir()} == contents
    assert (sft_data / "dataset_info.json").exists()


def test_a_relaunch_keeps_the_model_cards_tradeoff_section(finished_run, tmp_path):
    import shutil

    from efficient_trl.model_card import write_model_card

    launch_again = relaunch(finished_run, tmp_path)
    run = tmp_path / "run"
    interrupted_after_checkpoint_4(run)
    shutil.rmtree(run / "checkpoint-4")
    write_model_card(run, "| dataset | accuracy |\n| --- | --- |\n| gsm8k | 80% |")
    launch_again()
    card = (run / "README.md").read_text()
    assert "| gsm8k | 80% |" in card and "trl" in card.lower()  # TRL's regenerated card, with the section back


def test_every_shipped_recipe_works_with_either_trainer(capsys):
    for recipe in RECIPES:
        _, args, _ = parse_training_arguments(["--config", str(recipe), "--trainer", "rloo", *CPU])
        assert type(args).__name__ == "EfficientRLOOConfig"
        assert args.length_penalty_alpha == float(recipe.stem.removeprefix("alpha_"))
        assert "rloo has no loss_type='grpo'" in capsys.readouterr().out


def test_train_help_leads_with_the_recipe_usage():
    from efficient_trl.training import make_parser

    first_lines = make_parser("grpo").format_help().splitlines()[:8]
    assert "recipes/train.py" in first_lines[0] and "--config recipe.yaml" in first_lines[1]
    assert any(line.startswith("Train a model to reason efficiently") for line in first_lines)


def test_bad_training_input_names_the_fix(tiny_model_path, tmp_path):
    from efficient_trl.training import train

    recipe = write_tiny_recipe(tmp_path, tiny_model_path, tmp_path / "run")
    for count in ("0", "-1"):
        with pytest.raises(ValueError, match="num_train_problems must be >= 1.*leave it out"):
            parse_training_arguments(["--config", str(recipe), "--num_train_problems", count])
    with pytest.raises(FileNotFoundError, match="prepare_data.py --output_dir data/train-3.2k"):
        train(*parse_training_arguments(["--config", str(recipe), "--dataset_name", "data/train-3.2k"]))
    with pytest.raises(FileNotFoundError, match="no such directory: runs/none/alpha_0.2"):
        train(*parse_training_arguments(["--config", str(recipe), "--model_name_or_path", "runs/none/alpha_0.2"]))
    no_answers = tmp_path / "no_answers.jsonl"
    no_answers.write_text("".join(json.dumps({"problem": f"{a}+1", "answer": " "}) + "\n" for a in range(4)))
    with pytest.raises(ValueError, match="4 of its 4 gold answers cannot be read"):
        train(*parse_training_arguments(["--config", str(recipe), "--dataset_name", str(no_answers)]))
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    with pytest.raises(ValueError, match="has no problems"):
        train(*parse_training_arguments(["--config", str(recipe), "--dataset_name", str(empty)]))
    assert not (tmp_path / "run").exists()
    notes = tmp_path / "notes"  # not a training run: --overwrite_output_dir must not delete it
    notes.mkdir()
    (notes / "todo.txt").write_text("keep me")
    with pytest.raises(FileExistsError, match="holds no training run.*so it is not deleted"):
        train(
            *parse_training_arguments(
                ["--config", str(recipe), "--output_dir", str(notes), "--overwrite_output_dir", "true"]
            )
        )
    assert (notes / "todo.txt").read_text() == "keep me"


def test_lora_recipe_trains_one_step(tiny_model_path, tmp_path):
    from efficient_trl.training import train

    recipe = ROOT / "recipes" / "deepseek-r1-distill-qwen-1.5b" / "lora_alpha_0.2.yaml"
    # The launch line in the header names an Accelerate config whose process count keeps the paper's batches
    accelerate_config = re.search(r"accelerate_configs/(\w+)\.yaml", recipe.read_text()).group(1)
    processes = load_config_from_file(str(ROOT / "accelerate_configs" / f"{accelerate_config}.yaml")).num_processes
    _, args, model_args = parse_training_arguments(["--config", str(recipe), *CPU])
    assert args.per_device_train_batch_size * processes * args.gradient_accumulation_steps == 128
    assert (args.length_penalty_alpha, args.learning_rate, args.use_vllm) == (0.2, 5e-5, True)  # 10x the full 5e-6
    assert model_args.use_peft and model_args.lora_target_modules == "all-linear"

    problems = write_tiny_recipe(tmp_path, tiny_model_path, tmp_path / "unused").parent / "problems.jsonl"
    overrides = ["--model_name_or_path", tiny_model_path, "--dataset_name", str(problems), "--dtype", "float32"]
    overrides += ["--use_vllm", "false", "--per_device_train_batch_size", "8", "--gradient_accumulation_steps", "1"]
    overrides += ["--steps_per_generation", "1", "--max_completion_length", "32", "--max_steps", "1"]
    overrides += ["--completions_per_step", "8", "--completions_per_generation", "8"]  # the smoke run's own totals
    overrides += ["--save_strategy", "no", "--output_dir", str(tmp_path / "lora")]
    trainer = train(*parse_training_arguments(["--config", str(recipe), *CPU, *overrides]))
    assert type(trainer.model).__name__.startswith("Peft") and trainer.state.global_step == 1
    trainable = [name for name, parameter in trainer.model.named_parameters() if parameter.requires_grad]
    assert trainable and all("lora_" in name for name in trainable)
    assert any("mlp" in name for name in trainable)  # all-linear: the MLP too, not attention only
    adapter = json.loads((tmp_path / "lora" / "adapter_config.json").read_text())
    assert (adapter["r"], adapter["lora_alpha"]) == (32, 32)
    # the adapter directory evaluates as the header says (transformers loads the base model, then the adapter)
    from efficient_trl.evaluation import evaluate
    from efficient_trl.sampling import SamplingSettings

    sampling = SamplingSettings(k=1, max_new_tokens=8)
    summary = evaluate(str(tmp_path / "lora"), str(problems), tmp_path / "eval", sampling, num_problems=2)
    assert summary["num_problems"] == 2 and summary["model"] == str(tmp_path / "lora")
    assert summary["provenance"]["lora"] is True and summary["provenance"] == read_provenance(tmp_path / "lora")


@pytest.mark.parametrize("script", sorted((ROOT / "recipes").glob("*.py")), ids=lambda p: p.name)
def test_every_recipe_answers_help(script, monkeypatch, capsys):
    import runpy

    monkeypatch.setattr(sys, "argv", [str(script), "--help"])
    with pytest.raises(SystemExit) as exited:
        runpy.run_path(str(script), run_name="__main__")
    assert exited.value.code in (0, None) and "usage" in capsys.readouterr().out.lower()


def test_commands_in_the_readmes_name_files_that_exist():
    text = (ROOT / "README.md").read_text() + (ROOT / "recipes" / "README.md").read_text()
    named = set(re.findall(r"\b((?:recipes|accelerate_configs|benchmarks)/[\w./-]+\.(?:py|yaml))", text))
    assert "recipes/deepseek-r1-distill-qwen-1.5b/lora_alpha_0.2.yaml" in named
    assert [path for path in sorted(named) if not (ROOT / path).is_file()] == []


@pytest.mark.slow
@pytest.mark.parametrize(
    "command, written_in, extra",
    [
        ("python recipes/prepare_data.py --output_dir data/train-3.2k", "README.md", []),
        # `make quickstart`; its default output directory is time-stamped, so the test names one
        ("$(BIN)/python recipes/quickstart.py", "Makefile", ["--output_dir", "runs/quickstart"]),
    ],
    ids=["prepare_data", "quickstart"],
)
def test_readme_cpu_commands_run_as_written(command, written_in, extra, tmp_path):
    # The CPU commands a newcomer runs from the README, word for word, in a directory laid out like the clone (so
    # that what they write lands there, not in this checkout).
    assert command in (ROOT / written_in).read_text()
    for part in ("recipes", "efficient_trl"):
        (tmp_path / part).symlink_to(ROOT / part)
    argv = [sys.executable, *command.split()[1:], *extra]
    result = subprocess.run(argv, cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    if "prepare_data" in command:
        report = json.loads((tmp_path / "data/train-3.2k/preparation_report.json").read_text())
        assert report["sampled"] == 3200 and "saved to data/train-3.2k" in result.stdout
    else:
        assert (tmp_path / "runs/quickstart/final-model/config.json").exists()
        alpha = quickstart_defaults()["length_penalty_alpha"]
        assert read_provenance(tmp_path / "runs/quickstart/final-model")["length_reward"]["alpha"] == alpha
        assert "Model and logs saved under runs/quickstart" in result.stdout


def test_train_and_save_puts_the_model_and_its_log_together(tiny_model_path, tmp_path):
    # The one place a trained model is saved: weights and trainer_state.json land in output_dir even when the
    # trainer's own output_dir is elsewhere (as for the quickstart and the demo model).
    from trl import SFTConfig, SFTTrainer

    from efficient_trl.synthetic import sum_problems
    from efficient_trl.testing import TWO_TERM_SUMS
    from efficient_trl.training import CPU_TRAINING_KWARGS, train_and_save

    data = sum_problems(4, seed=0, with_solutions=True, **TWO_TERM_SUMS).select_columns(["prompt", "completion"])
    args = SFTConfig(output_dir=str(tmp_path / "scratch"), max_steps=1, per_device_train_batch_size=4,
                     **CPU_TRAINING_KWARGS)  # fmt: skip
    from efficient_trl.provenance import read_provenance, training_provenance

    provenance = training_provenance("sft", args, tiny_model_path, {"dataset": "sums", "num_problems": 4})
    trainer = SFTTrainer(model=tiny_model_path, args=args, train_dataset=data)
    saved = train_and_save(trainer, tmp_path / "final", provenance)
    assert saved == tmp_path / "final" and (saved / "model.safetensors").exists()
    assert json.loads((saved / "trainer_state.json").read_text())["global_step"] == 1
    assert read_provenance(saved) == {**provenance, "global_step": 1}  # with the step the weights are from
    assert not (tmp_path / "scratch" / "trainer_state.json").exists()


def test_a_recipe_adds_trls_length_rewards_by_name(tiny_model_path, tmp_path):
    # `extra_rewards` builds trl.rewards' own functions beside the correctness reward (which the length reward
    # scales: it stays first); cosine_scaled reads the gold answer as `solution`, added from `answer`. The run
    # records them, and so does the model's provenance.
    recipe = write_tiny_recipe(tmp_path, tiny_model_path, tmp_path / "extra")
    extra = {
        "soft_overlong_punishment": {"max_completion_len": 12, "soft_punish_cache": 8},
        "cosine_scaled": {"max_len": 12},
    }
    overrides = ["--extra_rewards", json.dumps(extra), "--max_steps", "1", "--max_completion_length", "12"]
    trainer = train(*parse_training_arguments(["--config", str(recipe), *overrides, "--save_strategy", "no"]))
    assert trainer.reward_func_names == [
        "length_reward",  # the correctness column, replaced by the length reward, is logged under its name
        "soft_overlong_punishment_reward",
        "cosine_scaled_reward",
    ]
    assert trainer.train_dataset["solution"] == trainer.train_dataset["answer"]
    # The random model runs every completion to the 12-token limit: TRL's functions give DAPO's full punishment (-1
    # at max_completion_len) and the cosine's wrong-at-max_len value (-0.5), logged beside the correctness reward
    (logged,) = [entry for entry in trainer.state.log_history if "reward" in entry]
    assert logged["completions/min_length"] == 12 and logged["rewards/length_reward/mean"] == 0
    assert logged["rewards/soft_overlong_punishment_reward/mean"] == -1
    assert logged["rewards/cosine_scaled_reward/mean"] == -0.5
    assert read_provenance(tmp_path / "extra")["extra_rewards"] == extra
    assert json.loads((tmp_path / "extra" / "efficient_trl_run.json").read_text())["script"]["extra_rewards"] == extra
    for bad, message in (
        (
            '{"overlong": {}}',
            r"not one of trl.rewards' length rewards \['soft_overlong_punishment', 'cosine_scaled'\]",
        ),
        ('{"cosine_scaled": {"maxlen": 3}}', "missing a required argument: 'max_len'"),
        ("soft_overlong_punishment", "must be a JSON object"),
    ):
        with pytest.raises(ValueError, match=message):
            parse_training_arguments(["--config", str(recipe), "--extra_rewards", bad])


def test_bad_command_lines_are_usage_errors_before_anything_is_created(tiny_model_path, tmp_path, capsys):
    # Each of these used to fail later with a raw traceback (KeyError, AttributeError, NotADirectoryError) or, for
    # max_completion_length, inside transformers after the output directory was created.
    recipe = write_tiny_recipe(tmp_path, tiny_model_path, tmp_path / "run")
    listed = tmp_path / "list.yaml"
    listed.write_text("- learning_rate: 1e-6\n")
    cases = [
        (["--config", str(recipe), "--trainer", "foo"], r"--trainer must be one of \['grpo', 'rloo'\], got 'foo'"),
        (["--config", str(listed)], "must hold a mapping of field: value .* got a list"),
        (["--config", str(tmp_path / "missing.yaml")], "missing.yaml: No such file or directory"),
        (["--config", str(recipe), "--max_completion_length", "0"], "--max_completion_length must be >= 1, got 0"),
        (["--config", str(recipe), "--max_completion_length", "-5"], "--max_completion_length must be >= 1, got -5"),
    ]
    for argv, message in cases:
        with pytest.raises(SystemExit) as exited:
            parse_training_arguments(argv)
        assert exited.value.code == 2, argv
        assert re.search(message, capsys.readouterr().err), (argv, message)
    assert not (tmp_path / "run").exists()


def test_an_output_dir_that_is_a_file_is_refused_by_name(tmp_path):
    from efficient_trl.scripts.prepare_data import main as prepare_data

    taken = tmp_path / "taken"
    taken.write_text("a file")
    with pytest.raises(FileExistsError, match=r"taken is a file, not a directory; choose another output directory"):
        prepare_data(["--output_dir", str(taken)])


@pytest.mark.parametrize("out", ["file", "under a file"])
def test_gpu_check_refuses_a_bad_out_before_its_imports(tmp_path, out):
    (tmp_path / "taken").write_text("a file")
    target = tmp_path / "taken" if out == "file" else tmp_path / "taken" / "out"  # the second cannot be created
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "gpu_check.py"), "--tiny", "--out", str(target)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 2 and "--out" in result.stderr and "give a directory you can write to" in result.stderr
    assert "Traceback" not in result.stderr and time.monotonic() - started < 10  # before torch's import


def test_a_recipe_writes_each_provenance_once(tiny_model_path, tmp_path, monkeypatch):
    # The trainer writes provenance.json itself (save_model, checkpoints included); the recipe hands it its
    # provenance and writes none of its own, so each directory gets one write, of the recipe's record
    import efficient_trl.trainers
    import efficient_trl.training
    from efficient_trl.provenance import write_provenance
    from efficient_trl.training import train

    written = []

    def recording_write(model_dir, provenance):
        written.append((Path(model_dir).name, provenance["global_step"], provenance["data"]["dataset"]))
        return write_provenance(model_dir, provenance)

    for module in (efficient_trl.trainers, efficient_trl.training):
        monkeypatch.setattr(module, "write_provenance", recording_write)
    recipe = write_tiny_recipe(tmp_path, tiny_model_path, tmp_path / "run")
    train(*parse_training_arguments(["--config", str(recipe), "--max_steps", "2", "--max_completion_length", "8"]))
    data = str(tmp_path / "problems.jsonl")
    assert written == [("checkpoint-2", 2, data), ("run", 2, data)]
