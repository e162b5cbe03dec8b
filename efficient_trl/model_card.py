"""A trained checkpoint's model card: the trade-off table (accuracy and mean tokens against the starting model, per
dataset, from `analysis.load_results` rows), the card's hub metadata (base model, datasets, tags, a model-index) and
the upload. `recipes/model_card.py` is the command-line front end.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .cli import function_default
from .provenance import PROVENANCE_FILE, RL_TRAINERS, model_fingerprint, read_provenance, result_name
from .rundir import MODEL_CARD_BEGIN, MODEL_CARD_END

__all__ = [
    "ModelCardArguments",
    "UPLOAD_PATTERNS",
    "checkpoint_card",
    "check_results_match",
    "checkpoint_results_name",
    "files_to_upload",
    "model_card_data",
    "model_card_section",
    "model_card_table",
    "push_checkpoint",
    "write_model_card",
]

PAPER = "[Training Language Models to Reason Efficiently](https://arxiv.org/abs/2502.04463) (Arora & Zanette, 2025)"
MODEL_CARD_TAGS = ("efficient-trl", "reasoning", "length-penalty", "arxiv:2502.04463")
# Shipped evaluation sets -> (hub dataset, config, split) they are copies of, for the model-index
HUB_DATASETS = {
    "gsm8k": ("openai/gsm8k", "main", "test"),
    "math500": ("HuggingFaceH4/MATH-500", None, "test"),
    "aime24": ("HuggingFaceH4/aime_2024", None, "train"),
}


def model_card_table(rows: list[dict[str, Any]], model: str, start: str) -> str:
    """Markdown: per dataset, `model`'s accuracy and mean tokens beside the `start` model's, and the change."""
    trained = {row["dataset"]: row for row in rows if row["name"] == model and row["family"] != "cutoff"}
    reference = {row["dataset"]: row for row in rows if row["name"] == start and row["family"] != "cutoff"}
    if not trained:
        raise ValueError(f"no results for {model!r} (models: {list(dict.fromkeys(row['name'] for row in rows))}).")
    missing = [dataset for dataset in trained if dataset not in reference]
    if missing:
        raise ValueError(f"{start!r} has no results on {missing} to compare {model!r} against; evaluate it there.")
    lines = [
        f"| dataset | accuracy ({start}) | accuracy | change | mean tokens ({start}) | mean tokens | change |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for dataset, row in trained.items():
        base = reference[dataset]
        lines.append(
            f"| {dataset} | {100 * base['accuracy']:.1f}% | {100 * row['accuracy']:.1f}% "
            f"| {100 * (row['accuracy'] - base['accuracy']):+.1f} pts | {base['mean_tokens']:.0f} "
            f"| {row['mean_tokens']:.0f} | {100 * (row['mean_tokens'] / base['mean_tokens'] - 1):+.1f}% |"
        )
    evaluated = [row for row in trained.values() if "k" in row]  # evaluation rows carry their settings
    if evaluated:
        settings = "; ".join(
            f"{row['dataset']} k={row['k']}, temperature {row['temperature']:g}, up to {row['max_new_tokens']} tokens"
            for row in evaluated
        )
        lines += ["", f"Average pass@k ({settings}); a response cut off at the token limit counts as wrong."]
    return "\n".join(lines)


def _hub_name(reference: Any) -> str | None:
    """`reference` when it names a hub repository (owner/name, not a local path), else None."""
    is_hub = isinstance(reference, str) and reference.count("/") == 1 and not reference.startswith((".", "/", "~"))
    return reference if is_hub and not Path(reference).exists() else None


def check_results_match(rows: list[dict[str, Any]], model: str, checkpoint: str | Path) -> None:
    """Refuse to put `model`'s results on `checkpoint`'s card unless every one of its evaluations was made on these
    weights (the `model_fingerprint` each evaluation recorded against the checkpoint's own): a result found by name
    may belong to the weights before a retraining, or to another model in a directory of the same name."""
    expected = model_fingerprint(str(checkpoint))
    for row in rows:
        if row["name"] != model or row["family"] == "cutoff" or row.get("model_fingerprint") == expected:
            continue
        recorded = row.get("model_fingerprint")
        what = f"was made on weights {recorded}" if recorded else "recorded no weights fingerprint"
        raise ValueError(
            f"the evaluation {row.get('run_dir', '?')} of {model!r} ({row['dataset']}, model {row.get('model')}) "
            f"{what}, but {checkpoint} holds weights {expected}: its results are not this checkpoint's. Evaluate "
            f"the checkpoint again (python recipes/evaluate.py --model {checkpoint} --dataset {row['dataset']} "
            "--output_dir <a new directory>) and point --results at that evaluation, or name its own results with "
            "--model."
        )


def checkpoint_results_name(rows: list[dict[str, Any]], checkpoint: str | Path, start: str) -> str:
    """The name under which `rows` hold `checkpoint`'s evaluations, when `--model` is not given: the checkpoint
    directory's name as `recipes/evaluate.py` names it (`result_name`) when the results hold it; else the one name
    whose evaluations were made on the checkpoint's weights (their `model_fingerprint`), as a demo run names its
    models (`RUN/alpha_0.2` is "alpha=0.2"). Any other case is an error naming the `--model` to pass."""
    own = result_name(checkpoint)
    names = list(dict.fromkeys(row["name"] for row in rows if row["family"] != "cutoff"))
    if own in names:
        return own  # check_results_match then checks that these evaluations are of its weights
    expected = model_fingerprint(str(checkpoint))
    evaluated = (row for row in rows if row["family"] != "cutoff" and row.get("model_fingerprint") == expected)
    matches = list(dict.fromkeys(row["name"] for row in evaluated))
    if matches == [start]:
        raise ValueError(
            f"{checkpoint} holds the weights of the starting model {start!r} (untrained, or a copy of it); pass the "
            "trained model's directory as --checkpoint."
        )
    matches = [name for name in matches if name != start]
    if len(matches) == 1:
        return matches[0]
    if matches:
        raise ValueError(
            f"the results hold {checkpoint}'s weights under several names {matches}; choose one with --model "
            f"(e.g. --model {matches[0]})."
        )
    raise ValueError(
        f"no results for {own!r} and no evaluation of {checkpoint}'s weights (models: {names}). Evaluate it "
        f"(python recipes/evaluate.py --model {checkpoint} --dataset <dataset>) and point --results at that "
        "evaluation, or name its results with --model."
    )


def _base_model(rows: list[dict[str, Any]], start: str, provenance: dict[str, Any] | None) -> str | None:
    """The hub name of the model the checkpoint was trained from: from its `provenance`, else as the starting model's
    evaluation recorded it (`summary.json`'s `model`); None for a local directory, a demo run, or a checkpoint
    without provenance (nothing says what it was trained from)."""
    if provenance is None:
        return None
    if _hub_name(provenance["base_model"]["name_or_path"]):
        return provenance["base_model"]["name_or_path"]
    models = {row.get("model") for row in rows if row["name"] == start and row["family"] != "cutoff"}
    hub_names = [m for m in models if _hub_name(m)]
    return hub_names[0] if len(hub_names) == 1 else None


def _training_settings(provenance: dict[str, Any]) -> str:
    """One sentence of how a model was trained, from its provenance."""
    steps = provenance.get("global_step") or provenance.get("max_steps")
    parts = [f"trainer {provenance['trainer'].upper()}"]
    reward = provenance.get("length_reward")
    if reward:
        details = ", ".join(f"{key} {value}" for key, value in reward.items() if key != "name")
        parts.append(f"length reward {reward['name']} ({details})")
    if provenance.get("advantage_normalization"):
        parts.append(f"advantage normalization {provenance['advantage_normalization']}")
    parts += [f"learning rate {provenance['learning_rate']:g}", f"{steps} steps", f"seed {provenance['seed']}"]
    data = provenance.get("data") or {}
    if data.get("dataset"):
        parts.append(f"data `{data['dataset']}` ({data.get('num_problems')} examples)")
    parts += ["LoRA adapter"] if provenance.get("lora") else []
    return "Training settings (from its provenance.json): " + "; ".join(parts) + "."


def _how_trained(provenance: dict[str, Any] | None, base_model: str | None, start: str) -> str:
    """The card's first sentence: how the checkpoint was trained, as far as its own provenance says."""
    toolkit = "[efficient-trl](https://github.com/efficient-trl/efficient-trl)"
    if provenance is None:
        given = f"Trained from `{base_model}` (as given); how" if base_model else "How"
        return (
            f"{given} it was trained is not recorded: its directory holds no {PROVENANCE_FILE}. The table compares "
            f"it with `{start}`."
        )
    base_model = base_model or start
    if provenance["trainer"] not in RL_TRAINERS:
        return f"Trained from `{base_model}` by {provenance['trainer'].upper()}, using {toolkit}."
    reward = provenance.get("length_reward") or {}
    how = f" at alpha = {reward['alpha']:g}" if reward.get("name") == "sigmoid" and "alpha" in reward else ""
    if "target_mean_tokens" in reward:  # alpha was adjusted during training (dual_alpha.py)
        final = f", ending at {reward['final_alpha']:g}" if "final_alpha" in reward else ""
        target = reward["target_mean_tokens"]
        how = f" with alpha adjusted towards a mean of {target:g} tokens (from {reward['alpha']:g}{final})"
    return (
        f"Trained from `{base_model}` with the length-penalized RL of {PAPER}{how}, using {toolkit}: the reward of a "
        "correct response shrinks as it gets longer than the prompt's other correct responses, so the model learns "
        "to reason in fewer tokens."
    )


def model_card_section(
    rows: list[dict[str, Any]],
    model: str,
    start: str,
    base_model: str | None = None,
    provenance: dict[str, Any] | None = None,
) -> str:
    """What the model card says about efficiency: how the checkpoint was trained (base model, the method, alpha and
    the training settings, all from the checkpoint's own `provenance`: `read_provenance(checkpoint)`; None says it
    is not recorded) and `model_card_table`'s comparison of `model` with the `start` model, with the evaluation
    settings. Check the rows with `check_results_match` first."""
    base_model = base_model or _base_model(rows, start, provenance)
    intro = f"{_how_trained(provenance, base_model, start)} Evaluation: average pass@k, graded with math-verify."
    if provenance:
        intro += f"\n\n{_training_settings(provenance)}"
    return f"{intro}\n\n{model_card_table(rows, model, start)}"


def model_card_data(
    rows: list[dict[str, Any]],
    model: str,
    start: str,
    base_model: str | None = None,
    datasets: list[str] | None = None,
    provenance: dict[str, Any] | None = None,
) -> Any:
    """The card's metadata (`huggingface_hub.ModelCardData`): base model and training datasets (given, else from
    the checkpoint's `provenance` where they are hub names), tags, and a model-index with `model`'s accuracy and
    mean tokens per evaluation dataset."""
    from huggingface_hub import EvalResult, ModelCardData

    trained = [row for row in rows if row["name"] == model and row["family"] != "cutoff"]
    if not trained:
        raise ValueError(f"no results for {model!r} (models: {list(dict.fromkeys(row['name'] for row in rows))}).")
    results = []
    for row in trained:
        dataset, config, split = HUB_DATASETS.get(row["dataset"], (row["dataset"], None, None))
        where = dict(task_type="text-generation", dataset_type=dataset, dataset_name=row["dataset"])
        where.update(dataset_config=config, dataset_split=split)
        k = f" (average pass@{row['k']})" if "k" in row else ""
        results += [
            EvalResult(**where, metric_type="accuracy", metric_name=f"accuracy{k}", metric_value=row["accuracy"]),
            EvalResult(**where, metric_type="mean_tokens", metric_name="mean tokens", metric_value=row["mean_tokens"]),
        ]
    trained_on = _hub_name(((provenance or {}).get("data") or {}).get("dataset"))
    return ModelCardData(
        base_model=base_model or _base_model(rows, start, provenance),
        datasets=datasets or ([trained_on] if trained_on else None),
        tags=list(MODEL_CARD_TAGS),
        model_name=model,
        eval_results=results,
    )


def checkpoint_card(
    rows: list[dict[str, Any]],
    checkpoint: str | Path,
    model: str,
    start: str,
    base_model: str | None = None,
    datasets: list[str] | None = None,
) -> tuple[str, Any]:
    """The card section and metadata of `checkpoint` (`model_card_section`, `model_card_data`): only after its
    evaluations named `model` are checked to be of its weights (`check_results_match`), and with how it was trained
    from its own provenance.json, never from the results."""
    check_results_match(rows, model, checkpoint)
    provenance = read_provenance(checkpoint)
    section = model_card_section(rows, model, start, base_model=base_model, provenance=provenance)
    data = model_card_data(rows, model, start, base_model=base_model, datasets=datasets, provenance=provenance)
    return section, data


def write_model_card(
    checkpoint_dir: str | Path, table: str, heading: str = "## Reasoning efficiency", data: Any = None
) -> Path:
    """Put `table` under `heading` in the checkpoint's README.md (its model card) and return the card's path.

    The section sits between two HTML comments: writing again replaces only that section, and whatever else the
    card holds (TRL's own model card, your text) is kept. `data` (from `model_card_data`) goes into the card's
    metadata header: its fields replace those of the same name, its tags join the card's own.
    """
    from huggingface_hub import ModelCard

    checkpoint_dir = Path(checkpoint_dir)
    if not (checkpoint_dir / "config.json").is_file():
        raise FileNotFoundError(
            f"{checkpoint_dir} is not a saved model (no config.json); pass the checkpoint directory."
        )
    card = checkpoint_dir / "README.md"
    section = f"{MODEL_CARD_BEGIN}\n{heading}\n\n{table}\n{MODEL_CARD_END}"
    text = card.read_text() if card.is_file() else ""
    if data is not None:  # parsed and rewritten by huggingface_hub, which validates the model-index
        parsed = ModelCard(text if text.startswith("---") else "---\n{}\n---\n" + text)  # {}: no metadata yet
        parsed.data.tags = list(dict.fromkeys([*(parsed.data.tags or []), *(data.tags or [])]))
        for key in ("base_model", "datasets", "model_name", "eval_results"):
            if getattr(data, key) is not None:
                setattr(parsed.data, key, getattr(data, key))
        text = str(parsed)
    if text.count(MODEL_CARD_BEGIN) > 1 or text.count(MODEL_CARD_BEGIN) != text.count(MODEL_CARD_END):
        raise ValueError(f"{card} has unbalanced efficient-trl markers; remove the broken section by hand and rerun.")
    if MODEL_CARD_BEGIN in text:
        before, rest = text.split(MODEL_CARD_BEGIN, 1)
        text = before + section + rest.split(MODEL_CARD_END, 1)[1]
    else:
        text = (text.rstrip("\n") + "\n\n" if text else "") + section + "\n"
    card.write_text(text)
    return card


# What a published model is (`files_to_upload`): its weights (whole, sharded, or a LoRA adapter), config and
# generation config, tokenizer and chat template, its card and provenance.json; patterns match a path relative to the
# checkpoint directory. Everything else a training run leaves there is for resuming it or for its logs: checkpoint-N/
# folders (weights plus fp32 optimizer states), optimizer.pt, scheduler.pt, rng_state*.pth, trainer_state.json,
# training_args.bin, efficient_trl_run.json, TensorBoard's runs/, TRL's completions/.
WEIGHT_PATTERNS = (
    "model.safetensors",
    "model-*-of-*.safetensors",
    "pytorch_model.bin",
    "pytorch_model-*-of-*.bin",
    "adapter_model.safetensors",
    "adapter_model.bin",
)
UPLOAD_PATTERNS = (
    # the model
    "config.json",
    "generation_config.json",
    *WEIGHT_PATTERNS,
    "model.safetensors.index.json",
    "pytorch_model.bin.index.json",
    "adapter_config.json",
    # the tokenizer and its chat template
    "tokenizer.json",
    "tokenizer_config.json",
    "tokenizer.model",
    "special_tokens_map.json",
    "added_tokens.json",
    "vocab.json",
    "vocab.txt",
    "merges.txt",
    "chat_template.jinja",
    "chat_template.json",
    "additional_chat_templates/*.jinja",
    # what it is
    "README.md",
    PROVENANCE_FILE,
)


def files_to_upload(paths: list[str]) -> list[str]:
    """The files of a checkpoint directory that make the published model, from `paths` (every file in it, relative
    to it, with `/`): those matching `UPLOAD_PATTERNS` (weights, config, generation config, tokenizer, chat
    template, README.md, provenance.json), in `paths`' order. Never a `checkpoint-N/` folder's files, optimizer,
    scheduler, RNG or trainer state: a pattern matches the whole path, so nothing inside a subfolder matches but the
    tokenizer's `additional_chat_templates/`."""
    return [path for path in paths if any(fnmatch.fnmatchcase(path, pattern) for pattern in UPLOAD_PATTERNS)]


def _size(num_bytes: float) -> str:
    """`num_bytes` for people, in powers of 1000 as the hub shows sizes: 512 B, 3.6 GB."""
    if num_bytes < 1000:
        return f"{num_bytes:.0f} B"
    for unit in ("kB", "MB", "GB", "TB"):
        num_bytes /= 1000
        if num_bytes < 1000 or unit == "TB":
            return f"{num_bytes:.1f} {unit}"
    raise AssertionError("unreachable")


def push_checkpoint(checkpoint_dir: str | Path, repo_id: str, private: bool = False) -> str:
    """Upload the published model of `checkpoint_dir` (`files_to_upload`: weights, config, tokenizer, chat template,
    model card and provenance.json; never checkpoint folders, optimizer, scheduler, RNG or trainer state) to the hub
    repository `repo_id`, creating it if needed, in one commit; it prints each file and the total size first, and
    returns the commit's URL. Needs a hub token (`hf auth login` or HF_TOKEN)."""
    from huggingface_hub import CommitOperationAdd, HfApi

    checkpoint_dir = Path(checkpoint_dir)
    every = sorted(path.relative_to(checkpoint_dir).as_posix() for path in checkpoint_dir.rglob("*") if path.is_file())
    selected = files_to_upload(every)
    if not any(fnmatch.fnmatchcase(path, pattern) for path in selected for pattern in WEIGHT_PATTERNS):
        raise FileNotFoundError(
            f"{checkpoint_dir} holds no model weights (model.safetensors, its shards, or a LoRA adapter); pass the "
            "directory the training saved its final model to."
        )
    sizes = {path: (checkpoint_dir / path).stat().st_size for path in selected}
    left_out = sorted({path.split("/")[0] + ("/" if "/" in path else "") for path in every if path not in sizes})
    print(f"uploading to {repo_id}: {len(selected)} files of {checkpoint_dir}, {_size(sum(sizes.values()))} in all")
    for path, size in sizes.items():
        print(f"  {path}  {_size(size)}")
    if left_out:
        print(f"left out (training state and logs, not the model): {', '.join(left_out)}")
    api = HfApi()
    api.create_repo(repo_id, private=private, exist_ok=True)
    operations = [CommitOperationAdd(path_in_repo=path, path_or_fileobj=str(checkpoint_dir / path)) for path in sizes]
    commit = api.create_commit(repo_id, operations=operations, commit_message="efficient-trl: model and card")
    return commit.commit_url


@dataclass
class ModelCardArguments:
    """What recipes/model_card.py writes into a checkpoint's card (`model_card_section`, `model_card_data`), and
    whether it uploads the checkpoint (`push_checkpoint`)."""

    checkpoint: str = field(metadata={"help": "The trained model's directory."})
    results: str = field(metadata={"help": "Evaluation run directories (or a demo run directory)."})
    start: str = field(metadata={"help": "Name of the starting model in the results."})
    model: str | None = field(
        default=None,
        metadata={
            "help": "Name of the trained model in the results; None: the --checkpoint directory's name if the "
            "results hold it, else the name of the results made on the checkpoint's weights (a demo run's "
            "alpha_0.2 is alpha=0.2)."
        },
    )
    base_model: str | None = field(
        default=function_default(model_card_section, "base_model"),
        metadata={
            "help": "Hub name of the starting model for the card; None: the checkpoint's provenance.json, else (it "
            "names a local copy) the one the starting model's evaluations recorded; none without provenance."
        },
    )
    datasets: list[str] | None = field(
        default=function_default(model_card_data, "datasets"),
        metadata={"help": "Hub names of the training data, for the card; None: the checkpoint's provenance.json's."},
    )
    push_to_hub: bool = field(
        default=False,
        metadata={
            "help": "Upload the model with its card: weights, config, tokenizer, chat template, README.md and "
            "provenance.json, never checkpoint folders or optimizer state (the files and size are printed first)."
        },
    )
    hub_model_id: str | None = field(
        default=None, metadata={"help": "Hub repository to upload to, e.g. you/my-model."}
    )
    private: bool = field(
        default=function_default(push_checkpoint, "private"),
        metadata={"help": "Create the hub repository as private."},
    )

    def __post_init__(self) -> None:
        if self.push_to_hub and not self.hub_model_id:
            raise ValueError("--push_to_hub needs --hub_model_id (e.g. --hub_model_id you/r1-1.5b-alpha0.2).")
