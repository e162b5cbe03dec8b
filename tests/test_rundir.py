import json
import os
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from efficient_trl.rundir import (
    LOCK_FILE,
    MODEL_CARD_BEGIN,
    MODEL_CARD_END,
    RUN_SETTINGS_FILE,
    RunDirInUseError,
    check_new_output_dir,
    check_output_dir_apart,
    check_same_run,
    checkpoint_problem,
    clear_training_run,
    finished,
    last_complete_checkpoint,
    open_run_dir,
    read_card_section,
    restore_card_section,
    run_dir_lock,
    run_settings,
    write_atomically,
)


def test_write_atomically_replaces_the_file_whole(tmp_path):
    path = tmp_path / "settings.json"
    assert write_atomically(path, "old\n") == path
    write_atomically(path, "new\n")
    assert path.read_text() == "new\n" and [p.name for p in tmp_path.iterdir()] == ["settings.json"]


def test_check_new_output_dir_refuses_a_taken_directory(tmp_path):
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "file").write_text("x")
    with pytest.raises(FileExistsError, match=r"taken already holds data; choose another --output_dir \(outputs"):
        check_new_output_dir(tmp_path / "taken", option="--output_dir")
    (tmp_path / "empty").mkdir()
    assert check_new_output_dir(tmp_path / "empty") == tmp_path / "empty"
    assert check_new_output_dir(tmp_path / "new") == tmp_path / "new" and not (tmp_path / "new").exists()


# Evaluation's run directories: settings.json decides between resuming, refusing and starting afresh.
SETTINGS = {"model": "m", "model_fingerprint": "abc", "k": 2, "temperature": 0.6}


def has_samples(run_dir: Path) -> bool:
    return (run_dir / "samples.jsonl").is_file()


def test_open_run_dir_resumes_the_same_run_and_refuses_another(tmp_path, capsys):
    run = tmp_path / "run"
    assert open_run_dir(run, SETTINGS, has_results=has_samples) is False  # new: the settings are recorded
    assert json.loads((run / "settings.json").read_text()) == SETTINGS and not list(run.glob("*.tmp"))
    (run / "samples.jsonl").write_text("{}\n")
    assert open_run_dir(run, SETTINGS, has_results=has_samples) is True
    other = {**SETTINGS, "temperature": 1.0, "model_fingerprint": "def"}
    with pytest.raises(FileExistsError, match="other settings") as refused:
        open_run_dir(run, other, has_results=has_samples)
    assert "model_fingerprint: 'abc' -> 'def'; temperature: 0.6 -> 1.0" in str(refused.value)
    assert "choose another output directory" in str(refused.value)
    assert json.loads((run / "settings.json").read_text()) == SETTINGS  # untouched
    # A run that failed before its first result holds nothing to keep: it takes the new settings.
    (run / "samples.jsonl").unlink()
    assert open_run_dir(run, other, has_results=has_samples) is False
    assert (
        json.loads((run / "settings.json").read_text()) == other and "holds no results yet" in capsys.readouterr().out
    )


def test_open_run_dir_refuses_files_it_did_not_write(tmp_path):
    (tmp_path / "notes.txt").write_text("keep me")
    with pytest.raises(FileExistsError, match="not a run of efficient-trl"):
        open_run_dir(tmp_path, SETTINGS, has_results=has_samples)
    assert [p.name for p in tmp_path.iterdir()] == ["notes.txt"]
    # its own lock and a torn atomic write are not "files": the directory is still new
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    (fresh / LOCK_FILE).write_text("")
    (fresh / "settings.json.tmp").write_text('{"mod')
    assert open_run_dir(fresh, SETTINGS, has_results=has_samples) is False


# The lock: one process at a time in a run directory.
HOLD = "import sys, time\nfrom efficient_trl.rundir import run_dir_lock\nwith run_dir_lock(sys.argv[1]):\n"
HOLD += "    print('held', flush=True)\n    time.sleep(600)\n"


@pytest.fixture
def lock_holder(tmp_path):
    """Another process holding tmp_path/run's lock: returns a function that starts it and returns it."""
    started = []

    def start() -> subprocess.Popen:
        holder = subprocess.Popen(
            [sys.executable, "-c", HOLD, str(tmp_path / "run")], stdout=subprocess.PIPE, text=True
        )
        started.append(holder)
        assert holder.stdout.readline().strip() == "held"
        return holder

    yield start
    for holder in started:
        holder.kill()
        holder.wait()


def test_a_second_process_is_refused_naming_the_holder(tmp_path, lock_holder):
    run = tmp_path / "run"
    holder = lock_holder()
    with pytest.raises(RunDirInUseError, match=f"in use by process {holder.pid} on {socket.gethostname()}"):
        with run_dir_lock(run):
            pass
    holder.kill()  # a run killed while it holds the lock: its lock file stays, and blocks nothing
    holder.wait()
    assert json.loads((run / LOCK_FILE).read_text())["pid"] == holder.pid
    with run_dir_lock(run):
        assert json.loads((run / LOCK_FILE).read_text())["pid"] == os.getpid()
    with run_dir_lock(run):  # released at the end of the block
        pass


def test_two_evaluations_into_one_directory_never_run_at_once(tiny_model_path, tmp_path, lock_holder):
    from efficient_trl.evaluation import evaluate
    from efficient_trl.sampling import SamplingSettings

    run, options = tmp_path / "run", dict(sampling=SamplingSettings(k=1, max_new_tokens=4), num_problems=1)
    holder = lock_holder()
    with pytest.raises(RunDirInUseError, match=f"process {holder.pid} on {socket.gethostname()}.*wait for it"):
        evaluate(tiny_model_path, "gsm8k", run, **options)
    assert not (run / "samples.jsonl").exists() and not (run / "settings.json").exists()
    holder.kill()
    holder.wait()
    assert evaluate(tiny_model_path, "gsm8k", run, **options)["num_samples"] == 1


# Training runs: recorded settings, refusal, finished runs.
@dataclass
class Script:
    dataset_name: str = "d"
    overwrite_output_dir: bool = False


@dataclass
class Model:
    model_name_or_path: str = "m"


class Args:
    def __init__(self, **fields):
        self.fields = {"output_dir": "out", "logging_steps": 1, "save_steps": 2, "beta": 0.1, **fields}

    def to_dict(self):
        return dict(self.fields)


class Trainer:
    pass


def test_run_settings_leave_out_where_and_how_a_run_logs_and_saves():
    settings = run_settings(Trainer, Args(betas=(0.9, 0.95)), Model(), Script())
    assert settings == {
        "trainer": "Trainer",
        "script": {"dataset_name": "d"},
        "training": {"beta": 0.1, "betas": [0.9, 0.95]},
        "model": {"model_name_or_path": "m"},
    }
    assert run_settings(Trainer, Args(output_dir="x", save_steps=9), Model(), Script(overwrite_output_dir=True)) == (
        run_settings(Trainer, Args(), Model(), Script())
    )


def test_check_same_run_refuses_another_run_naming_what_differs(tmp_path):
    settings = run_settings(Trainer, Args(), Model(), Script())
    check_same_run(tmp_path / "new", settings)  # nothing there yet
    (tmp_path / RUN_SETTINGS_FILE).write_text(json.dumps(settings))
    check_same_run(tmp_path, run_settings(Trainer, Args(beta=0.2), Model(), Script()))  # no step trained yet
    (tmp_path / "trainer_state.json").write_text(json.dumps({"global_step": 2, "max_steps": 4}))
    check_same_run(tmp_path, settings)
    with pytest.raises(FileExistsError, match=r"was -> now: training.beta: 0.1 -> 0.2\).*--overwrite_output_dir"):
        check_same_run(tmp_path, run_settings(Trainer, Args(beta=0.2), Model(), Script()))
    (tmp_path / RUN_SETTINGS_FILE).unlink()
    with pytest.raises(FileExistsError, match="settings were not recorded"):
        check_same_run(tmp_path, settings)
    assert not finished(tmp_path)
    (tmp_path / "trainer_state.json").write_text(json.dumps({"global_step": 4, "max_steps": 4}))
    assert finished(tmp_path)


# Checkpoints: the newest one a resume can use.
def write_checkpoint(run: Path, step: int, *, world_size: int = 1, save_only_model: bool = False) -> Path:
    """A checkpoint-<step>/ laid out as transformers' Trainer saves one (tiny tensors)."""
    checkpoint = run / f"checkpoint-{step}"
    checkpoint.mkdir(parents=True)
    (checkpoint / "trainer_state.json").write_text(json.dumps({"global_step": step}))
    save_file({"weight": torch.zeros(2)}, checkpoint / "model.safetensors")
    if not save_only_model:
        for name in ("optimizer.pt", "scheduler.pt"):
            torch.save({"state": step}, checkpoint / name)
        names = ["rng_state.pth"] if world_size == 1 else [f"rng_state_{i}.pth" for i in range(world_size)]
        for name in names:
            torch.save({"cpu": step}, checkpoint / name)
    return checkpoint


@pytest.mark.parametrize(
    "missing",
    ["optimizer.pt", "scheduler.pt", "rng_state.pth", "model.safetensors", "trainer_state.json"],
)
def test_a_checkpoint_missing_a_file_a_resume_needs_is_skipped(tmp_path, missing):
    write_checkpoint(tmp_path, 2)
    (write_checkpoint(tmp_path, 4) / missing).unlink()
    with pytest.warns(RuntimeWarning, match=f"checkpoint-4 \\({missing}.*resuming from .*checkpoint-2"):
        assert last_complete_checkpoint(tmp_path) == str(tmp_path / "checkpoint-2")


def test_a_torn_checkpoint_is_skipped_and_none_complete_is_an_error(tmp_path):
    assert last_complete_checkpoint(tmp_path / "absent") is None and last_complete_checkpoint(tmp_path) is None
    write_checkpoint(tmp_path, 2)
    write_checkpoint(tmp_path, 10)  # numbered, not sorted by name
    assert last_complete_checkpoint(tmp_path) == str(tmp_path / "checkpoint-10")
    torn = tmp_path / "checkpoint-10" / "model.safetensors"
    torn.write_bytes(torn.read_bytes()[: torn.stat().st_size // 2])
    with pytest.warns(RuntimeWarning, match="checkpoint-10 .*model.safetensors.*resuming from .*checkpoint-2"):
        assert last_complete_checkpoint(tmp_path) == str(tmp_path / "checkpoint-2")
    optimizer = tmp_path / "checkpoint-2" / "optimizer.pt"
    optimizer.write_bytes(optimizer.read_bytes()[:-30])  # torch.save's zip without its central directory
    with pytest.raises(RuntimeError, match="no complete checkpoint to resume from.*optimizer.pt.*Delete"):
        last_complete_checkpoint(tmp_path)


def test_what_a_resume_needs_follows_the_runs_settings(tmp_path):
    # save_only_model: no optimizer, scheduler or RNG state by design; the weights and the log are still needed
    only_model = write_checkpoint(tmp_path / "a", 2, save_only_model=True)
    assert checkpoint_problem(only_model, save_only_model=True) is None
    assert checkpoint_problem(only_model) == "optimizer.pt is missing"
    # one RNG state per process; a checkpoint of another process count, whole, resumes as transformers allows
    two = write_checkpoint(tmp_path / "b", 2, world_size=2)
    assert checkpoint_problem(two, world_size=2) is None and checkpoint_problem(two, world_size=4) is None
    assert checkpoint_problem(two, world_size=1) is None
    four = write_checkpoint(tmp_path / "c", 2, world_size=4)
    (four / "rng_state_2.pth").unlink()
    assert checkpoint_problem(four, world_size=4) == "rng_state_2.pth is missing"
    # sharded weights need every shard; DeepSpeed keeps the optimizer (and the scheduler) in global_step*/
    sharded = write_checkpoint(tmp_path / "d", 2)
    (sharded / "model.safetensors").rename(sharded / "model-00001-of-00002.safetensors")
    weight_map = {"a": "model-00001-of-00002.safetensors", "b": "model-00002-of-00002.safetensors"}
    (sharded / "model.safetensors.index.json").write_text(json.dumps({"weight_map": weight_map}))
    assert checkpoint_problem(sharded) == "model-00002-of-00002.safetensors is missing"
    deepspeed = write_checkpoint(tmp_path / "e", 2)
    for name in ("optimizer.pt", "scheduler.pt"):
        (deepspeed / name).unlink()
    (deepspeed / "global_step2").mkdir()
    torch.save({}, deepspeed / "global_step2" / "bf16_zero_pp_rank_0_mp_rank_00_optim_states.pt")
    assert checkpoint_problem(deepspeed) is None


# The model card's trade-off section, across TRL's rewrite of README.md at each save.
def test_the_model_card_section_survives_a_rewrite(tmp_path):
    card = tmp_path / "README.md"
    section = f"{MODEL_CARD_BEGIN}\n## Reasoning efficiency\n\n| a |\n{MODEL_CARD_END}"
    assert read_card_section(card) is None
    card.write_text(f"# TRL's card\n\n{section}\n\nmore\n")
    assert read_card_section(card) == section
    card.write_text("# TRL's card, rewritten\n")
    restore_card_section(card, section)
    assert card.read_text() == f"# TRL's card, rewritten\n\n{section}\n"
    restore_card_section(card, section)  # already there: unchanged
    assert card.read_text().count(MODEL_CARD_BEGIN) == 1


# The output directory never overlaps what the run reads; --overwrite_output_dir deletes only what a run wrote.
def test_an_output_dir_overlapping_the_runs_inputs_is_refused(tmp_path):
    model, data = tmp_path / "model", tmp_path / "data" / "problems.jsonl"
    model.mkdir()
    data.parent.mkdir()
    data.write_text("")
    inputs = {"the start model": str(model), "the data": str(data), "the chat template": None}
    for output_dir, message in (
        (model, "is the start model"),
        (model / "run", "lies inside the start model"),
        (tmp_path, "contains the start model"),
        (data.parent, "contains the data"),
        (data, "is the data"),
    ):
        with pytest.raises(ValueError, match=f"{message}, .*Choose an output_dir apart"):
            check_output_dir_apart(output_dir, inputs)
    check_output_dir_apart(tmp_path / "runs" / "a", inputs)
    check_output_dir_apart(tmp_path / "runs", {"the start model": "deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B"})
    relative = os.path.relpath(model)  # as given on a command line
    with pytest.raises(ValueError, match="is the start model"):
        check_output_dir_apart(model, {"the start model": relative})


def test_overwrite_deletes_only_what_a_run_wrote(tmp_path):
    run = tmp_path / "run"
    write_checkpoint(run, 2)
    for name in (RUN_SETTINGS_FILE, "trainer_state.json", "provenance.json", "config.json", "tokenizer.json"):
        (run / name).write_text("{}")
    save_file({"weight": torch.zeros(2)}, run / "model.safetensors")
    (run / "README.md").write_text("This model was trained with [TRL](https://github.com/huggingface/trl).\n")
    (run / "runs" / "Dec03_host").mkdir(parents=True)
    (run / "runs" / "Dec03_host" / "events.out.tfevents.1.host").write_text("")
    (run / "notes.txt").write_text("keep me")
    (run / "data").mkdir()
    (run / "data" / "problems.jsonl").write_text("{}\n")
    assert clear_training_run(run, delete=False) == [] and (run / "checkpoint-2").exists()
    assert clear_training_run(run) == ["data", "notes.txt"]
    assert sorted(path.name for path in run.iterdir()) == ["data", "notes.txt"]
    assert (run / "notes.txt").read_text() == "keep me" and (run / "data" / "problems.jsonl").exists()
    # a README of your own, beside a run, is kept
    (run / RUN_SETTINGS_FILE).write_text("{}")
    (run / "README.md").write_text("# my notes\n")
    assert clear_training_run(run) == ["README.md", "data", "notes.txt"]


def test_overwrite_refuses_a_directory_without_a_run(tmp_path):
    model = tmp_path / "model"  # a saved model (weights, config), not a training run
    model.mkdir()
    save_file({"weight": torch.zeros(2)}, model / "model.safetensors")
    (model / "config.json").write_text("{}")
    with pytest.raises(FileExistsError, match="holds no training run.*so it is not deleted"):
        clear_training_run(model)
    with pytest.raises(FileExistsError, match="holds a saved model that is not a training run"):
        check_same_run(model, {"trainer": "t"})  # and training into it without the flag would overwrite its weights
    assert sorted(path.name for path in model.iterdir()) == ["config.json", "model.safetensors"]
    assert clear_training_run(tmp_path / "absent") == []


def test_a_held_run_directory_refuses_files_it_did_not_write_before_making_its_lock(tmp_path):
    from efficient_trl.rundir import held_run_dir

    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    (tmp_path / "afile").write_text("a file")
    for path, message in ((tmp_path / "mine", "not a run of efficient-trl"), (tmp_path / "afile", "is a file")):
        with pytest.raises(FileExistsError, match=f"{message}.*choose another evaluation directory"):
            with held_run_dir(path, {"k": 1}, has_results=lambda _: False, option="evaluation directory"):
                pass
    assert sorted(path.name for path in (tmp_path / "mine").iterdir()) == ["notes.txt"]  # no lock file left there
    with held_run_dir(tmp_path / "new", {"k": 1}, has_results=lambda _: False) as resumed:
        assert resumed is False and (tmp_path / "new" / "settings.json").is_file()
    with held_run_dir(tmp_path / "new", {"k": 1}, has_results=lambda _: False) as resumed:
        assert resumed is True
