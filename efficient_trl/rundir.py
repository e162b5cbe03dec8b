"""Run directories: what a training or evaluation run keeps on disk so that a relaunch resumes it, another run is
refused, nothing is half written and nothing the run did not write is deleted.

- `write_atomically`: every record file (settings, provenance, summaries) is written whole, then renamed into place.
- `check_new_output_dir`: a command that writes a new directory refuses a taken one before it starts.
- `open_run_dir`: a directory's recorded settings.json decides: the same settings resume, other settings are refused
  naming what differs, a directory that failed before its first result takes the new settings (evaluation).
- `run_settings`, `check_same_run`, `finished`, `last_complete_checkpoint`: the same for a training run's output_dir
  (efficient_trl_run.json), with checkpoints checked file by file before a resume.
- `check_output_dir_apart`, `clear_training_run`: an output_dir never overlaps what the run reads, and
  `--overwrite_output_dir` deletes only what an earlier run wrote.
- `run_dir_lock`: one process at a time in a run directory.
- `read_card_section`, `restore_card_section`: the model card's trade-off section survives TRL's rewrite of README.md.

Low level: imports nothing else of efficient_trl, so that training, evaluation and the experiments all build on it.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import time
import warnings
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Any

__all__ = [
    "LOCK_FILE",
    "MODEL_CARD_BEGIN",
    "MODEL_CARD_END",
    "RELAUNCH_FIELDS",
    "RELAUNCH_PREFIXES",
    "RUN_MARKERS",
    "RUN_SETTINGS_FILE",
    "RunDirInUseError",
    "check_new_output_dir",
    "check_output_dir_apart",
    "check_same_run",
    "checkpoint_problem",
    "clear_training_run",
    "finished",
    "holds_training",
    "last_complete_checkpoint",
    "open_run_dir",
    "read_card_section",
    "restore_card_section",
    "run_dir_lock",
    "run_settings",
    "write_atomically",
]

# The trade-off section `model_card.write_model_card` puts into a model's README.md lies between these markers.
MODEL_CARD_BEGIN = "<!-- efficient-trl: trade-off table (begin; rewritten by write_model_card) -->"
MODEL_CARD_END = "<!-- efficient-trl: trade-off table (end) -->"
RUN_SETTINGS_FILE = "efficient_trl_run.json"
RUN_MARKERS = (RUN_SETTINGS_FILE, "trainer_state.json", "provenance.json", "checkpoint-*")  # a training run's own
LOCK_FILE = ".efficient_trl.lock"
# Training fields that may change between launches of one run: where and how it logs, saves and reports, not what
# it trains. Every other field (and the script's and the model's arguments) must match on a relaunch.
RELAUNCH_FIELDS = frozenset(
    {"output_dir", "logging_dir", "run_name", "report_to", "resume_from_checkpoint", "local_rank", "disable_tqdm"}
    | {"log_level", "log_level_replica", "log_on_each_node", "log_completions", "num_completions_to_print"}
)
RELAUNCH_PREFIXES = ("logging_", "save_", "push_to_hub", "hub_", "dataloader_", "vllm_server_", "trackio_", "wandb_")
# What a training run writes into its output_dir (transformers' and TRL's saves, this toolkit's records): the only
# files `clear_training_run` deletes. README.md is deleted only when it is TRL's card (`_written_card`).
TRAINING_FILES = f"""{RUN_SETTINGS_FILE} {LOCK_FILE}
    trainer_state.json provenance.json training_args.bin config.json generation_config.json *.safetensors
    *.safetensors.index.json pytorch_model*.bin pytorch_model.bin.index.json adapter_config.json adapter_model.*
    tokenizer.json tokenizer_config.json special_tokens_map.json vocab.json merges.txt added_tokens.json
    tokenizer.model chat_template.jinja chat_template.json *.json.tmp
""".split()


def write_atomically(path: str | Path, text: str) -> Path:
    """Write `text` to `path` whole, then rename it into place: an interruption leaves the old file or the new one,
    never half of one. Returns the path."""
    path = Path(path)
    temporary = path.with_suffix(path.suffix + ".tmp")
    temporary.write_text(text)
    os.replace(temporary, path)
    return path


def check_new_output_dir(output_dir: str | Path, option: str = "output directory") -> Path:
    """`output_dir` as a Path if it is free (absent or empty), else a FileExistsError naming `option`, what to
    change. The one check of every command that writes a new directory (prepared sets, the demo's runs, the quickstart,
    the demo model, rejection-sampled datasets); call it before the work, so that a taken directory is refused at once
    rather than after it."""
    output_dir = Path(output_dir)
    _refuse_file(output_dir, option)
    if output_dir.exists() and any(output_dir.iterdir()):
        raise FileExistsError(
            f"{output_dir} already holds data; choose another {option} (outputs are never overwritten)."
        )
    return output_dir


def open_run_dir(
    run_dir: str | Path,
    settings: dict[str, Any],
    *,
    has_results: Callable[[Path], bool],
    settings_file: str = "settings.json",
    option: str = "output directory",
) -> bool:
    """Open the run directory `run_dir` for a run with `settings` (JSON values); True when it already holds this run
    (resume it), False when the run starts afresh there.

    A new or empty directory gets `settings_file`, written atomically. The same recorded settings: resume. Other
    settings: a FileExistsError naming each field that differs (was -> now), unless the directory holds no results
    yet (`has_results(run_dir)` false: a run that failed before its first result), which takes the new settings.
    A file, or files but no `settings_file`: refused, never overwritten (`option` names what to choose instead).
    """
    run_dir = Path(run_dir)
    settings_path = run_dir / settings_file
    _refuse_foreign(run_dir, settings_file, option)
    if not _holds_anything(run_dir):
        run_dir.mkdir(parents=True, exist_ok=True)
        write_atomically(settings_path, json.dumps(settings, indent=1) + "\n")
        return False
    recorded = json.loads(settings_path.read_text())
    if recorded == settings:
        return True
    if not has_results(run_dir):
        print(f"{run_dir} holds no results yet: replacing its settings with this command's.")
        write_atomically(settings_path, json.dumps(settings, indent=1) + "\n")
        return False
    raise FileExistsError(
        f"{run_dir} holds a run with other settings (recorded in {settings_file}; was -> now: "
        f"{_changes(recorded, settings)}); rerun with the recorded settings to resume it, or choose another {option}."
    )


@contextmanager
def held_run_dir(
    run_dir: str | Path,
    settings: dict[str, Any],
    *,
    has_results: Callable[[Path], bool],
    settings_file: str = "settings.json",
    option: str = "output directory",
) -> Iterator[bool]:
    """`open_run_dir` under the run directory's lock (`run_dir_lock`), held for the block; yields whether the run is
    resumed. A file or a directory of other files is refused before the lock file is made there."""
    _refuse_foreign(Path(run_dir), settings_file, option)
    with run_dir_lock(run_dir):
        yield open_run_dir(run_dir, settings, has_results=has_results, settings_file=settings_file, option=option)


def _refuse_foreign(run_dir: Path, settings_file: str, option: str) -> None:
    """Refuse a run directory that is a file, or holds files but no `settings_file` (not a run of this toolkit)."""
    _refuse_file(run_dir, option)
    if _holds_anything(run_dir) and not (run_dir / settings_file).is_file():
        raise FileExistsError(
            f"{run_dir} holds files that are not a run of efficient-trl (no {settings_file}); choose another {option}."
        )


def _refuse_file(path: Path, option: str) -> None:
    if path.exists() and not path.is_dir():
        raise FileExistsError(f"{path} is a file, not a directory; choose another {option}.")


def _holds_anything(run_dir: Path) -> bool:
    """Whether run_dir holds files other than its lock and the leftovers of an interrupted atomic write."""
    if not run_dir.is_dir():
        return False
    return any(path.name != LOCK_FILE and not path.name.endswith(".tmp") for path in run_dir.iterdir())


def _changes(was: dict[str, Any], now: dict[str, Any]) -> str:
    """'field: was -> now' for each field that differs ({"training": {"beta": 0.1}} is field training.beta)."""
    was, now = _flatten(was), _flatten(now)
    return "; ".join(
        f"{key}: {was.get(key)!r} -> {now.get(key)!r}" for key in sorted({*was, *now}) if was.get(key) != now.get(key)
    )


def _flatten(settings: dict[str, Any]) -> dict[str, Any]:
    return {
        f"{section}.{key}" if isinstance(values, dict) else section: value
        for section, values in settings.items()
        for key, value in (values.items() if isinstance(values, dict) else [(None, values)])
    }


class RunDirInUseError(RuntimeError):
    """Another live process holds the run directory's lock."""


@contextmanager
def run_dir_lock(run_dir: str | Path) -> Iterator[Path]:
    """Hold `run_dir`'s lock (LOCK_FILE, created with the directory if needed) for the block, so that two processes
    never work in one run directory at once; a second one gets a RunDirInUseError naming the holder's process id and
    host. The lock is the operating system's (flock): it ends with the process that held it, so the file a killed
    run leaves behind never blocks the next one. Yields the lock file's path. (Where there is no flock, on Windows,
    the block runs unlocked.)"""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    path = run_dir / LOCK_FILE
    try:
        import fcntl
    except ImportError:
        yield path
        return
    descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_holder(path)
            raise RunDirInUseError(
                f"{run_dir} is in use by process {holder.get('pid', '?')} on {holder.get('host', '?')} (since "
                f"{holder.get('since', '?')}): wait for it to finish (or stop it), or choose another output directory."
            ) from None
        holder = {"pid": os.getpid(), "host": socket.gethostname(), "since": time.strftime("%Y-%m-%d %H:%M:%S %Z")}
        os.ftruncate(descriptor, 0)
        os.write(descriptor, (json.dumps(holder) + "\n").encode())
        try:
            yield path
        finally:
            fcntl.flock(descriptor, fcntl.LOCK_UN)
    finally:
        os.close(descriptor)


def _read_holder(path: Path) -> dict[str, Any]:
    try:
        holder = json.loads(path.read_text())
    except (OSError, ValueError):  # the holder is between taking the lock and writing its name
        return {}
    return holder if isinstance(holder, dict) else {}


def run_settings(trainer_class: type, args: Any, model_args: Any, script_args: Any) -> dict[str, Any]:
    """A training run's settings as recorded in RUN_SETTINGS_FILE: the trainer, the script's and the model's
    arguments (dataclasses) and every training field but those RELAUNCH_FIELDS and RELAUNCH_PREFIXES name."""
    training = {
        key: value
        for key, value in args.to_dict().items()
        if key not in RELAUNCH_FIELDS and not key.startswith(RELAUNCH_PREFIXES)
    }
    script = asdict(script_args) if script_args is not None else {}
    script.pop("overwrite_output_dir", None)
    settings = {"trainer": trainer_class.__name__, "script": script, "training": training, "model": asdict(model_args)}
    return json.loads(json.dumps(settings, default=str))  # as read back from the file: lists, not tuples


def check_same_run(output_dir: str | Path, settings: dict[str, Any]) -> None:
    """Refuse an output_dir that holds another training run (or one whose settings were not recorded), naming each
    field that differs; accept one that holds no training yet (a launch that failed before its first step) whatever
    its recorded settings."""
    output_dir = Path(output_dir)
    if not output_dir.is_dir() or not any(output_dir.iterdir()):
        return
    settings_path = output_dir / RUN_SETTINGS_FILE
    trained = (output_dir / "trainer_state.json").exists() or any(output_dir.glob("checkpoint-*"))
    if not settings_path.exists():
        if holds_training(output_dir):
            raise FileExistsError(
                f"{output_dir} holds a training run whose settings were not recorded ({RUN_SETTINGS_FILE} is "
                "missing), so it cannot be resumed safely: choose another output_dir, or pass --overwrite_output_dir "
                "true to delete it and start over."
            )
        if any(any(output_dir.glob(pattern)) for pattern in ("*.safetensors", "pytorch_model*.bin", "adapter_*")):
            raise FileExistsError(
                f"{output_dir} holds a saved model that is not a training run of efficient-trl, and training would "
                "overwrite its weights: choose another output_dir."
            )
        return
    recorded = json.loads(settings_path.read_text())
    if recorded == settings or not trained:
        return
    raise FileExistsError(
        f"{output_dir} holds another run (recorded in {RUN_SETTINGS_FILE}; was -> now: "
        f"{_changes(recorded, settings)}). Relaunch with the same settings to resume it, choose another output_dir, "
        "or pass --overwrite_output_dir true to delete it and start over."
    )


def holds_training(output_dir: str | Path) -> bool:
    """Whether output_dir holds (part of) a training run of this toolkit: RUN_SETTINGS_FILE, a checkpoint, the
    training log or the provenance written beside the weights (weights alone are any saved model)."""
    return any(any(Path(output_dir).glob(pattern)) for pattern in RUN_MARKERS)


def finished(output_dir: str | Path) -> bool:
    """Whether output_dir holds a finished training run: trainer_state.json in output_dir itself (checkpoints keep
    theirs) is written once training has ended, at its last step."""
    state_path = Path(output_dir) / "trainer_state.json"
    if not state_path.is_file():
        return False
    state = json.loads(state_path.read_text())
    return state.get("max_steps", 0) > 0 and state.get("global_step", 0) >= state["max_steps"]


def check_output_dir_apart(output_dir: str | Path, inputs: dict[str, str | None]) -> None:
    """Refuse an output_dir that is, lies inside or contains a local path the run reads (`inputs`: what it is ->
    path, e.g. {"the start model (model_name_or_path)": ...}; a hub name, or None, is skipped): training there, or
    `--overwrite_output_dir`, would overwrite or delete it. Call it before anything is written."""
    output = Path(output_dir).expanduser().resolve()
    for what, given in inputs.items():
        if not given or not Path(given).expanduser().exists():
            continue
        path = Path(given).expanduser().resolve()
        relations = {"is": output == path, "lies inside": path in output.parents, "contains": output in path.parents}
        relation = next((relation for relation, holds in relations.items() if holds), None)
        if relation:
            raise ValueError(
                f"output_dir {output_dir} {relation} {what}, {given}: the run would overwrite or delete what it "
                "reads. Choose an output_dir apart from the model and the data."
            )


def clear_training_run(output_dir: str | Path, *, delete: bool = True) -> list[str]:
    """Delete what an earlier training run wrote into output_dir (TRAINING_FILES, its checkpoint-N/ directories,
    TRL's completions/ logs, TensorBoard's runs/ when it holds event files only, and README.md when it is TRL's
    card) and return the names of the files kept, which it did not write. A directory that holds no run of this
    toolkit (`holds_training` false: a saved model, your own files) is refused, untouched.
    `delete` False only checks (the other processes of a launch, while the main one deletes)."""
    output_dir = Path(output_dir)
    if not output_dir.is_dir():
        return []
    if any(output_dir.iterdir()) and not holds_training(output_dir):
        raise FileExistsError(
            f"--overwrite_output_dir: {output_dir} holds no training run (no {', '.join(RUN_MARKERS)}), so it is not "
            "deleted; choose another output_dir."
        )
    if not delete:
        return []
    kept = []
    for path in sorted(output_dir.iterdir()):
        if path.is_dir() and _written_directory(path):
            shutil.rmtree(path)
        elif path.is_file() and (any(path.match(p) for p in TRAINING_FILES) or _written_card(path)):
            path.unlink()
        else:
            kept.append(path.name)
    return kept


def _written_directory(path: Path) -> bool:
    if re.fullmatch(r"checkpoint-\d+", path.name):
        return True
    files = [file for file in path.rglob("*") if file.is_file()]
    if path.name == "completions":  # TRL's log_completions
        return all(file.suffix == ".parquet" for file in files)
    return path.name == "runs" and all(file.name.startswith("events.out.tfevents.") for file in files)


def _written_card(path: Path) -> bool:
    """README.md as TRL writes it at each save (with the trade-off section, if one was added)."""
    return path.name == "README.md" and "https://github.com/huggingface/trl" in path.read_text(errors="replace")


def last_complete_checkpoint(
    output_dir: str | Path, *, world_size: int = 1, save_only_model: bool = False
) -> str | None:
    """The newest checkpoint-N/ in output_dir that a resume can use (`checkpoint_problem` finds nothing wrong);
    an incomplete one (a launch killed while saving, a file deleted) is skipped with a warning naming what is wrong,
    since resuming from it fails or silently starts a fresh optimizer. None when there is no checkpoint; a
    RuntimeError when none is complete."""
    output_dir = Path(output_dir)
    if not output_dir.is_dir():
        return None
    numbered = [
        (int(match.group(1)), path)
        for path in output_dir.iterdir()
        if path.is_dir() and (match := re.fullmatch(r"checkpoint-(\d+)", path.name))
    ]
    torn = []
    for _, checkpoint in sorted(numbered, reverse=True):
        problem = checkpoint_problem(checkpoint, world_size=world_size, save_only_model=save_only_model)
        if problem is None:
            if torn:
                warnings.warn(
                    f"skipping incomplete checkpoint(s) {', '.join(torn)}; resuming from {checkpoint} instead "
                    "(the skipped steps are trained again and their directories overwritten).",
                    RuntimeWarning,
                    stacklevel=2,
                )
            return str(checkpoint)
        torn.append(f"{checkpoint} ({problem})")
    if torn:
        raise RuntimeError(
            f"no complete checkpoint to resume from: {', '.join(torn)}. Delete these directories to start over."
        )
    return None


def checkpoint_problem(checkpoint: str | Path, *, world_size: int = 1, save_only_model: bool = False) -> str | None:
    """What keeps a resume from `checkpoint` (written by a run on `world_size` processes) from restoring the run
    exactly, or None: a file missing or torn (its bytes do not read back).

    Needed: trainer_state.json and the weights (model.safetensors, sharded weights with every shard, pytorch_model.bin,
    a LoRA adapter, FSDP's or DeepSpeed's own); unless the run saves the model only (`save_only_model`: no optimizer
    state by design, so a resume starts a fresh optimizer as transformers documents), also the optimizer state
    (optimizer.pt, FSDP's or DeepSpeed's global_step*/), scheduler.pt (DeepSpeed may keep the scheduler itself) and
    the RNG state of every process (rng_state.pth, or rng_state_<i>.pth for i < world_size; a checkpoint that holds
    the RNG states of another process count whole is accepted, as transformers resumes it).
    """
    checkpoint = Path(checkpoint)
    try:
        json.loads((checkpoint / "trainer_state.json").read_text())
    except (OSError, ValueError) as error:
        return f"trainer_state.json: {error}"
    missing = _missing_file(checkpoint, world_size, save_only_model)
    if missing:
        return missing
    from safetensors import safe_open

    for file in sorted(checkpoint.rglob("*")):
        try:
            if file.suffix == ".safetensors":
                with safe_open(str(file), "pt"):  # checks that the header's tensors fit in the file
                    pass
            elif file.suffix in (".pt", ".pth", ".bin") and file.name != "training_args.bin":
                zipfile.ZipFile(file).close()  # torch.save's format: a torn file has no central directory
        except Exception as error:
            return f"{file.name}: {error}"
    return None


def _missing_file(checkpoint: Path, world_size: int, save_only_model: bool) -> str | None:
    """'<file> is missing' for the first file a resume needs that `checkpoint` lacks (`checkpoint_problem`), or
    None."""
    deepspeed = any(path.is_dir() for path in checkpoint.glob("global_step*"))
    fsdp = any(checkpoint.glob("pytorch_model_fsdp*"))
    for index in [*checkpoint.glob("*.safetensors.index.json"), *checkpoint.glob("pytorch_model.bin.index.json")]:
        try:
            shards = set(json.loads(index.read_text())["weight_map"].values())
        except (OSError, ValueError, KeyError, AttributeError) as error:
            return f"{index.name}: {error}"
        absent = sorted(shard for shard in shards if not (checkpoint / shard).is_file())
        if absent:
            return f"{absent[0]} is missing"
    weights = ("model.safetensors", "*.safetensors.index.json", "pytorch_model.bin", "pytorch_model.bin.index.json")
    weights += ("adapter_model.safetensors", "adapter_model.bin")
    if not (deepspeed or fsdp or any(any(checkpoint.glob(pattern)) for pattern in weights)):
        return "model.safetensors is missing (no weights)"
    if save_only_model:
        return None
    if not (deepspeed or any(checkpoint.glob("optimizer*"))):
        return "optimizer.pt is missing"
    if not deepspeed and not (checkpoint / "scheduler.pt").is_file():
        return "scheduler.pt is missing"
    names = {path.name for path in checkpoint.glob("rng_state*.pth")}
    expected = ["rng_state.pth"] if world_size <= 1 else [f"rng_state_{i}.pth" for i in range(world_size)]
    numbered = sorted(int(m.group(1)) for name in names if (m := re.fullmatch(r"rng_state_(\d+)\.pth", name)))
    another_count_whole = names == {"rng_state.pth"} or (numbered and numbered == list(range(len(numbered))))
    if set(expected) <= names or (another_count_whole and len(names) != len(expected)):
        return None
    return f"{next(name for name in expected if name not in names)} is missing"


def read_card_section(card: str | Path) -> str | None:
    """The trade-off section that `model_card.write_model_card` put in a model card (README.md), markers included;
    None when it has none."""
    card = Path(card)
    text = card.read_text() if card.is_file() else ""
    if MODEL_CARD_BEGIN not in text or MODEL_CARD_END not in text:
        return None
    start = text.index(MODEL_CARD_BEGIN)
    return text[start : text.index(MODEL_CARD_END, start) + len(MODEL_CARD_END)]


def restore_card_section(card: str | Path, section: str) -> None:
    """Append `section` (from `read_card_section`) to the card again if a rewrite (TRL's, at each save) dropped it."""
    card = Path(card)
    text = card.read_text() if card.is_file() else ""
    if MODEL_CARD_BEGIN not in text:
        card.write_text((text.rstrip("\n") + "\n\n" if text else "") + section + "\n")
