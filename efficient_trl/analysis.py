"""Read what the toolkit writes and draw the paper's figures: accuracy against tokens, training dynamics, the
normalization ablation, the budget and Pareto plots (a model card's table is `efficient_trl.model_card`'s).

Results are evaluation run directories (`load_results`): one `summary.json` each, written by
`efficient_trl.evaluation.evaluate` (e.g. `runs/eval/<model>/<dataset>-k3-t0.6-max32768/`) or by the demo
(`<run_dir>/eval/<model>/`). Training logs are TRL's `trainer_state.json` (`load_training_log`). Every row is a dict
with at least `name`, `dataset`, `family`, `accuracy`, `accuracy_stderr` and `mean_tokens`.

How a model was trained comes from its provenance (`efficient_trl.provenance`, copied into `summary.json`), never
from a directory name: `family` is "alpha" (the method, trainer grpo/rloo; `alpha`, `advantage_normalization`,
`length_reward` and `lora` say how), "sft" or "dpo" (the baselines; one on prompts with token budgets is a
"model"), "cutoff" (the generation cutoff), "start" (the model the others were trained from, the root of a chain of
trainings, or the one named `start=`), the name of another length reward of `efficient_trl.LENGTH_REWARDS`
("kimi", "alp", ...: an RL model trained with it, its parameters in `length_reward`) or "model" (anything else, e.g.
a model without provenance).

Plots return a matplotlib `Figure` (shown inline by Jupyter) and also save it when given a path.
"""

from __future__ import annotations

import json
import math
import warnings
import zlib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from .length_rewards import LENGTH_REWARDS
from .provenance import BUDGET_DATA, PROVENANCE_FILE, RL_TRAINERS, read_provenance

__all__ = [
    "DYNAMICS_METRICS",
    "TrainingLog",
    "budget_report",
    "format_budget_table",
    "format_tradeoff_table",
    "load_budget_results",
    "load_results",
    "load_training_log",
    "load_training_logs",
    "model_label",
    "model_style",
    "pareto_frontier",
    "plot_budget_adherence",
    "plot_pareto",
    "provenance_fields",
    "plot_normalization_ablation",
    "plot_tradeoff",
    "plot_training_dynamics",
    "result_name",
    "select",
]

REQUIRED_FIELDS = ("name", "dataset", "accuracy", "accuracy_stderr", "mean_tokens")
# The families of models trained with a length reward other than the paper's sigmoid (which is "alpha"): its name
REWARD_FAMILIES = tuple(name for name in LENGTH_REWARDS if name != "sigmoid")
# What kind of model a row is; each is drawn its own way by plot_tradeoff (see the module docstring)
FAMILIES = ("start", "model", "alpha", *REWARD_FAMILIES, "cutoff", "sft", "dpo")
# (log key, axis label, scale): what the paper plots during training, accuracy in percent
DYNAMICS_METRICS = (
    ("efficiency/accuracy", "training accuracy (%)", 100.0),
    ("completions/mean_length", "mean completion tokens (training)", 1.0),
)


def load_results(path: str | Path, cutoff_model: str | None = None, start: str | None = None) -> list[dict[str, Any]]:
    """Result rows of every evaluation run directory (with a `summary.json`) under `path`: a tree of evaluation runs
    or a demo run directory.

    Evaluation rows are named after the evaluated model's directory (`<parent>/checkpoint-N` for a checkpoint; the
    demo records its own names: start, alpha=0.2, ...) and their `dataset` is the dataset's short name (gsm8k,
    math500, aime24, or a file's stem). How each model was trained comes from its provenance (see the module
    docstring); `start` names the starting model when no other row records it as its base model. `cutoff_model`
    names the model (usually the starting one) whose samples also give the generation-cutoff baseline rows. Rows come
    in a fixed order: start, other models, alpha models (by normalization, then alpha), cutoffs, SFT, DPO.
    """
    path = Path(path)
    if (path / "eval").is_dir() and (path / "settings.json").is_file():
        # a demo run directory: its models' evaluations are under eval/ (rejection_sampling/ is the baselines' data)
        path = path / "eval"
    summaries = sorted(path.rglob("summary.json"))
    if not summaries and (path / "results.json").is_file():
        raise ValueError(
            f"{path} is a demo run in the old layout (results.json, models known only by their names): convert it "
            f'once with `python -c "from efficient_trl.demo import convert_legacy_demo_run; '
            f"convert_legacy_demo_run('{path}')\"`, or rerun recipes/demo.py."
        )
    if not summaries:
        raise FileNotFoundError(
            f"no results under {path}: expected evaluation run directories (with summary.json, from "
            "recipes/evaluate.py) or a demo run directory (from recipes/demo.py)."
        )
    loaded = [(json.loads(summary.read_text()), summary.parent) for summary in summaries]
    unrecorded = [str(run_dir) for summary, run_dir in loaded if "provenance" not in summary]
    if unrecorded:
        warnings.warn(
            f"{len(unrecorded)} evaluation(s) under {path} were written before efficient-trl recorded provenance "
            f"({', '.join(unrecorded)}): their models are taken as untrained ('model', or 'start' for the starting "
            "model), whatever their names say. Rerun recipes/evaluate.py with the same command for each: it resumes "
            "from the samples and records the provenance.json of the model's directory (a model trained before "
            "efficient-trl wrote one stays untrained).",
            stacklevel=2,
        )
    rows = [_evaluation_row(summary, run_dir) for summary, run_dir in loaded]
    _check_rows(rows, path)
    seen: dict[tuple[Any, ...], str] = {}
    for row in rows:  # evaluations by budget (evaluate_budgets) are one per budget and mode
        earlier = seen.setdefault(
            (row["name"], row["dataset"], row.get("budget_mode"), row.get("budget")), row["run_dir"]
        )
        if earlier != row["run_dir"]:
            raise ValueError(
                f"two evaluations of {row['name']!r} on {row['dataset']!r} under {path}: {earlier} and "
                f"{row['run_dir']}; point at a directory that holds one of them."
            )
    started = {samples.parent for samples in path.rglob("samples.jsonl")}
    unfinished = sorted(str(run) for run in started if not (run / "summary.json").exists())
    if unfinished:
        warnings.warn(
            f"left out unfinished evaluations (no summary.json yet): {unfinished}; rerun their recipes/evaluate.py "
            "command to finish them.",
            stacklevel=2,
        )
    _mark_start(rows, start)
    if cutoff_model is not None:
        sources = [row for row in rows if row["name"] == cutoff_model]
        if not sources:
            raise ValueError(f"no model named {cutoff_model!r} under {path} (models: {_distinct(rows)}).")
        for source in sources:
            for cutoff in source["cutoff_baseline"]:
                rows.append(
                    {**cutoff, "name": f"cutoff={cutoff['cutoff']}", "dataset": source["dataset"], "family": "cutoff"}
                )
    return sorted(rows, key=_row_order)


def load_budget_results(
    path: str | Path, alpha_run: str | Path | None = None, start: str | None = "start"
) -> list[dict[str, Any]]:
    """Result rows for the token-budget figure and table (`budget_report`): every evaluation under `path` (a budget
    demo run directory, or evaluation runs with `recipes/evaluate.py --budgets`; `start` as `load_results` takes it)
    and, with `alpha_run`, the alpha family (no advantage normalization) of that demo run or tree of evaluations to
    compare with."""
    rows = load_results(path, start=start)
    if alpha_run:
        rows += select(load_results(alpha_run), family="alpha", advantage_normalization="none")
    return rows


def result_name(model: str | Path) -> str:
    """How a model's evaluations are named in results: its directory's name, `<run>/checkpoint-N` for a
    checkpoint, the repository's name for a hub model."""
    model = Path(model)
    return f"{model.parent.name}/{model.name}" if model.name.startswith("checkpoint-") else model.name


def provenance_fields(provenance: dict[str, Any] | None) -> dict[str, Any]:
    """The row fields that say how a model was trained, from its provenance (None: an untrained 'model')."""
    if provenance is None:
        return {"family": "model", "trainer": None, "alpha": None, "advantage_normalization": None,
                "length_reward": None, "lora": False}  # fmt: skip
    trainer, length_reward = provenance["trainer"], provenance.get("length_reward")
    # The alpha family is the paper's sigmoid reward, placed by its alpha; a model trained with another registry
    # entry (no alpha) is of that entry's family, drawn as single points (its parameters in the label).
    reward = (length_reward or {}).get("name", "sigmoid")
    if trainer in RL_TRAINERS:
        family = "alpha" if reward == "sigmoid" else reward if reward in REWARD_FAMILIES else "model"
    elif any(key in provenance.get("data", {}) for key in BUDGET_DATA):
        family = "model"  # an SFT or DPO on prompts with token budgets (a budget model's stage), not the baselines
    else:
        family = trainer
    return {
        "family": family, "trainer": trainer,
        "alpha": length_reward.get("alpha") if length_reward else None,
        "advantage_normalization": provenance.get("advantage_normalization"), "length_reward": length_reward,
        "lora": bool(provenance.get("lora")),
    }  # fmt: skip


def _evaluation_row(summary: dict[str, Any], run_dir: Path) -> dict[str, Any]:
    name = summary.get("name") or result_name(summary["model"])  # the demo records its own names
    row = {**summary, "name": name, "dataset": Path(summary["dataset"]).stem, "run_dir": str(run_dir)}
    return {**row, **provenance_fields(summary.get("provenance"))}


def _mark_start(rows: list[dict[str, Any]], start: str | None) -> None:
    """The starting model: the one other rows' provenance names as their base model (by weights fingerprint) and that
    was not itself trained from a model here (in a chain start -> stage 1 -> stage 2, stage 1 is a model), or the one
    named `start`."""

    def base(row: dict[str, Any]) -> str | None:
        return (row.get("provenance") or {}).get("base_model", {}).get("fingerprint")

    bases = {base(row) for row in rows} - {None}
    models = {row.get("model_fingerprint") for row in rows} - {None}
    for row in rows:
        if row["name"] == start or (row.get("model_fingerprint") in bases and base(row) not in models):
            row["family"] = "start"


def _row_order(row: dict[str, Any]) -> tuple:
    normalization = row.get("advantage_normalization") or "none"
    return (
        FAMILIES.index(row["family"]) if row["family"] in FAMILIES else len(FAMILIES),
        (row.get("length_reward") or {}).get("name") or "",
        list(NORMALIZATION_STYLES).index(normalization) if normalization in NORMALIZATION_STYLES else 0,
        bool(row.get("lora")),
        row.get("alpha") or row.get("cutoff") or 0.0,
    )


def _check_rows(rows: list[dict[str, Any]], source: Path) -> None:
    for row in rows:
        missing = [key for key in REQUIRED_FIELDS if key not in row]
        if missing:
            raise ValueError(
                f"{source}: result {row.get('name', row)!r} lacks {missing}; it was written by an older "
                "efficient-trl, rerun the demo or evaluation to rewrite it."
            )


def _distinct(rows: Iterable[dict[str, Any]], key: str = "name") -> list[Any]:
    """The values of `key` in the rows, each once, in order of first appearance."""
    return list(dict.fromkeys(row[key] for row in rows))


def select(rows: list[dict[str, Any]], **equal: Any) -> list[dict[str, Any]]:
    """The rows whose fields equal the given values, e.g. `select(rows, dataset="math500", family="alpha")`."""
    return [row for row in rows if all(row.get(key) == value for key, value in equal.items())]


class TrainingLog(list):
    """A model's logged training steps (a list of dicts, one per logged step), with `provenance`: how the model was
    trained (its provenance.json; None when it has none), which gives its style and label in figures."""

    def __init__(self, entries: Iterable[dict[str, Any]], provenance: dict[str, Any] | None = None) -> None:
        super().__init__(entries)
        self.provenance = provenance


def load_training_log(model_dir: str | Path) -> TrainingLog:
    """The logged training steps of one model: `trainer_state.json` in `model_dir`, or in its newest checkpoint-N/,
    with the model's provenance (from the same directory).

    Each entry is what the trainer logged at one step (`step`, `loss`, `efficiency/accuracy`,
    `completions/mean_length`, ...); the end-of-training summary entry is left out.
    """
    model_dir = Path(model_dir)
    state = model_dir / "trainer_state.json"
    if not state.is_file():
        checkpoints = sorted(
            model_dir.glob("checkpoint-*/trainer_state.json"), key=lambda p: int(p.parent.name.split("-")[-1])
        )
        if not checkpoints:
            raise FileNotFoundError(
                f"no training log in {model_dir}: expected trainer_state.json there or in a checkpoint-N/ "
                "directory (TRL writes it with every checkpoint; efficient-trl's recipes and demo at the end)."
            )
        state = checkpoints[-1]
    history = json.loads(state.read_text())["log_history"]
    entries = [entry for entry in history if "step" in entry and "train_runtime" not in entry]
    provenance_dir = model_dir if (model_dir / PROVENANCE_FILE).is_file() else state.parent
    return TrainingLog(entries, read_provenance(provenance_dir))


def load_training_logs(path: str | Path) -> dict[str, TrainingLog]:
    """Training logs by model name: of a demo run (named as its results are), of one training output directory,
    or of every training output directory just under `path` (named by directory)."""
    path = Path(path)
    demo_evaluations = sorted((path / "eval").glob("*/summary.json"))
    if demo_evaluations:  # a demo run: run_dir/<model>/ holds the training log of run_dir/eval/<model>/
        directories = {
            json.loads(summary.read_text())["name"]: path / summary.parent.name
            for summary in demo_evaluations
            if _has_training_log(path / summary.parent.name)
        }
        order = {row["name"]: index for index, row in enumerate(load_results(path))}
        directories = dict(sorted(directories.items(), key=lambda item: order.get(item[0], len(order))))
    elif _has_training_log(path):
        directories = {path.name: path}
    else:
        directories = {child.name: child for child in sorted(path.iterdir()) if _has_training_log(child)}
    if not directories:
        raise FileNotFoundError(
            f"no training logs in or under {path}: expected a demo run directory or training output directories "
            "holding trainer_state.json (or checkpoint-N/trainer_state.json)."
        )
    return {name: load_training_log(directory) for name, directory in directories.items()}


def _has_training_log(directory: Path) -> bool:
    return directory.is_dir() and (
        (directory / "trainer_state.json").is_file() or any(directory.glob("checkpoint-*/trainer_state.json"))
    )


def format_tradeoff_table(rows: list[dict[str, Any]], baseline: str) -> str:
    """Markdown table of accuracy and mean tokens per model, with the change against the `baseline` model's row on
    the same dataset (a dataset column appears when there is more than one dataset).

    The ± figures are one standard error.
    """
    references = {row["dataset"]: row for row in rows if row["name"] == baseline}
    datasets = _distinct(rows, "dataset")
    missing = [dataset for dataset in datasets if dataset not in references]
    if not rows or missing:
        raise ValueError(
            f"no row named {baseline!r} to compare against on {missing or 'any dataset'} (rows: {_distinct(rows)})."
        )
    several = len(datasets) > 1
    lines = [
        ("| dataset " if several else "") + "| model | accuracy | mean tokens | tokens vs start | accuracy vs start |",
        ("| --- " if several else "") + "| --- | --- | --- | --- | --- |",
    ]
    for row in sorted(rows, key=lambda row: datasets.index(row["dataset"])):
        reference = references[row["dataset"]]
        token_change = row["mean_tokens"] / reference["mean_tokens"] - 1
        accuracy_change = 100 * (row["accuracy"] - reference["accuracy"])
        tokens_stderr = f" ± {row['mean_tokens_stderr']:.1f}" if "mean_tokens_stderr" in row else ""
        lines.append(
            (f"| {row['dataset']} " if several else "")
            + f"| {row['name']} | {100 * row['accuracy']:.1f}% ± {100 * row['accuracy_stderr']:.1f} "
            f"| {row['mean_tokens']:.1f}{tokens_stderr} | {100 * token_change:+.1f}% | {accuracy_change:+.1f} pts |"
        )
    return "\n".join(lines)


# How models look in every figure (`model_style`): colour is alpha (one colour map), line style and marker are the
# advantage normalization; the baselines and starting models have colours and markers no alpha point uses.
NORMALIZATION_STYLES = {"none": ("-", "o"), "group": ("--", "X"), "batch": (":", "D")}
BASELINE_STYLES = {"sft": ("#2ca02c", "^"), "dpo": ("#17becf", "v"), "cutoff": ("#808080", "s")}
OTHER_MODEL_COLORS = ("#000000", "#8c564b", "#bcbd22", "#e377c2", "#7f7f7f")  # the demo's "start" is black
ALPHA_COLOR_SPAN = 0.5  # alphas from 0 to this get distinct colours; larger ones get the last
LORA_MARKER = "P"  # a LoRA adapter at some alpha: that alpha's colour, its own marker
# Models of the other length rewards: a colour and marker per reward (its settings told apart by their labels), none
# of them used by the alpha colour map's ends, the normalizations, the baselines or the other models
LENGTH_REWARD_STYLES = {
    "kimi": ("#1f77b4", "p"), "shorterbetter": ("#d62728", "h"), "grpo_lead": ("#393b79", "<"),
    "alp": ("#637939", "d"), "l1_exact": ("#e7969c", ">"), "l1_max": ("#843c39", "8"),
}  # fmt: skip


# A length reward other than the paper's sigmoid gets its own colour map, so that its models never look like the
# paper's at the same alpha; unknown names fall back to the last map.
LENGTH_REWARD_COLORMAPS = {"sigmoid": "plasma", None: "viridis"}


def model_style(row: dict[str, Any]) -> dict[str, Any]:
    """Colour, line style and marker of a model, from its row's fields (its provenance), so that a model looks the
    same in every figure: alpha models are coloured by alpha on their length reward's colour map (plasma for the
    paper's sigmoid; a square-root scale, which separates 0, 0.05 and 0.1), with line style and marker by advantage
    normalization (a LoRA adapter has a marker of its own); SFT/DPO, the generation cutoff and each other length
    reward's family have their own colours and markers; any other model is a star, black for the starting model, else
    a colour picked by its name."""
    import matplotlib

    family, name = row.get("family"), row.get("name", "")
    if family == "alpha":
        normalization = row.get("advantage_normalization") or "none"
        linestyle, marker = NORMALIZATION_STYLES.get(normalization, NORMALIZATION_STYLES["none"])
        marker = LORA_MARKER if row.get("lora") else marker
        reward = (row.get("length_reward") or {}).get("name", "sigmoid")
        colormap = LENGTH_REWARD_COLORMAPS.get(reward, LENGTH_REWARD_COLORMAPS[None])
        position = 0.85 * math.sqrt(min(float(row["alpha"]) / ALPHA_COLOR_SPAN, 1.0))  # 0.85: no pale yellow
        return {"color": matplotlib.colors.to_hex(matplotlib.colormaps[colormap](position)), "linestyle": linestyle,
                "marker": marker}  # fmt: skip
    if family in BASELINE_STYLES or family in LENGTH_REWARD_STYLES:
        color, marker = {**BASELINE_STYLES, **LENGTH_REWARD_STYLES}[family]
        return {"color": color, "linestyle": "-", "marker": marker}
    color = OTHER_MODEL_COLORS[0 if family == "start" else zlib.crc32(name.encode()) % len(OTHER_MODEL_COLORS)]
    return {"color": color, "linestyle": "-", "marker": "*"}


def model_label(row: dict[str, Any]) -> str:
    """A model's label in figures, from how it was trained: 'alpha=0.2', 'alpha=0.2, group-normalized, LoRA',
    'kimi weight=2' for another length reward (its parameters, but eps and the default measure), 'SFT baseline';
    other models by name."""
    family, name = row.get("family"), row.get("name", "")
    if family == "alpha":
        reward = (row.get("length_reward") or {}).get("name", "sigmoid")
        normalization = row.get("advantage_normalization") or "none"
        details = [f"{normalization}-normalized"] if normalization != "none" else []
        details += ["LoRA"] if row.get("lora") else []
        prefix = "" if reward == "sigmoid" else f"{reward} "
        return ", ".join([f"{prefix}alpha={row['alpha']:g}", *details])
    if family in REWARD_FAMILIES:
        params = {key: value for key, value in (row.get("length_reward") or {}).items() if key not in ("name", "eps")}
        if params.get("measure") == "completion":
            del params["measure"]
        shown = ", ".join(f"{key}={value:g}" if isinstance(value, (int, float)) else f"{key}={value}"
                          for key, value in params.items())  # fmt: skip
        return f"{family} {shown}".strip()
    if family in ("sft", "dpo"):
        kind = f"{family.upper()} baseline"
        return kind if name.lower() == family else f"{kind}: {name}"
    return name


def _labels(rows: list[dict[str, Any]]) -> dict[str, str]:
    """Each row's label by name; rows that would share one (e.g. two checkpoints of a run) get their name added."""
    labels = {row["name"]: model_label(row) for row in rows}
    counts: dict[str, int] = {}
    for label in labels.values():
        counts[label] = counts.get(label, 0) + 1
    return {name: label if counts[label] == 1 else f"{label} ({name})" for name, label in labels.items()}


def _log_row(name: str, log: list[dict[str, Any]]) -> dict[str, Any]:
    """What figures need of a training log's model: its name and the fields its provenance gives."""
    return {"name": name, **provenance_fields(getattr(log, "provenance", None))}


def _figure(panels: int, title: str | None) -> tuple[Any, list[Any]]:
    import matplotlib.pyplot as plt

    # constrained layout: room for the legend outside the panels, where it hides no line
    figure, axes = plt.subplots(
        1, panels, figsize=(5.5 * panels + 2.0, 5.0), dpi=110, squeeze=False, layout="constrained"
    )
    if title:
        figure.suptitle(title)
    return figure, list(axes[0])


def _finish(figure: Any, path: str | Path | None) -> Any:
    import matplotlib.pyplot as plt

    handles: dict[str, Any] = {}  # one legend for the figure, each label once, outside the panels
    for axes in figure.axes:
        for handle, label in zip(*axes.get_legend_handles_labels(), strict=True):
            handles.setdefault(label, handle)
    if handles:
        figure.legend(handles.values(), handles.keys(), loc="outside right upper", fontsize=8)
    if path is not None:
        figure.savefig(Path(path))
    plt.close(figure)  # the caller holds the figure; pyplot need not (no double display in notebooks)
    return figure


def _errorbar(axes: Any, row: dict[str, Any], **style: Any) -> None:
    stderr = row.get("accuracy_stderr", 0.0)
    yerr = 100 * stderr if stderr is not None and math.isfinite(stderr) else None
    axes.errorbar(row["mean_tokens"], 100 * row["accuracy"], yerr=yerr, capsize=3, **style)


def _label_points(axes: Any, rows: list[dict[str, Any]], texts: list[str]) -> None:
    """Label points in order of tokens, alternately above and below, so that neighbours' labels do not overlap."""
    order = sorted(range(len(rows)), key=lambda i: rows[i]["mean_tokens"])
    for position, index in enumerate(order):
        row = rows[index]
        above = position % 2 == 0
        axes.annotate(
            texts[index], (row["mean_tokens"], 100 * row["accuracy"]), textcoords="offset points",
            xytext=(0, 7 if above else -8), ha="center", va="bottom" if above else "top", fontsize=8,
        )  # fmt: skip


def _decorate(axes: Any, xlabel: str, ylabel: str, title: str | None = None) -> None:
    axes.set_xlabel(xlabel)
    axes.set_ylabel(ylabel)
    if title:
        axes.set_title(title)
    axes.grid(alpha=0.3)


def _series(log: list[dict[str, Any]], key: str, scale: float) -> tuple[list[float], list[float]]:
    """(steps, scaled values) of the log entries that have `key`."""
    entries = [entry for entry in log if key in entry]
    return [entry["step"] for entry in entries], [scale * entry[key] for entry in entries]


def _sorted_by(rows: list[dict[str, Any]], key: str) -> list[dict[str, Any]]:
    return sorted(rows, key=lambda row: row[key])


def _draw_tradeoff(axes: Any, rows: list[dict[str, Any]], labels: bool) -> None:
    """The trade-off points of one dataset on `axes`; `labels`: annotate the alpha and cutoff points."""
    # one alpha curve per advantage normalization, and apart for LoRA adapters (lora_alpha_0.2.yaml's alpha_0.2_lora)
    names = _labels(rows)
    curves: dict[tuple[str, str, bool], list[dict[str, Any]]] = {}
    for row in _sorted_by(select(rows, family="alpha"), "alpha"):
        reward = (row.get("length_reward") or {}).get("name", "sigmoid")
        variant = (reward, row.get("advantage_normalization") or "none", bool(row.get("lora")))
        curves.setdefault(variant, []).append(row)
    for (reward, normalization, lora), trained in curves.items():
        details = ([] if normalization == "none" else [f"{normalization}-normalized"]) + (["LoRA"] if lora else [])
        label = ("length penalty" if reward == "sigmoid" else f"length reward {reward}") + (
            f" ({', '.join(details)})" if details else ""
        )
        axes.plot(
            [r["mean_tokens"] for r in trained], [100 * r["accuracy"] for r in trained],
            model_style(trained[0])["linestyle"], color="#555555", linewidth=1, zorder=1,
            label=label if labels else None,
        )  # fmt: skip
        for row in trained:
            style = model_style(row)
            _errorbar(axes, row, fmt=style["marker"], color=style["color"], markersize=7, zorder=3,
                      label=names[row["name"]] if labels else None)  # fmt: skip
        if labels:
            _label_points(axes, trained, [f"α={row['alpha']:g}" for row in trained])
    cutoffs = _sorted_by(select(rows, family="cutoff"), "cutoff")
    if cutoffs:
        color, marker = BASELINE_STYLES["cutoff"]
        axes.plot(
            [r["mean_tokens"] for r in cutoffs], [100 * r["accuracy"] for r in cutoffs], linestyle="--",
            marker=marker, color=color, label="generation cutoff" if labels else None,
        )  # fmt: skip
        if labels:
            _label_points(axes, cutoffs, [f"≤{row['cutoff']:g}" for row in cutoffs])
    for family in ("start", "model", *REWARD_FAMILIES, "sft", "dpo"):
        for row in select(rows, family=family):
            style = model_style(row)
            _errorbar(
                axes, row, fmt=style["marker"], color=style["color"], markeredgecolor="black", zorder=4,
                markersize=12 if style["marker"] == "*" else 9, label=names[row["name"]] if labels else None,
            )  # fmt: skip


def _free_place(axes: Any) -> list[float]:
    """Inset bounds (axes fractions) where the inset hides the least of the panel: a grid of candidate places, each
    scored by the markers and labels it would cover (weighted) and by points along the lines it would cross."""
    import numpy as np

    to_axes = axes.transData + axes.transAxes.inverted()
    markers, along = [np.zeros((0, 2))], [np.zeros((0, 2))]
    for line in axes.get_lines():
        xy = to_axes.transform(line.get_xydata())
        markers.append(xy)
        for start, end in zip(xy[:-1], xy[1:], strict=True):
            along.append(start + np.linspace(0, 1, 12)[:, None] * (end - start))
    markers.append(np.array([to_axes.transform(text.xy) for text in axes.texts]).reshape(-1, 2))
    markers, along = np.concatenate(markers), np.concatenate(along)
    width, height = 0.42, 0.34

    def hidden(bounds: tuple[float, float]) -> int:
        x, y = bounds

        def inside(points: Any) -> int:  # with room for the inset's tick labels (left, below) and title (above)
            return int(((points[:, 0] > x - 0.1) & (points[:, 0] < x + width + 0.03) & (points[:, 1] > y - 0.08)
                        & (points[:, 1] < y + height + 0.05)).sum())  # fmt: skip

        return 10 * inside(markers) + 3 * inside(along)

    x, y = min(((x, y) for y in (0.48, 0.28, 0.08) for x in (0.55, 0.33, 0.11)), key=hidden)
    return [x, y, width, height]


def _zoom_on_models(axes: Any, rows: list[dict[str, Any]]) -> None:
    """When the cutoff baseline stretches the accuracy axis so far that the models' error bars shrink to dots, an
    inset shows the models (not the cutoff) zoomed in, with their error bars."""
    models = [row for row in rows if row["family"] != "cutoff"]
    if not models or len(models) == len(rows):
        return
    low = min(100 * (row["accuracy"] - (row.get("accuracy_stderr") or 0.0)) for row in models)
    high = max(100 * (row["accuracy"] + (row.get("accuracy_stderr") or 0.0)) for row in models)
    bottom, top = axes.get_ylim()
    if top - bottom < 8 * max(high - low, 0.5):
        return
    inset = axes.inset_axes(_free_place(axes))
    _draw_tradeoff(inset, models, labels=False)
    margin = 0.15 * max(high - low, 0.5)
    inset.set_ylim(low - margin, high + margin)
    inset.set_title("models, zoomed (± 1 s.e.)", fontsize=7)
    inset.tick_params(labelsize=7)
    inset.grid(alpha=0.3)
    zoomed = axes.indicate_inset_zoom(inset, edgecolor="#999999")
    for connector in zoomed.connectors:  # the frame around the zoomed region says enough; lines would cross data
        connector.set_visible(False)


def plot_tradeoff(
    rows: list[dict[str, Any]], path: str | Path | None = None, title: str = "Accuracy against tokens"
) -> Any:
    """Accuracy (± 1 stderr) against mean completion tokens, one panel per dataset.

    Models trained with the length penalty are joined in order of alpha (one line per advantage normalization),
    the generation cutoff in order of its limit; the starting model and the SFT/DPO baselines are single points.
    Each model is drawn as `model_style` says. When the cutoff baseline stretches the accuracy axis, an inset zooms
    in on the models so that their error bars show.
    """
    if not rows:
        raise ValueError("no rows to plot.")
    _check_placeable(rows)
    datasets = _distinct(rows, "dataset")
    figure, panels = _figure(len(datasets), title)
    for axes, dataset in zip(panels, datasets, strict=True):
        on_dataset = select(rows, dataset=dataset)
        _draw_tradeoff(axes, on_dataset, labels=True)
        _decorate(axes, "mean completion tokens", "accuracy (%)", title=dataset)
        axes.margins(x=0.08, y=0.1)  # room for the labels above and below the outermost points
        axes.autoscale_view()
        _zoom_on_models(axes, on_dataset)
    return _finish(figure, path)


def _check_placeable(rows: list[dict[str, Any]]) -> None:
    """Refuse rows the trade-off plot would silently leave out."""
    unknown = [row.get("name", row) for row in rows if row.get("family") not in FAMILIES]
    if unknown:
        raise ValueError(
            f"cannot place {unknown} on the plot: each row needs a 'family' of {list(FAMILIES)}; rows from "
            "load_results and efficient_trl.demo.run_demo carry it."
        )
    for family, key in (("alpha", "alpha"), ("cutoff", "cutoff")):
        lacking = [row["name"] for row in rows if row["family"] == family and row.get(key) is None]
        if lacking:
            raise ValueError(f"cannot place {lacking} on the plot: {family} rows need their {key!r} value.")


def pareto_frontier(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows no other row beats on both accuracy and mean tokens (at least as accurate and at most as long, and
    strictly better on one), in order of mean tokens; rows at the same point are all kept."""

    def beats(other: dict[str, Any], row: dict[str, Any]) -> bool:
        as_good = other["accuracy"] >= row["accuracy"] and other["mean_tokens"] <= row["mean_tokens"]
        return as_good and (other["accuracy"], other["mean_tokens"]) != (row["accuracy"], row["mean_tokens"])

    frontier = [row for row in rows if not any(beats(other, row) for other in rows)]
    return sorted(frontier, key=lambda row: (row["mean_tokens"], -row["accuracy"]))


def plot_pareto(
    rows: list[dict[str, Any]], path: str | Path | None = None, title: str = "Accuracy against tokens: the frontier"
) -> Any:
    """Accuracy (± 1 stderr) against mean completion tokens of every model, one panel per dataset, with the Pareto
    frontier (`pareto_frontier`) drawn as a dashed line through its members, each ringed.

    Every model is a single point drawn as `model_style` says (each length reward its own family's colour and
    marker, the paper's sigmoid coloured by alpha, the starting model a black star) and labelled in the legend by its
    setting (`model_label`); a length reward's second and later settings have hollow markers, to tell them apart.
    """
    if not rows:
        raise ValueError("no rows to plot.")
    _check_placeable(rows)
    datasets = _distinct(rows, "dataset")
    figure, panels = _figure(len(datasets), title)
    figure.set_size_inches(5.5 * len(datasets) + 5.0, 5.5)  # room for the legend's long labels beside the panels
    for axes, dataset in zip(panels, datasets, strict=True):
        on_dataset = select(rows, dataset=dataset)
        frontier = pareto_frontier(on_dataset)
        # a ring around each member, so that a frontier of one model shows too
        axes.plot(
            [row["mean_tokens"] for row in frontier], [100 * row["accuracy"] for row in frontier], color="#555555",
            linewidth=1, linestyle="--", marker="o", markersize=17, markerfacecolor="none", zorder=1,
            label="Pareto frontier",
        )  # fmt: skip
        labels, drawn = _labels(on_dataset), set()
        for row in on_dataset:
            style = model_style(row)
            hollow = row["family"] in REWARD_FAMILIES and row["family"] in drawn
            drawn.add(row["family"])
            _errorbar(
                axes, row, fmt=style["marker"], color=style["color"], markersize=12 if style["marker"] == "*" else 8,
                markeredgecolor="black" if row["family"] == "start" else None, zorder=3, label=labels[row["name"]],
                markerfacecolor="white" if hollow else style["color"],
            )  # fmt: skip
        _decorate(axes, "mean completion tokens", "accuracy (%)", title=dataset)
        axes.margins(x=0.1, y=0.1)
    return _finish(figure, path)


def plot_training_dynamics(
    logs: dict[str, list[dict[str, Any]]],
    metrics: tuple[tuple[str, str, float], ...] = DYNAMICS_METRICS,
    path: str | Path | None = None,
    title: str | None = "During training",
) -> Any:
    """One panel per metric (log key, axis label, scale), one line per model (drawn as `model_style` says),
    against the optimizer step."""
    if not logs:
        raise ValueError("no training logs to plot.")
    figure, panels = _figure(len(metrics), title)
    for axes, (key, label, scale) in zip(panels, metrics, strict=True):
        series = {name: _series(log, key, scale) for name, log in logs.items()}
        if not any(steps for steps, _ in series.values()):
            logged = sorted({k for log in logs.values() for entry in log for k in entry})
            raise ValueError(f"no training log has {key!r}; the logs have {logged}.")
        models = [_log_row(name, log) for name, log in logs.items()]
        labels = _labels(models)
        for model in models:
            steps, values = series[model["name"]]
            if steps:  # e.g. SFT/DPO logs have no RL accuracy
                style = model_style(model)
                axes.plot(steps, values, linestyle=style["linestyle"], color=style["color"], marker="o",
                          markersize=3, label=labels[model["name"]])  # fmt: skip
        _decorate(axes, "optimizer step", label)
    return _finish(figure, path)


BUDGET_FIELDS = ("name", "budget", "budget_mode", "budget_measure", "accuracy", "mean_budget_length")


def plot_budget_adherence(
    rows: list[dict[str, Any]],
    path: str | Path | None = None,
    title: str | None = "Token budgets",
    tradeoff_rows: list[dict[str, Any]] | None = None,
) -> Any:
    """Two panels against the token budget N: accuracy (%) and the mean tokens L that the budget counts, with the
    line L = N; one line per model and budget mode (`evaluation.evaluate_budgets`' summaries, e.g. from
    `load_results`: every field is read from summary.json, none from a directory name).

    With `tradeoff_rows` (rows without a budget: the starting model, the alpha family, ...), a first panel puts
    everything on the accuracy-against-tokens plane: those rows as `plot_tradeoff` draws them, and each budget
    series as a line of points labelled by N (one dataset: the budget rows')."""
    if not rows:
        raise ValueError("no results to plot.")
    lacking = [f"{row.get('name', '?')} ({row.get('run_dir', 'no run_dir')})" for row in rows if
               any(key not in row or row[key] is None for key in BUDGET_FIELDS)]  # fmt: skip
    if lacking:
        raise ValueError(
            f"results without a budget (fields {list(BUDGET_FIELDS)}): {lacking}; evaluate with "
            "recipes/evaluate.py --budgets ... (evaluate_budgets) to get them."
        )
    if tradeoff_rows is not None:
        _check_placeable(tradeoff_rows)
        datasets = _distinct([*rows, *tradeoff_rows], "dataset")
        if len(datasets) > 1:
            raise ValueError(f"the budget and trade-off rows must be on one dataset to share a panel, got {datasets}.")
    figure, panels = _figure(2 if tradeoff_rows is None else 3, title)
    tradeoff_axes = None if tradeoff_rows is None else panels[0]
    accuracy_axes, tokens_axes = panels[-2:]
    if tradeoff_axes is not None:
        _draw_tradeoff(tradeoff_axes, tradeoff_rows, labels=True)
    for name, mode in dict.fromkeys((row["name"], row["budget_mode"]) for row in rows):
        series = _sorted_by(select(rows, name=name, budget_mode=mode), "budget")
        style = model_style(series[0])  # from the model's provenance, as in every other figure
        label = f"{model_label(series[0])} ({'budget in the prompt' if mode == 'prompt' else 'budget forcing'})"
        linestyle = style["linestyle"] if mode == "prompt" else ":"
        budgets = [row["budget"] for row in series]
        accuracy_axes.plot(budgets, [100 * row["accuracy"] for row in series], color=style["color"],
                           linestyle=linestyle, marker=style["marker"], label=label)  # fmt: skip
        tokens_axes.plot(budgets, [row["mean_budget_length"] for row in series], color=style["color"],
                         linestyle=linestyle, marker=style["marker"], label=label)  # fmt: skip
        if tradeoff_axes is not None:
            tokens, accuracy = [row["mean_tokens"] for row in series], [100 * row["accuracy"] for row in series]
            tradeoff_axes.plot(tokens, accuracy, color=style["color"], linestyle=linestyle, marker=style["marker"],
                               label=label)  # fmt: skip
            _label_points(tradeoff_axes, series, [f"N={row['budget']}" for row in series])
    span = [min(row["budget"] for row in rows), max(row["budget"] for row in rows)]
    tokens_axes.plot(span, span, color="grey", linestyle="--", linewidth=1, label="L = N")
    measures = sorted({row["budget_measure"] for row in rows})
    if tradeoff_axes is not None:
        _decorate(tradeoff_axes, "mean completion tokens", "accuracy (%)", title=rows[0]["dataset"])
        tradeoff_axes.margins(x=0.08, y=0.1)  # room for the labels above and below the outermost points
    _decorate(accuracy_axes, "token budget N", "accuracy (%)")
    _decorate(tokens_axes, "token budget N", f"mean tokens L ({' / '.join(measures)})")
    return _finish(figure, path)


def budget_report(
    rows: list[dict[str, Any]], path: str | Path | None = None, title: str | None = "Token budgets"
) -> tuple[str, Any]:
    """The table (`format_budget_table`) and figure (`plot_budget_adherence`, saved to `path` when given) of result
    rows of which some were evaluated at token budgets: those against N, the others (the starting model, the alpha
    family) as plain rows and points on the accuracy-against-tokens panel."""
    budget_rows = [row for row in rows if row.get("budget") is not None]
    plain_rows = [row for row in rows if row.get("budget") is None]
    if not budget_rows:
        raise ValueError(
            "no result was evaluated at a token budget: evaluate with recipes/evaluate.py --budgets ... or run "
            "recipes/budget_demo.py."
        )
    figure = plot_budget_adherence(budget_rows, path, title=title, tradeoff_rows=plain_rows or None)
    return format_budget_table(budget_rows, plain_rows), figure


def format_budget_table(rows: list[dict[str, Any]], plain_rows: list[dict[str, Any]] = ()) -> str:
    """Markdown table of evaluations by budget (`evaluation.evaluate_budgets`' rows), one line per model, mode and
    budget: accuracy, mean tokens, mean |L - N| / N, the share within 10% of N and the share at most N; then the
    `plain_rows` (models asked for no budget: the starting model, the alpha family) with accuracy and mean tokens.
    The ± figures are one standard error."""
    lines = [
        "| model | budget N | accuracy | mean tokens | mean \\|L-N\\|/N | within 10% of N | at most N |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name, mode in dict.fromkeys((row["name"], row["budget_mode"]) for row in rows):
        for row in _sorted_by(select(rows, name=name, budget_mode=mode), "budget"):
            asked = "in the prompt" if mode == "prompt" else "forced"
            lines.append(
                f"| {name} | {row['budget']} ({asked}) | {100 * row['accuracy']:.1f}% ± "
                f"{100 * row['accuracy_stderr']:.1f} | {row['mean_budget_length']:.1f} "
                f"| {row['budget_deviation']:.3f} | {100 * row['share_within_10pct']:.1f}% "
                f"| {100 * row['share_at_most_budget']:.1f}% |"
            )
    for row in plain_rows:
        lines.append(
            f"| {row['name']} | none | {100 * row['accuracy']:.1f}% ± {100 * row['accuracy_stderr']:.1f} "
            f"| {row['mean_tokens']:.1f} | | | |"
        )
    return "\n".join(lines)


def plot_normalization_ablation(
    rows: list[dict[str, Any]],
    logs: dict[str, list[dict[str, Any]]],
    path: str | Path | None = None,
    dataset: str | None = None,
) -> Any:
    """Training length and accuracy per step, and held-out accuracy against tokens, for models trained at the same
    alphas with different advantage normalizations: colour is alpha, line style and marker are the normalization
    (`model_style`).

    With evaluation runs on several datasets, `dataset` picks the one for the held-out panel. Rows take their
    normalization from their provenance; their training logs are matched by the row's name (a training output
    directory's name is the name of its evaluations).
    """
    datasets = _distinct(rows, "dataset")
    if dataset is not None:
        rows = select(rows, dataset=dataset)
        if not rows:
            raise ValueError(f"no results on dataset {dataset!r} (datasets: {datasets}).")
    elif len(datasets) > 1:
        raise ValueError(f"results on several datasets {datasets}: pass dataset=... for the held-out panel.")
    without_log = [row["name"] for row in select(rows, family="alpha") if row["name"] not in logs]
    if without_log:
        warnings.warn(f"left out {without_log}: no training log of that name (logs: {list(logs)}).", stacklevel=2)
    trained = [row for row in select(rows, family="alpha") if row["name"] in logs]
    normalizations = _distinct(trained, "advantage_normalization")
    if len(normalizations) < 2:
        raise ValueError(
            f"the ablation needs models trained with two or more advantage normalizations, found {normalizations}: "
            "run `make ablation` (recipes/demo.py --normalizations none group)."
        )
    figure, panels = _figure(3, "Advantage normalization ablation")
    shown = trained + select(rows, family="start") + select(rows, family="model")
    labels = _labels(shown)
    length_then_accuracy = DYNAMICS_METRICS[::-1]
    for axes, (key, label, scale) in zip(panels[:2], length_then_accuracy, strict=True):
        for row in trained:
            style = model_style(row)
            axes.plot(
                *_series(logs[row["name"]], key, scale), linestyle=style["linestyle"], color=style["color"],
                label=labels[row["name"]],
            )  # fmt: skip
        _decorate(axes, "optimizer step", label)
    held_out = panels[2]
    for row in shown:
        style = model_style(row)
        _errorbar(
            held_out, row, fmt=style["marker"], color=style["color"], label=labels[row["name"]],
            markersize=12 if style["marker"] == "*" else 7,
        )  # fmt: skip
    _decorate(held_out, "mean completion tokens (held-out)", "held-out accuracy (%)")
    return _finish(figure, path)
