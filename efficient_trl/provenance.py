"""What a trained model is: `provenance.json`, written next to its weights (and into every checkpoint-N/), copied into
each evaluation's `summary.json`, and read by `efficient_trl.analysis` instead of guessing from directory names.

Fields (schema 1; a field that does not apply to the trainer is null):

- `schema`: this format's version (`SCHEMA_VERSION`); a newer one is refused by `read_provenance`.
- `trainer`: "grpo" or "rloo" (the method: RL with the length-penalized reward), "sft" or "dpo" (the baselines).
- `base_model`: `{"name_or_path", "fingerprint"}`: the model training started from, as given, and what identifies
  its weights (`model_fingerprint`: a hash of a local directory's config and weights, or `hub:<name>@<commit>`).
- `length_reward`: `{"name", <its parameters>, "measure"}` (RL only): the length reward and every parameter it was
  called with, e.g. `{"name": "sigmoid", "alpha": 0.2, "eps": 1e-07, "measure": "completion"}` or
  `{"name": "kimi", "weight": 1.0, "measure": "thinking"}` (`length_reward_provenance`).
- `advantage_normalization`: "none" (the method), "group", "batch" or "batch_token" (RL only).
- `learning_rate`, `seed`: as trained.
- `max_steps`: the optimizer steps asked for (-1: set by the epochs); `global_step`: the steps reached when the
  file was written (a checkpoint's own step in checkpoint-N/).
- `num_generations`: completions per prompt (RL only); `beta`: the KL coefficient (RL) or DPO's beta (DPO).
- `data`: `{"dataset", "num_problems", "prompt_template"}`: the training data's name or path, how many examples
  were trained on, and the prompt's user turn (null where the data came as finished prompts); for a model whose
  prompts asked for token budgets, also `budget_template` and where the budgets came from: `budget_range` (drawn
  from it, `budgets.with_sampled_budgets`) or `budget_spread` (drawn within that share of each training
  completion's own length, `budgets.budgets_near_lengths`).
- `lora`: whether the weights are a LoRA adapter.
- `efficient_trl_version`, `trl_version`: the versions that trained it.
"""

from __future__ import annotations

import hashlib
import json
from importlib.metadata import version
from pathlib import Path
from typing import Any

from .rundir import write_atomically

__all__ = [
    "PROVENANCE_FILE",
    "RL_TRAINERS",
    "SCHEMA_VERSION",
    "TRAINER_KINDS",
    "length_reward_provenance",
    "missing_provenance",
    "model_fingerprint",
    "read_provenance",
    "result_name",
    "training_provenance",
    "write_provenance",
]

PROVENANCE_FILE = "provenance.json"
SCHEMA_VERSION = 1
RL_TRAINERS = ("grpo", "rloo")
TRAINER_KINDS = (*RL_TRAINERS, "sft", "dpo")
# What `data` records of prompts that asked for token budgets: drawn from a range (`budgets.with_sampled_budgets`), or
# drawn near each training completion's own length (`budgets.budgets_near_lengths`, the budget demo's SFT stage)
BUDGET_DATA = ("budget_range", "budget_template", "budget_spread")


def length_reward_provenance(args: Any) -> dict[str, Any]:
    """The length reward an RL config trains with (`length_reward`, from efficient_trl.LENGTH_REWARDS), every
    parameter it is called with (its paper's defaults included) and what LEN counts: the one place that knows the
    fields."""
    name, params = args.resolved_length_reward()
    warmup = getattr(args, "length_penalty_warmup_steps", 0)  # recorded where a run has one
    target = getattr(args, "target_mean_tokens", None)  # alpha controlled towards it (dual_alpha.py), from "alpha"
    return {
        "name": name,
        **params,
        "measure": args.length_penalty_measure,
        **({"warmup_steps": warmup} if warmup else {}),
        **(
            {
                "target_mean_tokens": target,
                "alpha_step_size": args.length_penalty_alpha_step_size,
                "alpha_max": args.length_penalty_alpha_max,
            }
            if target is not None
            else {}
        ),
    }


def training_provenance(
    trainer: str,
    args: Any,
    base_model: str,
    data: dict[str, Any],
    lora: bool = False,
    global_step: int | None = None,
    extra_rewards: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The provenance of a model trained by `trainer` ("grpo", "rloo", "sft", "dpo") with the training arguments
    `args` from `base_model`, on `data` ({"dataset", "num_problems", "prompt_template"}, and those of `BUDGET_DATA`
    when the prompts asked for budgets); an RL run's `extra_rewards` are TRL's length rewards
    it added (`length_rewards.EXTRA_REWARDS` names and arguments)."""
    if trainer not in TRAINER_KINDS:
        raise ValueError(f"trainer must be one of {list(TRAINER_KINDS)}, got {trainer!r}.")
    rl = trainer in RL_TRAINERS
    return {
        "schema": SCHEMA_VERSION,
        "trainer": trainer,
        "base_model": {"name_or_path": str(base_model), "fingerprint": model_fingerprint(str(base_model))},
        "length_reward": length_reward_provenance(args) if rl else None,
        "advantage_normalization": args.advantage_normalization if rl else None,
        "learning_rate": args.learning_rate,
        "max_steps": args.max_steps,
        "global_step": global_step,
        "seed": args.seed,
        "num_generations": args.num_generations if rl else None,
        "beta": getattr(args, "beta", None) if rl or trainer == "dpo" else None,
        "data": {
            **{key: data.get(key) for key in ("dataset", "num_problems", "prompt_template")},
            **{key: data[key] for key in BUDGET_DATA if key in data},  # only budget-conditioned models have them
            **({"think_prefill": False} if data.get("think_prefill") is False else {}),  # the authors' raw prompt
        },
        "lora": lora,
        "efficient_trl_version": _efficient_trl_version(),
        "trl_version": version("trl"),
        **({"extra_rewards": extra_rewards} if rl and extra_rewards else {}),  # only where a run added some
        **({"rollout_budget": _rollout_budget(args)} if rl and getattr(args, "rollout_budgets", False) else {}),
    }


def _rollout_budget(args: Any) -> dict[str, Any]:
    """How training rollouts were kept within a thinking budget (`configs.RolloutBudgetArguments`)."""
    return {
        "thinking_budget": args.rollout_thinking_budget,
        "column": args.rollout_budget_column,
        "answer_cue": args.rollout_answer_cue,
    }


def _efficient_trl_version() -> str:
    from . import __version__

    return __version__


def write_provenance(model_dir: str | Path, provenance: dict[str, Any]) -> Path:
    """Write `provenance` to model_dir/provenance.json (whole, then renamed into place); returns its path."""
    Path(model_dir).mkdir(parents=True, exist_ok=True)
    return write_atomically(Path(model_dir) / PROVENANCE_FILE, json.dumps(provenance, indent=1) + "\n")


def read_provenance(model_dir: str | Path) -> dict[str, Any] | None:
    """The provenance written next to a model's weights; None when there is none (a hub name, a base model, a model
    trained before efficient-trl recorded it)."""
    path = Path(model_dir).expanduser() / PROVENANCE_FILE
    if not path.is_file():
        return None
    try:
        provenance = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise ValueError(f"{path} is not valid JSON ({error}); delete it or rewrite it by training again.") from None
    if not isinstance(provenance, dict) or not isinstance(provenance.get("schema"), int):
        raise ValueError(f"{path} is not an efficient-trl provenance file (no integer 'schema'); delete or fix it.")
    if provenance["schema"] > SCHEMA_VERSION:
        raise ValueError(
            f"{path} has schema {provenance['schema']}, newer than this efficient-trl reads ({SCHEMA_VERSION}): "
            "upgrade efficient-trl (pip install -U efficient-trl)."
        )
    return provenance


# What a training run leaves in a model directory: a sign that the directory holds a trained model
TRAINING_TRACES = ("trainer_state.json", "training_args.bin", "adapter_config.json", "adapter_model.safetensors")


def missing_provenance(model: str | Path) -> str | None:
    """Why a model directory without provenance.json looks trained nonetheless (the training files it holds), so
    that an evaluation does not take it for an untrained model in silence; None when it has a provenance, is not a
    local directory, or shows no sign of training."""
    path = Path(model).expanduser()
    if not path.is_dir() or (path / PROVENANCE_FILE).is_file():
        return None
    traces = [name for name in TRAINING_TRACES if (path / name).is_file()]
    traces += sorted(child.name for child in path.glob("checkpoint-*") if child.is_dir())[:3]
    if not traces:
        return None
    return (
        f"{path} holds {', '.join(traces)} but no {PROVENANCE_FILE}: it looks trained, but how is not recorded (the "
        "file was deleted, or a tool other than efficient-trl trained it); its results count it as untrained."
    )


def model_fingerprint(model: str, prefix_bytes: int = 1 << 20) -> str:
    """What identifies the model's weights, cheaply: for a local directory, a hash of its config.json and of each
    weight file's name, size, first and last `prefix_bytes`; for a hub name, its commit (from the local cache, else
    the hub) or the bare name when neither is reachable."""
    path = Path(model).expanduser()
    if not path.is_dir():
        return f"hub:{model}@{_hub_commit(model) or 'unknown'}"
    digest = hashlib.sha256()
    for name in ("config.json", "adapter_config.json"):
        if (path / name).is_file():
            digest.update(name.encode() + (path / name).read_bytes())
    weights = sorted(
        file
        for pattern in ("*.safetensors", "*.bin", "*.pt", "*.pth", "*.gguf")
        for file in path.glob(pattern)
        if file.name not in ("training_args.bin",)
    )
    if not weights:
        raise FileNotFoundError(f"{model} holds no weight files (*.safetensors, *.bin, ...) to evaluate.")
    for file in weights:
        size = file.stat().st_size
        digest.update(f"{file.name}:{size}".encode())
        with file.open("rb") as f:  # whole files would cost minutes for multi-GB weights
            digest.update(f.read(prefix_bytes))
            f.seek(max(0, size - prefix_bytes))
            digest.update(f.read(prefix_bytes))
    return digest.hexdigest()[:16]


def _hub_commit(model: str) -> str | None:
    from huggingface_hub import HfApi, constants, snapshot_download
    from huggingface_hub.utils import HfHubHTTPError, LocalEntryNotFoundError

    try:
        return Path(snapshot_download(model, local_files_only=True)).name  # snapshots/<commit>
    except (LocalEntryNotFoundError, ValueError, OSError):
        pass
    if constants.HF_HUB_OFFLINE:
        return None
    try:
        return HfApi().model_info(model).sha
    except (HfHubHTTPError, OSError, ValueError):
        return None


def result_name(model: str | Path) -> str:
    """How a model's evaluations are named in results: its directory's name, `<run>/checkpoint-N` for a
    checkpoint, the repository's name for a hub model."""
    model = Path(model)
    return f"{model.parent.name}/{model.name}" if model.name.startswith("checkpoint-") else model.name
