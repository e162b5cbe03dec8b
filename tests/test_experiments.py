"""The experiment engine (efficient_trl.experiments.engine), the settings every plan shares and the commands' stage
lines (efficient_trl.experiments.progress)."""

import json
import os
import re
from dataclasses import fields
from pathlib import Path

import pytest

from efficient_trl import EfficientGRPOConfig
from efficient_trl.experiments import engine
from efficient_trl.experiments.budget_demo import BudgetDemoSettings
from efficient_trl.experiments.compare import CompareSettings
from efficient_trl.experiments.demo import DemoSettings, demo_specs
from efficient_trl.experiments.engine import (
    START_MODELS,
    THREADS,
    ModelSpec,
    alpha_spec,
    eval_dir,
    model_dir_name,
    open_run,
    rl_config,
    run_jobs,
    start_model,
    torch_threads,
)
from efficient_trl.experiments.progress import CLOCK_VARIABLE, format_elapsed, stage, timed
from efficient_trl.experiments.settings import EvalSettings, ExperimentSettings, RLSettings
from efficient_trl.length_rewards import resolve_length_reward
from efficient_trl.rundir import RunDirInUseError
from efficient_trl.synthetic import TASKS

PLANS = (DemoSettings, CompareSettings, BudgetDemoSettings)


def test_every_plan_subclasses_the_shared_settings_and_redeclares_only_the_defaults_it_changes():
    shared = [spec.name for spec in fields(ExperimentSettings)]
    assert shared == [spec.name for spec in fields(RLSettings)] + [spec.name for spec in fields(EvalSettings)]
    for plan in PLANS:
        assert issubclass(plan, ExperimentSettings)
        names = [spec.name for spec in fields(plan)]
        assert names[: len(shared)] == shared, plan.__name__  # the shared fields first, in one order
        assert all(spec.metadata.get("help") for spec in fields(plan)), plan.__name__  # every field documented
    changed = {
        plan.__name__: {
            name: getattr(plan(), name)
            for name in shared
            if getattr(plan(), name) != getattr(ExperimentSettings(), name)
        }
        for plan in PLANS
    }
    assert changed == {
        "DemoSettings": {"max_completion_length": 256},  # the default task's (graded) limit, TASK_COMPLETION_LENGTHS
        "CompareSettings": {"steps": 30, "prompts_per_step": 4, "max_completion_length": 200, "eval_problems": 500},
        "BudgetDemoSettings": {"eval_problems": 500},
    }


@pytest.mark.parametrize("plan", PLANS)
@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ({"steps": 0}, "steps must be >= 1"),
        ({"num_generations": 1}, "num_generations must be >= 2"),
        ({"learning_rate": 0.0}, "learning_rate must be > 0"),
        ({"beta": -1.0}, "beta must be >= 0"),
        ({"eval_k": 0}, "eval_k must be >= 1"),
        ({"eval_temperature": 0.0}, "eval_temperature must be > 0"),
    ],
)
def test_the_shared_settings_are_checked_the_same_way_in_every_plan(plan, bad, message):
    with pytest.raises(ValueError, match=message):
        plan(**bad)


def test_a_model_spec_names_the_model_and_gives_the_trainer_its_fields():
    assert alpha_spec(0.2).name == "alpha=0.2" and alpha_spec(0.05, "group").name == "alpha=0.05,norm=group"
    assert ModelSpec("kimi", {"weight": 2.0}).name == "kimi,weight=2"
    assert ModelSpec("kimi", {"weight": 2.0}, "group").name == "kimi,weight=2,norm=group"
    assert ModelSpec(trainer="sft", learning_rate=1e-4).name == "sft"
    assert ModelSpec("l1_exact", {"a": 0.01}, budget_range=(40, 140), label="budget").name == "budget"
    # the sigmoid's alpha is length_penalty_alpha; any other reward's parameters are its kwargs, and no alpha
    assert alpha_spec(0.2, "group").config_fields() == {
        "length_penalty_alpha": 0.2, "length_reward": "sigmoid", "length_reward_kwargs": None,
        "advantage_normalization": "group",
    }  # fmt: skip
    assert ModelSpec("l1_exact", {"a": 0.01}).config_fields() == {
        "length_penalty_alpha": 0.0, "length_reward": "l1_exact", "length_reward_kwargs": {"a": 0.01},
        "advantage_normalization": "none",
    }  # fmt: skip
    for spec in (alpha_spec(0.4), ModelSpec("grpo_lead", {"alpha": 0.2}), ModelSpec("alp", {"normalizer": 200.0})):
        config = EfficientGRPOConfig(output_dir="unused", use_cpu=True, bf16=False, **spec.config_fields())
        fields_ = spec.config_fields()
        assert config.resolved_length_reward() == resolve_length_reward(
            spec.length_reward, fields_["length_reward_kwargs"], fields_["length_penalty_alpha"]
        )
    with pytest.raises(ValueError, match="trainer must be one of"):
        ModelSpec(trainer="ppo")
    with pytest.raises(ValueError, match="needs its learning_rate"):
        ModelSpec(trainer="dpo")
    assert model_dir_name("alpha=0.2,norm=group") == "alpha_0.2_norm_group"
    assert eval_dir(Path("run"), "kimi,weight=2") == Path("run/eval/kimi_weight_2")


def test_the_demo_plan_trains_one_model_per_normalization_and_alpha_then_the_baselines():
    settings = DemoSettings(alphas=[0.05, 0.2], normalizations=["none", "group"], baselines=True)
    assert [spec.name for spec in demo_specs(settings)] == [
        "alpha=0.05", "alpha=0.2", "alpha=0.05,norm=group", "alpha=0.2,norm=group", "sft", "dpo"
    ]  # fmt: skip
    sft, dpo = demo_specs(settings)[-2:]
    assert (sft.trainer, sft.learning_rate, dpo.trainer, dpo.learning_rate) == ("sft", 1e-4, "dpo", 1e-5)


def test_every_task_ships_its_starting_model_inside_the_package(tmp_path):
    import efficient_trl

    package = Path(efficient_trl.__file__).parent
    assert set(START_MODELS) == set(TASKS)
    for task, path in START_MODELS.items():
        assert path.parent == package and start_model(task) == path and (path / "config.json").is_file()
    with pytest.raises(FileNotFoundError, match="build-demo-model --task sums"):
        start_model("sums", tmp_path / "missing")
    with pytest.raises(ValueError, match="task must be one of"):
        start_model("gsm8k")


def test_a_run_directory_records_its_settings_resumes_the_same_run_and_refuses_another(tmp_path):
    with open_run(tmp_path / "run", {"steps": 3, "alphas": (0.2,)}) as run_dir:
        (run_dir / "alpha_0.2").mkdir()  # a result
    assert json.loads((run_dir / "settings.json").read_text()) == {"steps": 3, "alphas": [0.2]}
    with open_run(tmp_path / "run", {"steps": 3, "alphas": (0.2,)}):  # the same settings: a rerun resumes
        with pytest.raises(RunDirInUseError, match="is in use by process"):  # one process at a time
            with open_run(tmp_path / "run", {"steps": 3, "alphas": (0.2,)}):
                pass
    with pytest.raises(FileExistsError, match=r"other settings .*steps: 3 -> 4"):
        with open_run(tmp_path / "run", {"steps": 4, "alphas": [0.2]}):
            pass
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("not a run")
    with pytest.raises(FileExistsError, match="choose another run directory"):
        with open_run(tmp_path / "mine", {"steps": 3}):
            pass
    assert sorted(path.name for path in (tmp_path / "mine").iterdir()) == ["notes.txt"]  # nothing created there


def test_an_unfinished_model_is_trained_again_and_a_finished_one_kept(tmp_path, monkeypatch):
    from efficient_trl.experiments import engine

    trained = []
    monkeypatch.setattr(engine, "train_and_save", lambda trainer, output_dir, provenance: trained.append(output_dir))
    monkeypatch.setattr(engine, "EfficientGRPOTrainer", lambda **kwargs: None)
    settings = DemoSettings(steps=1, prompts_per_step=2, num_generations=2)
    finished, interrupted = tmp_path / "alpha_0.2", tmp_path / "alpha_0.4"
    finished.mkdir()
    (finished / "provenance.json").write_text("{}")
    interrupted.mkdir()
    (interrupted / "model.safetensors").write_text("torn")
    assert engine.train_model(alpha_spec(0.2), START_MODELS["sums"], "sums", settings, finished) == finished
    engine.train_model(alpha_spec(0.4), START_MODELS["sums"], "sums", settings, interrupted)
    assert trained == [interrupted] and not interrupted.exists()  # cleared, then trained again


def _square(value: int) -> int:
    import torch

    stage(f"squaring {value}")
    return value * value * torch.get_num_threads()


def test_jobs_run_in_their_order_each_on_one_thread_and_print_on_the_commands_clock(capfd):
    import time

    with timed():
        os.environ[CLOCK_VARIABLE] = repr(time.time() - 3600)  # as if the command had started an hour ago
        assert run_jobs(_square, [(1,), (2,), (3,)], workers=2) == [1, 4, 9]
    printed = capfd.readouterr().err
    stderr = printed.splitlines()
    # the jobs' own lines, from the processes they run in, and the count of jobs done: on the command's clock
    assert sorted(line[10:] for line in stderr if re.fullmatch(r"\[1:0\d:\d\d\] squaring \d", line)) == [
        "squaring 1", "squaring 2", "squaring 3"
    ], printed  # fmt: skip
    assert [line[10:] for line in stderr if "jobs done" in line] == ["1/3 jobs done", "2/3 jobs done", "3/3 jobs done"]
    assert re.fullmatch(r"done in \d:\d\d", stderr[-1])


def test_each_stage_line_is_one_write_so_that_processes_printing_at_once_do_not_interleave(monkeypatch):
    # print() writes the text and then its newline; on an unbuffered stderr (PYTHONUNBUFFERED, as CI may set) two
    # jobs printing at once gave "[1:00:03] squaring 1[1:00:03] squaring 2" in CI
    class Recorder:
        def __init__(self):
            self.writes = []

        def write(self, text):
            self.writes.append(text)

        def flush(self):
            pass

    recorder = Recorder()
    monkeypatch.setattr("efficient_trl.experiments.progress.sys.stderr", recorder)
    with timed():
        stage("one stage")
    assert len(recorder.writes) == 2 and all(w.endswith("\n") and w.count("\n") == 1 for w in recorder.writes)
    assert recorder.writes[0].endswith("] one stage\n") and recorder.writes[1].startswith("done in ")


def test_elapsed_time_reads_as_minutes_and_seconds_then_hours():
    assert [format_elapsed(seconds) for seconds in (0, 59.9, 83, 600, 3599, 3725)] == [
        "0:00", "0:59", "1:23", "10:00", "59:59", "1:02:05"
    ]  # fmt: skip


def test_a_command_prints_its_stages_with_elapsed_time_then_done_on_stderr(capsys, monkeypatch):
    clock = iter([1000.0, 1083.0, 1325.0, 4000.0])  # the command starts, two stages, it ends
    monkeypatch.setattr("efficient_trl.experiments.progress.time.time", lambda: next(clock))
    with timed():
        stage("training alpha_0.2 on sums: 60 steps of 8 prompts x 8 completions")
        with timed():  # a block inside a command keeps its clock and prints no done line of its own
            stage("evaluating alpha_0.2 on 1000 held-out sums problems")
    assert CLOCK_VARIABLE not in os.environ  # the clock is gone with the command
    out, err = capsys.readouterr()
    assert out == ""  # stdout keeps the results
    assert err.splitlines() == [
        "[  1:23] training alpha_0.2 on sums: 60 steps of 8 prompts x 8 completions",
        "[  5:25] evaluating alpha_0.2 on 1000 held-out sums problems",
        "done in 50:00",
    ]


def test_a_failed_command_prints_no_done_line_and_stops_its_clock(capsys):
    with pytest.raises(SystemExit), timed():
        stage("training alpha_0 on sums")
        raise SystemExit("efficient-trl demo: error: ...")
    assert CLOCK_VARIABLE not in os.environ
    assert re.fullmatch(r"\[  0:00\] training alpha_0 on sums\n", capsys.readouterr().err)


def test_a_plans_command_refuses_a_run_directory_with_one_clear_line(tmp_path):
    from efficient_trl.experiments.demo import main

    (tmp_path / "afile").write_text("not a directory")
    with pytest.raises(SystemExit, match=r"^efficient-trl demo: error: .*afile is a file, not a directory; choose"):
        main(["--run_dir", str(tmp_path / "afile"), "--steps", "1"])
    (tmp_path / "other" / "alpha_0").mkdir(parents=True)
    (tmp_path / "other" / "settings.json").write_text('{"steps": 3}')
    with pytest.raises(
        SystemExit, match=r"^efficient-trl demo: error: .*holds a run with other settings .*steps: 3 -> 1"
    ):
        main(["--run_dir", str(tmp_path / "other"), "--steps", "1"])
    assert sorted(path.name for path in tmp_path.iterdir()) == ["afile", "other"]


def test_an_interrupted_plan_says_how_to_carry_on_in_one_line(tmp_path, monkeypatch):
    from efficient_trl.experiments import demo

    def interrupted(run_dir, settings):
        raise KeyboardInterrupt  # Ctrl-C while the jobs run

    monkeypatch.setattr(demo, "run_demo", interrupted)
    run_dir = tmp_path / "run"
    with pytest.raises(SystemExit, match=rf"^efficient-trl demo: interrupted; run it again with --run_dir {run_dir} "):
        demo.main(["--run_dir", str(run_dir)])


def test_the_cpu_rl_config_recomputes_nothing_and_takes_the_settings(tmp_path):
    # TRL turns activation checkpointing on by default: for a tiny model on CPU, only a second forward pass.
    settings = RLSettings(steps=3, prompts_per_step=4, num_generations=2, beta=0.01, seed=5)
    args = rl_config(alpha_spec(0.2, "group"), settings, tmp_path)
    assert args.activation_checkpointing is False and args.gradient_checkpointing is False
    assert args.use_cpu and not args.bf16 and args.save_strategy == "no"
    assert (args.per_device_train_batch_size, args.num_generations, args.max_steps) == (8, 2, 3)
    assert (args.beta, args.seed, args.length_penalty_alpha, args.advantage_normalization) == (0.01, 5, 0.2, "group")
    assert rl_config(alpha_spec(0.2), settings, tmp_path, activation_checkpointing=True).activation_checkpointing


def test_torch_threads_sets_the_count_inside_and_restores_it():
    import torch

    before = torch.get_num_threads()
    with torch_threads(1):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before


def test_a_model_trains_on_the_engines_threads_whatever_the_process_uses(tmp_path, monkeypatch):
    import torch

    seen = []
    monkeypatch.setattr(engine, "EfficientGRPOTrainer", lambda **kwargs: kwargs)
    monkeypatch.setattr(engine, "train_and_save", lambda trainer, output_dir, provenance: seen.append(
        (torch.get_num_threads(), trainer["args"].activation_checkpointing)))  # fmt: skip
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        engine.train_model(alpha_spec(0.2), START_MODELS["sums"], "sums", RLSettings(steps=1), tmp_path / "m")
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
    assert seen == [(THREADS, False)]


def test_a_start_model_path_that_does_not_exist_is_no_such_directory(tmp_path):
    from efficient_trl.experiments.demo import DemoSettings, run_demo

    with pytest.raises(FileNotFoundError, match=r"^no such directory: runs/x; rebuild the graded task's"):
        run_demo(tmp_path / "run", DemoSettings(), start_model=Path("runs/x"))
    assert not (tmp_path / "run").exists()
