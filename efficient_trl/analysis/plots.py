"""The paper's figures from result rows and training logs (`efficient_trl.analysis.results`): accuracy against
tokens (`plot_tradeoff`, `plot_pareto`; per tier of difficulty, `plot_tiers`), training dynamics, the
normalization ablation and token budgets. Each model is drawn as `efficient_trl.analysis.styles` says.

Plots return a matplotlib `Figure` (shown inline by Jupyter) and also save it when given a path. Accuracy axes end
at 100% (and start at 0 or above); point labels are placed where they overlap no other text, title or legend.
"""

from __future__ import annotations

import math
import warnings
from pathlib import Path
from typing import Any

from .results import (
    FAMILIES,
    REWARD_FAMILIES,
    _distinct,
    _sorted_by,
    pareto_frontier,
    provenance_fields,
    select,
    tier_rows,
)
from .results import tradeoff_rows as _tradeoff_view  # plot_budget_adherence has a parameter of its name
from .styles import (
    BASELINE_STYLES,
    STRENGTH_MARKERS,
    _labels,
    _rollout_thinking_budget,
    comparison_styles,
    model_label,
    model_style,
)
from .tables import format_budget_table, tier_table

__all__ = [
    "DYNAMICS_METRICS",
    "SMOOTHED_METRICS",
    "budget_report",
    "plot_budget_adherence",
    "plot_normalization_ablation",
    "plot_pareto",
    "plot_tiers",
    "plot_tradeoff",
    "plot_training_dynamics",
]

# (log key, axis label, scale): what the paper plots during training, accuracy in percent
DYNAMICS_METRICS = (
    ("efficiency/accuracy", "training accuracy (%)", 100.0),
    ("completions/mean_length", "mean completion tokens (training)", 1.0),
)
# The training-log metrics drawn smoothed (a centred moving average over logged steps, ± the window's standard
# deviation as a band): a batch's accuracy is a few prompts' worth, raw noise step to step
SMOOTHED_METRICS = ("efficiency/accuracy",)
# Label offsets (points from the labelled point, alignment) tried in this order until one overlaps nothing
LABEL_PLACES = (
    (0, 7, "center", "bottom"), (0, -8, "center", "top"), (8, 0, "left", "center"), (-8, 0, "right", "center"),
    (6, 6, "left", "bottom"), (-6, 6, "right", "bottom"), (6, -6, "left", "top"), (-6, -6, "right", "top"),
    (0, 18, "center", "bottom"), (0, -19, "center", "top"), (16, 10, "left", "bottom"), (-16, 10, "right", "bottom"),
    (16, -10, "left", "top"), (-16, -10, "right", "top"), (0, 29, "center", "bottom"), (0, -30, "center", "top"),
    (16, -21, "left", "top"), (-16, -21, "right", "top"), (0, -41, "center", "top"), (0, -52, "center", "top"),
)  # fmt: skip


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


def _finish(figure: Any, path: str | Path | None, handles: dict[str, Any] | None = None) -> Any:
    """Add the figure's legend (`handles` by label; by default each label of the panels once), outside the panels;
    lay the figure out with its title over the panels and its point labels where they overlap nothing; save it."""
    import matplotlib.pyplot as plt

    if handles is None:
        handles = {}
        for axes in figure.axes:
            for handle, label in zip(*axes.get_legend_handles_labels(), strict=True):
                handles.setdefault(label, handle)
    if handles:
        figure.legend(handles.values(), handles.keys(), loc="outside right upper", fontsize=8)
    figure.canvas.draw()  # the layout, which the title and labels are placed in
    _center_title(figure)
    _place_labels(figure)
    if path is not None:
        figure.savefig(Path(path))
    plt.close(figure)  # the caller holds the figure; pyplot need not (no double display in notebooks)
    return figure


def _marker_style(style: dict[str, Any]) -> dict[str, Any]:
    """An errorbar's style with its `fmt` marker as `marker`, without a line."""
    marker = style.pop("fmt", None)
    return {**style, "marker": marker, "linestyle": "none"} if marker is not None else style


def _errorbar(axes: Any, row: dict[str, Any], **style: Any) -> None:
    """A model's accuracy (%) at its mean tokens, ± 1 stderr, the bar cut at 0 and 100%. `fmt` is a marker, given
    as `marker` (a format string cannot hold a mathtext marker such as adapt_think's "$A$")."""
    style = _marker_style(style)
    accuracy, stderr = 100 * row["accuracy"], row.get("accuracy_stderr", 0.0)
    yerr = None
    if stderr is not None and math.isfinite(stderr):
        yerr = [[min(100 * stderr, accuracy)], [min(100 * stderr, 100 - accuracy)]]
    axes.errorbar(row["mean_tokens"], accuracy, yerr=yerr, capsize=3, **style)


def _cap_accuracy(axes: Any) -> None:
    """An accuracy axis (%) ends at 100 and starts at 0 or above; points on the edge are drawn whole."""
    import matplotlib

    axes.autoscale_view()
    bottom, top = axes.get_ylim()
    if top > 100 or bottom < 0:
        axes.set_ylim(max(bottom, 0.0), min(top, 100.0))
        for line in axes.get_lines():
            line.set_clip_on(False)  # a marker at 100% (or 0) would be cut in half by the frame
        # and the panel's title clear of a marker on the top edge
        axes.set_title(axes.get_title(), pad=matplotlib.rcParams["axes.titlepad"] + 6)


def _label_points(axes: Any, rows: list[dict[str, Any]], texts: list[str]) -> None:
    """Label points in order of tokens, alternately above and below; `_finish` moves a label that overlaps another
    text, a marker or the panel's edge to a free place (`LABEL_PLACES`)."""
    order = sorted(range(len(rows)), key=lambda i: rows[i]["mean_tokens"])
    for position, index in enumerate(order):
        row = rows[index]
        dx, dy, ha, va = LABEL_PLACES[position % 2]
        label = axes.annotate(
            texts[index], (row["mean_tokens"], 100 * row["accuracy"]), textcoords="offset points", xytext=(dx, dy),
            ha=ha, va=va, fontsize=8,
        )  # fmt: skip
        label.set_in_layout(False)  # placed after the layout, inside the panel


def _text_boxes(figure: Any, renderer: Any) -> list[Any]:
    """Pixel boxes of the figure's texts other than point labels: its title and legends, each panel's (and inset's)
    title and axis labels, and each inset as a whole (its ticks and frame hide a label under it)."""
    artists = [text for text in figure.texts if text.get_text()] + list(figure.legends)
    boxes = []
    for axes in figure.axes:
        artists += [axes.title, axes.xaxis.label, axes.yaxis.label]  # the figures title panels in the centre only
        artists += [axes.get_legend()] if axes.get_legend() else []
        boxes += [child.get_tightbbox(renderer) for child in axes.child_axes]
    boxes += [artist.get_window_extent(renderer) for artist in artists if artist.get_visible() and _has_text(artist)]
    return boxes


def _has_text(artist: Any) -> bool:
    return not hasattr(artist, "get_text") or bool(artist.get_text())


def _marker_points(axes: Any) -> Any:
    """Pixel positions of every data marker of a panel (error bar caps left out)."""
    import numpy as np

    points = [
        axes.transData.transform(line.get_xydata())
        for line in axes.get_lines()
        if line.get_marker() not in (None, "None", "", " ", "_") and len(line.get_xydata())
    ]
    return np.concatenate(points) if points else np.zeros((0, 2))


def _bar_points(axes: Any) -> Any:
    """Pixel positions along every error bar and line of a panel, a few pixels apart: what a label had better not
    cross, though it may (less than a marker)."""
    import numpy as np

    segments = [segment for collection in axes.collections for segment in getattr(collection, "get_segments", list)()]
    lines = [line for line in axes.get_lines() if line.get_linestyle() != "None"]
    segments += [list(zip(*line.get_data(), strict=True)) for line in lines]
    points = [np.zeros((0, 2))]
    for segment in segments:
        xy = axes.transData.transform(np.asarray(segment, dtype=float).reshape(-1, 2))
        for start, end in zip(xy[:-1], xy[1:], strict=True):
            steps = max(int(np.abs(end - start).max() // 4), 1)
            points.append(start + np.linspace(0, 1, steps + 1)[:, None] * (end - start))
    return np.concatenate(points)


def _inside(points: Any, box: Any, margin: float) -> int:
    """How many of `points` lie in `box`, widened by `margin` pixels."""
    return int(
        ((points[:, 0] > box.x0 - margin) & (points[:, 0] < box.x1 + margin) & (points[:, 1] > box.y0 - margin)
         & (points[:, 1] < box.y1 + margin)).sum()
    )  # fmt: skip


def _place_labels(figure: Any) -> None:
    """Move each point label (an annotation offset from its point) to the first of `LABEL_PLACES` where it overlaps
    no other text (`_text_boxes`, the labels placed before it), no marker, no error bar or line, and stays inside its
    panel; where every place overlaps something, to the one that overlaps least (texts weigh most, then the panel's
    edge, markers, and bars and lines least)."""
    from matplotlib.text import Annotation

    renderer = figure.canvas.get_renderer()
    taken = _text_boxes(figure, renderer)
    for axes in [axes for parent in figure.axes for axes in (parent, *parent.child_axes)]:
        labels = [text for text in axes.texts if isinstance(text, Annotation) and text.anncoords == "offset points"]
        if not labels:
            continue
        panel, markers, bars = axes.get_window_extent(renderer), _marker_points(axes), _bar_points(axes)
        for label in labels:
            point = axes.transData.transform(label.xy)
            others = markers[abs(markers - point).max(axis=1) > 1]  # its own point's marker is where it belongs
            ranked = []
            for order, (dx, dy, ha, va) in enumerate(LABEL_PLACES):
                label.set_position((dx, dy))
                label.set_horizontalalignment(ha)
                label.set_verticalalignment(va)
                box = label.get_window_extent(renderer)
                outside = box.x0 < panel.x0 or box.x1 > panel.x1 or box.y0 < panel.y0 or box.y1 > panel.y1
                clashes = sum(box.overlaps(other) for other in taken)
                score = (100 * clashes + 50 * outside + 10 * _inside(others, box, 3) + _inside(bars, box, 0), order)
                ranked.append((score, (dx, dy, ha, va), box))
                if score[0] == 0:
                    break
            _, (dx, dy, ha, va), box = min(ranked, key=lambda ranked_place: ranked_place[0])
            label.set_position((dx, dy))
            label.set_horizontalalignment(ha)
            label.set_verticalalignment(va)
            if max(abs(dx), abs(dy)) > 12:  # a label away from its point: the same label with a thin line to it
                label.remove()
                line = {"arrowstyle": "-", "color": "#aaaaaa", "linewidth": 0.6, "shrinkA": 1, "shrinkB": 3}
                axes.annotate(
                    label.get_text(), label.xy, textcoords="offset points", xytext=(dx, dy), ha=ha, va=va,
                    fontsize=label.get_fontsize(), arrowprops=line,
                ).set_in_layout(False)  # fmt: skip
            taken.append(box)


def _center_title(figure: Any) -> None:
    """The figure's title centred over its panels, not over the figure and its legend beside them; smaller while it
    would still reach into the legend."""
    title = figure._suptitle
    if title is None or not title.get_text():
        return
    renderer = figure.canvas.get_renderer()
    left = min(axes.get_position().x0 for axes in figure.axes)
    right = max(axes.get_position().x1 for axes in figure.axes)
    title.set_x((left + right) / 2)
    legends = [legend.get_window_extent(renderer) for legend in figure.legends]
    while any(title.get_window_extent(renderer).overlaps(box) for box in legends) and title.get_fontsize() > 8:
        title.set_fontsize(title.get_fontsize() - 1)


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


def smoothing_window(lengths: list[int]) -> int:
    """The moving average's window, in logged steps: odd (centred), 5 or about a sixth of the longest log."""
    return max(5, round(max(lengths, default=0) / 6)) // 2 * 2 + 1


def _smoothed(values: list[float], window: int) -> tuple[Any, Any, Any]:
    """(mean - std, mean, mean + std) over a centred window of `window` logged steps (fewer at the ends)."""
    import numpy as np

    values = np.asarray(values, dtype=float)
    half = window // 2
    windows = [values[max(0, i - half) : i + half + 1] for i in range(len(values))]
    mean, std = np.array([w.mean() for w in windows]), np.array([w.std() for w in windows])
    return mean - std, mean, mean + std


def _draw_series(axes: Any, steps: list[float], values: list[float], window: int | None, **line: Any) -> None:
    """A metric against the step: raw with markers, or (`window`) its moving average ± the window's standard
    deviation as a band of the line's colour."""
    if window is None:
        axes.plot(steps, values, marker="o", markersize=3, **line)
        return
    low, mean, high = _smoothed(values, window)
    axes.plot(steps, mean, **line)
    axes.fill_between(steps, low, high, color=line["color"], alpha=0.1, linewidth=0)


def _smoothed_label(label: str, window: int) -> str:
    return f"{label}\nmean of {window} logged steps, band: ± their std"


def _draw_tradeoff(axes: Any, rows: list[dict[str, Any]], labels: bool) -> None:
    """The trade-off points of one dataset on `axes`; `labels`: annotate the alpha and cutoff points."""
    # one alpha curve per advantage normalization, and apart for LoRA adapters (lora_alpha_0.2.yaml's alpha_0.2_lora)
    # and for models trained with budget-constrained rollouts (the demo's rollout_thinking_budget)
    names = _labels(rows)
    curves: dict[tuple[str, str, bool, int | None], list[dict[str, Any]]] = {}
    for row in _sorted_by(select(rows, family="alpha"), "alpha"):
        reward = (row.get("length_reward") or {}).get("name", "sigmoid")
        variant = (reward, row.get("advantage_normalization") or "none", bool(row.get("lora")))
        curves.setdefault((*variant, _rollout_thinking_budget(row)), []).append(row)
    for (reward, normalization, lora, budget), trained in curves.items():
        details = ([] if normalization == "none" else [f"{normalization}-normalized"]) + (["LoRA"] if lora else [])
        details += [] if budget is None else [f"rollouts within {budget} thinking tokens"]
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
    inset.set_ylim(max(low - margin, 0.0), min(high + margin, 100.0))
    (left, right), (panel_left, panel_right) = inset.get_xlim(), axes.get_xlim()
    inset.set_xlim(max(left, panel_left), min(right, panel_right))  # its frame in the panel (one model: wide)
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
    in on the models so that their error bars show. Runs at a token budget and generation cutoffs that cut nothing
    are left out, with a warning naming them (`tradeoff_rows`).
    """
    if not rows:
        raise ValueError("no rows to plot.")
    rows = _tradeoff_view(rows)
    _check_placeable(rows)
    datasets = _distinct(rows, "dataset")
    figure, panels = _figure(len(datasets), title)
    for axes, dataset in zip(panels, datasets, strict=True):
        on_dataset = select(rows, dataset=dataset)
        _draw_tradeoff(axes, on_dataset, labels=True)
        _decorate(axes, "mean completion tokens", "accuracy (%)", title=dataset)
        axes.margins(x=0.08, y=0.1)  # room for the labels above and below the outermost points
        _cap_accuracy(axes)
        _zoom_on_models(axes, on_dataset)
    return _finish(figure, path)


def plot_tiers(
    rows: list[dict[str, Any]],
    path: str | Path | None = None,
    title: str = "Accuracy against tokens, per tier",
    start: str = "start",
) -> Any:
    """Per tier of difficulty (the graded task's easy, medium, hard), a panel of accuracy (± 1 stderr) against mean
    completion tokens on that tier's problems, drawn as `plot_tradeoff` draws a dataset (the starting model a black
    star, the alpha models joined in order of alpha, the cutoff as a dashed line; one accuracy scale across the
    tiers); then, when there are models besides the `start` model and its cutoffs, a panel of each model's mean
    tokens against the start's on each tier (`tier_table`'s token change, in %), one line per model across the
    tiers: the paper's result is that the cut is largest on the easiest tier. With several datasets, a row of
    such panels per dataset, side by side.

    The rows are `load_results`' (their `by_tier`, `tier_rows`); rows without tiers, runs at a token budget and
    generation cutoffs that cut nothing are left out (`tradeoff_rows`, which warns)."""
    if not rows:
        raise ValueError("no rows to plot.")
    rows = _tradeoff_view(rows)
    _check_placeable(rows)
    table, by_tier = tier_table(rows, start), tier_rows(rows)
    datasets = _distinct(by_tier, "dataset")
    panels_of = {dataset: _distinct(select(by_tier, dataset=dataset), "tier") for dataset in datasets}
    # the models compared with the start on tokens (the cutoff is a baseline of its own), by dataset
    families = {(row["dataset"], row["name"]): row for row in rows}
    compared = {
        dataset: [entry for entry in select(table, dataset=dataset)
                  if entry["name"] != start and families[(dataset, entry["name"])]["family"] != "cutoff"]
        for dataset in datasets
    }  # fmt: skip
    figure, panels = _figure(sum(len(tiers) + bool(compared[d]) for d, tiers in panels_of.items()), title)
    panels = iter(panels)
    labels = _labels(rows)
    for dataset, tiers in panels_of.items():
        drawn = []
        for tier in tiers:
            axes, on_tier = next(panels), select(by_tier, dataset=dataset, tier=tier)
            _draw_tradeoff(axes, on_tier, labels=True)
            panel_title = f"{dataset}: {tier}" if len(datasets) > 1 else tier
            _decorate(axes, "mean completion tokens", "accuracy (%)", title=panel_title)
            axes.margins(x=0.08, y=0.1)  # room for the labels above and below the outermost points
            _cap_accuracy(axes)
            drawn.append((axes, on_tier))
        # one accuracy scale across a dataset's tiers, so that they compare at a glance
        bottom, top = min(axes.get_ylim()[0] for axes, _ in drawn), max(axes.get_ylim()[1] for axes, _ in drawn)
        for axes, on_tier in drawn:
            axes.set_ylim(bottom, top)
            _zoom_on_models(axes, on_tier)
        if not compared[dataset]:  # the start alone (and its cutoffs): no model to compare
            continue
        axes = next(panels)
        positions = range(len(tiers))
        axes.axhline(0, color="#555555", linewidth=1, linestyle="--", label=f"{start}'s tokens")
        for entry in compared[dataset]:
            style = model_style(families[(dataset, entry["name"])])
            changes = [100 * entry["by_tier"][tier]["token_change"] if tier in entry["by_tier"] else math.nan
                       for tier in tiers]  # fmt: skip
            axes.plot(positions, changes, color=style["color"], linestyle=style["linestyle"],
                      marker=style["marker"], label=labels[entry["name"]])  # fmt: skip
        axes.set_xticks(list(positions), tiers)
        axes.margins(x=0.15, y=0.1)
        _decorate(axes, "tier", f"mean tokens against {start}'s (%)", title="tokens cut, per tier")
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

    Every model is a single point drawn as `comparison_styles` says: colour is its length reward (the paper's sigmoid
    one colour), marker its setting's strength against that reward's default, hollow when its advantages were
    normalized; the starting model is a black star. The legend has one entry per reward and one per strength, not
    one per model (`model_label` names each model in the tables).
    """
    if not rows:
        raise ValueError("no rows to plot.")
    _check_placeable(rows)
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    datasets = _distinct(rows, "dataset")
    figure, panels = _figure(len(datasets), title)
    styles = comparison_styles(rows)
    for axes, dataset in zip(panels, datasets, strict=True):
        on_dataset = select(rows, dataset=dataset)
        frontier = pareto_frontier(on_dataset)
        # a ring around each member, so that a frontier of one model shows too
        axes.plot(
            [row["mean_tokens"] for row in frontier], [100 * row["accuracy"] for row in frontier], color="#555555",
            linewidth=1, linestyle="--", marker="o", markersize=17, markerfacecolor="none", zorder=1,
            label="Pareto frontier",
        )  # fmt: skip
        for row in on_dataset:
            style = styles[row["name"]]
            _errorbar(
                axes, row, fmt=style["marker"], color=style["color"], markersize=12 if style["marker"] == "*" else 8,
                markeredgecolor="black" if row["family"] == "start" else None, zorder=3,
                markerfacecolor="white" if style["hollow"] else style["color"],
            )  # fmt: skip
        _decorate(axes, "mean completion tokens", "accuracy (%)", title=dataset)
        axes.margins(x=0.1, y=0.1)
        _cap_accuracy(axes)
    handles = {"Pareto frontier": axes.get_lines()[0]}
    for row in rows:  # models of no length reward (the starting model, ...): by name
        style = styles[row["name"]]
        if style["reward"] is None:
            size = 10 if style["marker"] == "*" else 7
            edge = {"markeredgecolor": "black"} if row["family"] == "start" else {}
            handles[model_label(row)] = Line2D(
                [], [], linestyle="none", marker=style["marker"], color=style["color"], markersize=size, **edge
            )
    heading = Line2D([], [], linestyle="none", marker="none")
    rewards = _distinct([style for style in styles.values() if style["reward"]], "reward")
    strengths = {style["strength"] for style in styles.values()}
    handles["colour: length reward"] = heading
    for reward in rewards:
        color = next(style["color"] for style in styles.values() if style["reward"] == reward)
        handles[f"  {reward}" + (" (the paper's)" if reward == "sigmoid" else "")] = Patch(color=color)
    handles["marker: setting"] = heading
    for strength, marker in STRENGTH_MARKERS.items():
        if strength in strengths:
            handles[f"  {strength}"] = Line2D([], [], linestyle="none", marker=marker, color="#555555", markersize=7)
    if any(style["hollow"] for style in styles.values()):
        normalizations = sorted({row.get("advantage_normalization") for row in rows if styles[row["name"]]["hollow"]})
        handles[f"  hollow: advantages {'/'.join(normalizations)}-normalized"] = Line2D(
            [], [], linestyle="none", marker="o", color="#555555", markerfacecolor="white", markersize=7
        )
    return _finish(figure, path, handles)


def plot_training_dynamics(
    logs: dict[str, list[dict[str, Any]]],
    metrics: tuple[tuple[str, str, float], ...] = DYNAMICS_METRICS,
    path: str | Path | None = None,
    title: str | None = "During training",
    smoothed: tuple[str, ...] = SMOOTHED_METRICS,
) -> Any:
    """One panel per metric (log key, axis label, scale), one line per model (drawn as `model_style` says),
    against the optimizer step. The metrics of `smoothed` (by default the training accuracy, a few prompts per
    batch) are drawn as a centred moving average (`smoothing_window` logged steps, said in the axis label) ± the
    window's standard deviation as a band; the others raw, a marker per logged step. A percentage (scale 100) axis
    ends at 100."""
    if not logs:
        raise ValueError("no training logs to plot.")
    figure, panels = _figure(len(metrics), title)
    for axes, (key, label, scale) in zip(panels, metrics, strict=True):
        series = {name: _series(log, key, scale) for name, log in logs.items()}
        if not any(steps for steps, _ in series.values()):
            logged = sorted({k for log in logs.values() for entry in log for k in entry})
            raise ValueError(f"no training log has {key!r}; the logs have {logged}.")
        window = smoothing_window([len(steps) for steps, _ in series.values()]) if key in smoothed else None
        models = [_log_row(name, log) for name, log in logs.items()]
        labels = _labels(models)
        for model in models:
            steps, values = series[model["name"]]
            if steps:  # e.g. SFT/DPO logs have no RL accuracy
                style = model_style(model)
                _draw_series(axes, steps, values, window, linestyle=style["linestyle"], color=style["color"],
                             label=labels[model["name"]])  # fmt: skip
        _decorate(axes, "optimizer step", label if window is None else _smoothed_label(label, window))
        if scale == 100.0:
            _cap_accuracy(axes)
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
        tradeoff_rows = _tradeoff_view(tradeoff_rows)
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
        _cap_accuracy(tradeoff_axes)
    _decorate(accuracy_axes, "token budget N", "accuracy (%)")
    _cap_accuracy(accuracy_axes)
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
        series = {row["name"]: _series(logs[row["name"]], key, scale) for row in trained}
        window = smoothing_window([len(steps) for steps, _ in series.values()]) if key in SMOOTHED_METRICS else None
        for row in trained:
            style = model_style(row)
            _draw_series(axes, *series[row["name"]], window, linestyle=style["linestyle"], color=style["color"],
                         label=labels[row["name"]])  # fmt: skip
        _decorate(axes, "optimizer step", label if window is None else _smoothed_label(label, window))
        if scale == 100.0:
            _cap_accuracy(axes)
    held_out = panels[2]
    span = {key: max(row[key] for row in shown) - min(row[key] for row in shown) or 1.0 for key in KEYS}
    drawn: list[dict[str, Any]] = []
    for row in shown:
        style = model_style(row)
        # models of one normalization may land on one point (alpha stops mattering): each one drawn on an earlier
        # one is smaller, so that the earlier rings it, and each is labelled
        under = [other for other in drawn if all(abs(row[k] - other[k]) < 0.03 * span[k] for k in KEYS)]
        size = 12 if style["marker"] == "*" else max(8 - 3 * len(under), 4)
        drawn.append(row)
        _errorbar(held_out, row, fmt=style["marker"], color=style["color"], label=labels[row["name"]],
                  markersize=size)  # fmt: skip
    _label_points(held_out, trained, [_short_label(row) for row in trained])
    _decorate(held_out, "mean completion tokens (held-out)", "held-out accuracy (%)")
    held_out.margins(x=0.1, y=0.15)  # room for the labels
    _cap_accuracy(held_out)
    return _finish(figure, path)


KEYS = ("mean_tokens", "accuracy")  # where a row is on the accuracy-against-tokens plane


def _short_label(row: dict[str, Any]) -> str:
    """A point's label in the ablation: its alpha, and its normalization when it has one."""
    normalization = row.get("advantage_normalization") or "none"
    return f"α={row['alpha']:g}" + ("" if normalization == "none" else f", {normalization}")
