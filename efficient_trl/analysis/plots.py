"""The paper's figures from result rows and training logs (`efficient_trl.analysis.results`): accuracy against
tokens (`plot_tradeoff`, `plot_pareto`), training dynamics, the normalization ablation and token budgets. Each model
is drawn as `efficient_trl.analysis.styles` says.

Plots return a matplotlib `Figure` (shown inline by Jupyter) and also save it when given a path.
"""

from __future__ import annotations

import math
import warnings
from pathlib import Path
from typing import Any

from .results import FAMILIES, REWARD_FAMILIES, _distinct, _sorted_by, pareto_frontier, provenance_fields, select
from .styles import BASELINE_STYLES, _labels, model_label, model_style
from .tables import format_budget_table

__all__ = [
    "DYNAMICS_METRICS",
    "budget_report",
    "plot_budget_adherence",
    "plot_normalization_ablation",
    "plot_pareto",
    "plot_tradeoff",
    "plot_training_dynamics",
]

# (log key, axis label, scale): what the paper plots during training, accuracy in percent
DYNAMICS_METRICS = (
    ("efficiency/accuracy", "training accuracy (%)", 100.0),
    ("completions/mean_length", "mean completion tokens (training)", 1.0),
)


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
            "load_results and efficient_trl.experiments.demo.run_demo carry it."
        )
    for family, key in (("alpha", "alpha"), ("cutoff", "cutoff")):
        lacking = [row["name"] for row in rows if row["family"] == family and row.get(key) is None]
        if lacking:
            raise ValueError(f"cannot place {lacking} on the plot: {family} rows need their {key!r} value.")


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
    lacking = [
        f"{row.get('name', '?')} ({row.get('run_dir', 'no run_dir')})"
        for row in rows
        if any(row.get(key) is None for key in BUDGET_FIELDS)
    ]
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
        line = {"color": style["color"], "linestyle": linestyle, "marker": style["marker"], "label": label}
        budgets = [row["budget"] for row in series]
        accuracy_axes.plot(budgets, [100 * row["accuracy"] for row in series], **line)
        tokens_axes.plot(budgets, [row["mean_budget_length"] for row in series], **line)
        if tradeoff_axes is not None:
            tokens, accuracy = [row["mean_tokens"] for row in series], [100 * row["accuracy"] for row in series]
            tradeoff_axes.plot(tokens, accuracy, **line)
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
