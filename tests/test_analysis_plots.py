"""efficient_trl.analysis.plots: the figures draw every row where its fields put it, styled and labelled as
efficient_trl.analysis.styles says, and refuse what they cannot place."""

from pathlib import Path

import pytest

from efficient_trl.analysis import (
    budget_report,
    load_budget_results,
    load_results,
    load_training_logs,
    model_label,
    model_style,
    plot_normalization_ablation,
    plot_pareto,
    plot_tradeoff,
    plot_training_dynamics,
    provenance_fields,
    select,
    tradeoff_rows,
)
from efficient_trl.analysis.plots import smoothing_window

DEMO_RUNS = Path(__file__).resolve().parents[1] / "notebooks" / "demo_runs"


def test_tradeoff_plot_is_saved(tmp_path):
    rows = [
        {"name": "start", "dataset": "d", "accuracy": 0.9, "accuracy_stderr": 0.01, "mean_tokens": 100.0},
        {"name": "alpha=0.2", "dataset": "d", "accuracy": 0.88, "accuracy_stderr": 0.01, "mean_tokens": 60.0},
    ]
    figure = plot_tradeoff([{**row, "family": "model"} for row in rows], tmp_path / "plot.png")
    assert (tmp_path / "plot.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and len(figure.axes) == 1


def test_demo_run_figures(tiny_demo_run):
    run_dir = tiny_demo_run[0]
    rows, logs = load_results(run_dir, cutoff_model="start"), load_training_logs(run_dir)
    figure = plot_training_dynamics(logs)
    accuracy_axes, length_axes = figure.axes
    # one line per model with the metric: the SFT/DPO logs have no RL accuracy and are left out
    # labelled by how each model was trained (its provenance.json)
    assert [line.get_label() for line in accuracy_axes.get_lines()] == [
        "alpha=0", "alpha=0.3", "alpha=0, group-normalized", "alpha=0.3, group-normalized"
    ]  # fmt: skip
    # the training accuracy smoothed: a centred moving average over the window the axis label states
    line = accuracy_axes.get_lines()[1]
    raw = [100 * e["efficiency/accuracy"] for e in logs["alpha=0.3"]]
    window = smoothing_window([len(raw)])
    assert f"mean of {window} logged steps" in accuracy_axes.get_ylabel()
    half = window // 2
    assert list(line.get_ydata()) == pytest.approx(
        [
            sum(raw[max(0, i - half) : i + half + 1]) / len(raw[max(0, i - half) : i + half + 1])
            for i in range(len(raw))
        ]
    )
    assert list(length_axes.get_lines()[0].get_ydata()) == [e["completions/mean_length"] for e in logs["alpha=0"]]
    with pytest.raises(ValueError, match="no training log has 'nope'"):
        plot_training_dynamics(logs, metrics=(("nope", "nope", 1.0),))

    tradeoff = plot_tradeoff(rows)
    labels = [text.get_text() for text in tradeoff.axes[0].texts]
    assert {"α=0", "α=0.3", "≤30", "≤60"} <= set(labels)
    assert tradeoff.axes[0].get_title() == "held-out sums"

    ablation = plot_normalization_ablation(rows, logs)
    assert len(ablation.axes) == 3
    styles = {line.get_label(): line.get_linestyle() for line in ablation.axes[0].get_lines()}
    assert styles == {
        "alpha=0": "-", "alpha=0.3": "-", "alpha=0, group-normalized": "--", "alpha=0.3, group-normalized": "--"
    }  # fmt: skip
    with pytest.raises(ValueError, match="two or more advantage normalizations"):
        plot_normalization_ablation(select(rows, advantage_normalization="none"), logs)


def test_normalization_ablation_from_evaluation_and_training_runs(evaluation_runs, ablation_training_dirs):
    # A user's own ablation: evaluation runs, and training output directories named as the demo names its models
    rows, logs = load_results(evaluation_runs), load_training_logs(ablation_training_dirs)
    with pytest.raises(ValueError, match="several datasets"):
        plot_normalization_ablation(rows, logs)
    figure = plot_normalization_ablation(rows, logs, dataset="math500")
    styles = {line.get_label(): line.get_linestyle() for line in figure.axes[0].get_lines()}
    assert styles == {"alpha=0.3": "-", "alpha=0.3, group-normalized": "--"}
    held_out_labels = figure.axes[2].get_legend_handles_labels()[1]
    assert held_out_labels == ["alpha=0.3", "alpha=0.3, group-normalized", "demo_model"]
    with pytest.warns(UserWarning, match=r"left out \['alpha_0.3_norm_group'\]: no training log"):
        with pytest.raises(ValueError, match="two or more advantage normalizations"):
            plot_normalization_ablation(rows, {"alpha_0.3": logs["alpha_0.3"]}, dataset="math500")


def plotted_points(axes) -> list[tuple[float, float]]:
    """Every data marker a panel shows, as (tokens, accuracy %) rounded to 6 digits, error bar caps left out."""
    return sorted(
        (round(float(x), 6), round(float(y), 6))
        for line in axes.get_lines()
        if line.get_marker() not in (None, "None", "", " ", "_")
        for x, y in line.get_xydata()
    )


def test_lora_models_get_a_curve_of_their_own():
    # recipes/deepseek-r1-distill-qwen-1.5b/lora_alpha_0.2.yaml writes a LoRA adapter beside the full alpha_0.2;
    # what tells it apart is its provenance's `lora`, whatever the directory is called
    row = {
        "dataset": "d",
        "accuracy": 0.9,
        "accuracy_stderr": 0.01,
        "family": "alpha",
        "advantage_normalization": "none",
        "lora": False,
    }
    rows = [{**row, "name": "alpha_0.1", "alpha": 0.1, "mean_tokens": 80.0}]
    rows += [{**row, "name": "alpha_0.2", "alpha": 0.2, "mean_tokens": 60.0}]
    rows += [{**row, "name": "adapter", "alpha": 0.2, "mean_tokens": 70.0, "lora": True}]
    rows += [{**row, "name": "alpha_0.2_lora", "alpha": 0.2, "mean_tokens": 50.0}]  # a full model, whatever its name
    curves = {line.get_label(): list(line.get_xdata()) for line in plot_tradeoff(rows).axes[0].get_lines()
              if line.get_label().startswith("length penalty")}  # fmt: skip
    assert curves == {"length penalty": [80.0, 60.0, 50.0], "length penalty (LoRA)": [70.0]}


def test_plot_tradeoff_refuses_rows_it_cannot_place():
    row = {"name": "alpha=0.2", "dataset": "d", "accuracy": 0.9, "accuracy_stderr": 0.01, "mean_tokens": 60.0}
    with pytest.raises(ValueError, match=r"cannot place \['alpha=0.2', 'mine'\] .*family"):
        plot_tradeoff([row, {**row, "name": "mine", "family": "mystery"}, {**row, "name": "s", "family": "start"}])
    with pytest.raises(ValueError, match=r"cannot place \['alpha=0.2'\] .*alpha"):
        plot_tradeoff([{**row, "family": "alpha"}])


def _pixel_boxes(figure, artists):
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = FigureCanvasAgg(figure)  # lays the figure out and draws it, as the notebook shows it
    canvas.draw()
    renderer = canvas.get_renderer()
    return [artist.get_window_extent(renderer) for artist in artists]


def _colors_by_label(figure) -> dict[str, str]:
    from matplotlib.colors import to_hex

    colors = {}
    for axes in figure.axes:
        for container in axes.containers:  # error bar points
            colors.setdefault(container.get_label(), set()).add(to_hex(container.lines[0].get_color()))
        for line in axes.get_lines():
            colors.setdefault(line.get_label(), set()).add(to_hex(line.get_color()))
    return {label: found for label, found in colors.items() if not label.startswith("_")}


def test_notebook_figures_are_readable():
    # The committed demo runs the notebooks show (notebooks/demo_runs), drawn as the notebooks draw them
    sweep = DEMO_RUNS / "sweep"
    rows = load_results(sweep, cutoff_model="start")
    tradeoff = plot_tradeoff(rows)
    (axes,) = tradeoff.axes
    # point labels (alpha, cutoff) do not overlap one another
    boxes = _pixel_boxes(tradeoff, axes.texts)
    assert len(boxes) == 8
    assert not [(a, b) for i, a in enumerate(boxes) for b in boxes[i + 1 :] if a.overlaps(b)]
    # the legend is outside the panel, so it hides no point or line
    (legend,) = tradeoff.legends
    legend_box, panel_box = _pixel_boxes(tradeoff, [legend, axes])
    assert not legend_box.overlaps(panel_box)
    # every model's error bar is visible: at least 6 pixels tall in the zoomed inset (the cutoff stretches the
    # main axis from 0 to 100%, where they are a pixel or two)
    (inset,) = axes.child_axes
    for row in select(rows, family="alpha") + select(rows, family="start"):
        low, high = (100 * (row["accuracy"] + sign * row["accuracy_stderr"]) for sign in (-1, 1))
        pixels = inset.transData.transform([(row["mean_tokens"], low), (row["mean_tokens"], high)])
        assert pixels[1][1] - pixels[0][1] >= 6, row["name"]
    # SFT and DPO look like no alpha point: own marker and colour
    markers = {c.get_label(): (c.lines[0].get_marker(), c.lines[0].get_color()) for c in axes.containers}
    alpha_looks = {markers[model_label(row)] for row in select(rows, family="alpha")}
    assert markers["SFT baseline"] != markers["DPO baseline"]
    for baseline in ("SFT baseline", "DPO baseline"):
        assert markers[baseline][0] not in {m for m, _ in alpha_looks}
        assert markers[baseline][1] not in {c for _, c in alpha_looks}

    # the same model has the same colour in every figure of a notebook
    logs = load_training_logs(sweep)
    figures = [tradeoff, plot_training_dynamics(logs)]
    ablation_dir = sweep.parent / "ablation"
    ablation_rows, ablation_logs = load_results(ablation_dir), load_training_logs(ablation_dir)
    figures += [plot_normalization_ablation(ablation_rows, ablation_logs), plot_training_dynamics(ablation_logs)]
    colors: dict[str, set[str]] = {}
    for figure in figures:
        for label, found in _colors_by_label(figure).items():
            colors.setdefault(label, set()).update(found)
    every_row = {row["name"]: row for row in rows + ablation_rows}
    for name in ["alpha=0", "alpha=0.05", "alpha=0.2", "alpha=0.2,norm=group", "start", "sft", "dpo"]:
        label = model_label(every_row[name])
        assert len(colors[label]) == 1, (label, colors[label])
        assert colors[label] == {model_style(every_row[name])["color"]}
    distinct = {next(iter(colors[name])) for name in ("alpha=0", "alpha=0.05", "alpha=0.1", "alpha=0.2", "alpha=0.4")}
    assert len(distinct) == 5


def test_a_model_trained_with_another_length_reward_is_plotted_in_its_rewards_family_not_on_the_alpha_curve(tmp_path):
    kimi = {"schema": 1, "trainer": "grpo", "length_reward": {"name": "kimi", "weight": 1.0, "measure": "completion"},
            "advantage_normalization": "none", "lora": False}  # fmt: skip
    sigmoid = {**kimi, "length_reward": {"name": "sigmoid", "alpha": 0.2, "eps": 1e-7, "measure": "completion"}}
    assert provenance_fields(kimi)["family"] == "kimi" and provenance_fields(kimi)["alpha"] is None
    assert provenance_fields(sigmoid)["family"] == "alpha" and provenance_fields(sigmoid)["alpha"] == 0.2
    point = {"dataset": "sums", "accuracy": 0.9, "accuracy_stderr": 0.01}
    rows = [
        {**point, "name": "kimi-run", "mean_tokens": 50.0, **provenance_fields(kimi)},
        {**point, "name": "alpha-run", "mean_tokens": 60.0, **provenance_fields(sigmoid)},
    ]
    figure = plot_tradeoff(rows, tmp_path / "plot.png")
    plotted = {tuple(xy) for axes in figure.axes for line in axes.lines for xy in line.get_xydata().tolist()}
    assert (50.0, 90.0) in plotted and (60.0, 90.0) in plotted


def overlapping_texts(figure) -> list[tuple[str, str]]:
    """Pairs of texts of a figure, as drawn, whose boxes overlap: the figure's title and legends, every panel's and
    inset's title, axis labels, point labels and legend; and point labels under an inset."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.text import Text

    canvas = FigureCanvasAgg(figure)
    canvas.draw()
    renderer = canvas.get_renderer()
    texts = [figure._suptitle, *figure.texts, *figure.legends]
    insets = []
    for axes in figure.axes:
        for panel in (axes, *axes.child_axes):
            texts += [panel.title, panel._left_title, panel._right_title, panel.xaxis.label, panel.yaxis.label]
            texts += [*panel.texts, *([panel.get_legend()] if panel.get_legend() else [])]
        insets += [(axes, child.get_tightbbox(renderer)) for child in axes.child_axes]
    texts = list({id(text): text for text in texts if text is not None and text.get_visible()}.values())
    texts = [text for text in texts if not hasattr(text, "get_text") or text.get_text()]
    # a label's own box, without the line that leads to its point from afar
    boxes = [
        (text, (Text if isinstance(text, Text) else type(text)).get_window_extent(text, renderer)) for text in texts
    ]

    def name(text):
        return repr(text.get_text()) if hasattr(text, "get_text") else type(text).__name__

    pairs = [
        (name(a), name(b)) for i, (a, box) in enumerate(boxes) for b, other in boxes[i + 1 :] if box.overlaps(other)
    ]
    for parent, box in insets:
        parent_labels = [(text, label_box) for text, label_box in boxes if text in parent.texts]
        pairs += [(name(text), "inset") for text, label_box in parent_labels if label_box.overlaps(box)]
    return pairs


def accuracy_panels(figure) -> list:
    return [axes for top in figure.axes for axes in (top, *top.child_axes) if "accuracy" in axes.get_ylabel()]


def committed_figures() -> dict:
    """Every figure the package draws on the committed demo runs, as the notebooks and demo reports draw them."""
    sweep, ablation, ablation_multi = DEMO_RUNS / "sweep", DEMO_RUNS / "ablation", DEMO_RUNS / "ablation_multi_sums"
    rows, logs = load_results(sweep, cutoff_model="start", start="start"), load_training_logs(sweep)
    ablation_rows, ablation_logs = load_results(ablation, start="start"), load_training_logs(ablation)
    figures = {
        "sweep trade-off": plot_tradeoff(rows, title="CPU demo: accuracy against tokens"),
        "sweep dynamics": plot_training_dynamics(logs),
        "sweep penalty and KL": plot_training_dynamics(
            logs, metrics=(("efficiency/length_penalty", "mean length penalty", 1.0), ("kl", "KL", 1.0))
        ),
        "ablation": plot_normalization_ablation(ablation_rows, ablation_logs),
        "ablation_multi_sums trade-off": plot_tradeoff(load_results(ablation_multi, start="start")),
        "ablation_multi_sums ablation": plot_normalization_ablation(
            load_results(ablation_multi, start="start"), load_training_logs(ablation_multi)
        ),
        "budget": budget_report(load_budget_results(DEMO_RUNS / "budget", sweep), title="CPU demo: token budgets")[1],
    }
    for task in ("sums", "multi_sums"):
        compare_rows = load_results(DEMO_RUNS / "compare" / task, start="start")
        figures[f"compare {task}"] = plot_pareto(compare_rows, title=f"Length rewards on {task}")
    return figures


def test_no_text_of_a_committed_figure_overlaps_another_and_accuracy_axes_end_at_100():
    for name, figure in committed_figures().items():
        assert overlapping_texts(figure) == [], name
        for axes in accuracy_panels(figure):
            bottom, top = axes.get_ylim()
            assert 0 <= bottom and top <= 100, (name, axes.get_ylabel(), (bottom, top))


def test_the_overlap_check_finds_overlapping_labels():
    row = {"name": "a", "dataset": "d", "family": "alpha", "alpha": 0.1, "accuracy": 0.5, "accuracy_stderr": 0.01,
           "mean_tokens": 50.0, "advantage_normalization": "none"}  # fmt: skip
    figure = plot_tradeoff([row, {**row, "name": "b", "alpha": 0.2, "mean_tokens": 60.0}])
    assert overlapping_texts(figure) == []
    axes = figure.axes[0]
    axes.texts[1].xy, axes.texts[1].xyann = axes.texts[0].xy, axes.texts[0].xyann  # one label on the other
    axes.texts[1].set_horizontalalignment(axes.texts[0].get_horizontalalignment())
    axes.texts[1].set_verticalalignment(axes.texts[0].get_verticalalignment())
    assert ("'α=0.1'", "'α=0.2'") in overlapping_texts(figure) or ("'α=0.2'", "'α=0.1'") in overlapping_texts(figure)


def test_accuracy_axes_end_at_100_percent():
    row = {"dataset": "d", "family": "model", "accuracy": 1.0, "accuracy_stderr": 0.0}
    rows = [
        {**row, "name": "a", "mean_tokens": 50.0},
        {**row, "name": "b", "mean_tokens": 60.0, "accuracy_stderr": 0.02},
    ]
    for figure in (plot_tradeoff(rows), plot_pareto(rows)):
        (axes,) = figure.axes
        assert axes.get_ylim()[1] == 100.0
        # the error bars stop at 100% too, and the points on the edge are drawn whole (not clipped by the frame)
        assert max(y for line in axes.get_lines() for _, y in line.get_xydata()) <= 100.0
        assert max(y for c in axes.collections for path in c.get_paths() for _, y in path.vertices) <= 100.0
        assert not any(line.get_clip_on() for line in axes.get_lines())


def test_the_tradeoff_view_leaves_out_budget_runs_and_cutoffs_that_cut_nothing_and_says_so():
    point = {"dataset": "d", "accuracy": 0.9, "accuracy_stderr": 0.01}
    rows = [
        {**point, "name": "start", "family": "start", "mean_tokens": 100.0, "max_new_tokens": 160},
        {**point, "name": "start", "family": "start", "mean_tokens": 50.0, "budget": 50, "budget_mode": "forcing"},
        {**point, "name": "start", "family": "start", "mean_tokens": 70.0, "budget": 75, "budget_mode": "forcing"},
        {**point, "name": "cutoff=60", "family": "cutoff", "cutoff": 60, "mean_tokens": 58.0, "max_new_tokens": 160,
         "truncation_rate": 0.5, "accuracy": 0.3},
        {**point, "name": "cutoff=160", "family": "cutoff", "cutoff": 160, "mean_tokens": 100.0,
         "max_new_tokens": 160, "truncation_rate": 0.1},
        {**point, "name": "cutoff=120", "family": "cutoff", "cutoff": 120, "mean_tokens": 100.0,
         "max_new_tokens": 160, "truncation_rate": 0.0},
    ]  # fmt: skip
    message = r"left out .*token budget: start \(N=50, 75\).*cut nothing: \['cutoff=160', 'cutoff=120'\]"
    with pytest.warns(UserWarning, match=message):
        kept = tradeoff_rows(rows)
    assert [row["name"] for row in kept] == ["start", "cutoff=60"] and kept[0].get("budget") is None
    with pytest.warns(UserWarning, match=message):
        figure = plot_tradeoff(rows)
    assert plotted_points(figure.axes[0]) == [(58.0, 30.0), (100.0, 90.0)]
    assert [text.get_text() for text in figure.axes[0].texts] == ["≤60"]
    with pytest.raises(ValueError, match="every row was left out"), pytest.warns(UserWarning):
        plot_tradeoff(rows[1:3])


def test_the_tradeoff_view_of_a_folder_with_budget_runs_draws_each_model_once():
    # the layout the README produces: budget runs beside the alpha models
    rows = load_budget_results(DEMO_RUNS / "budget", DEMO_RUNS / "sweep")
    with pytest.warns(UserWarning, match=r"token budget: start \(N=50, 75, 100, 125\), budget_sft"):
        figure = plot_tradeoff(rows)
    (axes,) = figure.axes
    labels = axes.get_legend_handles_labels()[1]
    assert labels.count("start") == 1 and not any("budget" in label for label in labels)
    assert len(plotted_points(axes)) == len(select(rows, budget=None))


def test_the_training_accuracy_is_smoothed_with_its_spread_as_a_band():
    figure = committed_figures()["sweep dynamics"]
    accuracy_axes, length_axes = figure.axes
    assert "mean of 5 logged steps, band: ± their std" in accuracy_axes.get_ylabel()
    assert len(accuracy_axes.collections) == len(accuracy_axes.get_lines()) == 5  # a band per model
    assert not length_axes.collections  # the length is drawn raw


def test_each_point_of_the_ablation_is_labelled_and_none_hides_another():
    for run in ("ablation", "ablation_multi_sums"):
        rows = load_results(DEMO_RUNS / run, start="start")
        figure = plot_normalization_ablation(rows, load_training_logs(DEMO_RUNS / run))
        held_out = figure.axes[2]
        assert sorted(text.get_text() for text in held_out.texts) == sorted(
            ["α=0.05", "α=0.2", "α=0.05, group", "α=0.2, group"]
        )
        assert overlapping_texts(figure) == []
        markers = [
            (held_out.transData.transform(c.lines[0].get_xydata()[0]), c.lines[0].get_markersize() * figure.dpi / 72)
            for c in held_out.containers
        ]
        for i, (earlier, earlier_size) in enumerate(markers):
            for later, later_size in markers[i + 1 :]:  # drawn on top: it may not cover the earlier one whole
                assert abs(later - earlier).max() + earlier_size / 2 > later_size / 2 - 1, run


def test_tier_plot_draws_each_tiers_figures_of_a_graded_evaluation(graded_evaluations, tmp_path):
    import json

    from efficient_trl.analysis import plot_tiers

    rows = load_results(graded_evaluations, cutoff_model="start", start="start")
    summaries = {
        name: json.loads((graded_evaluations / name / "summary.json").read_text()) for name in ("start", "alpha=0.2")
    }
    figure = plot_tiers(rows, tmp_path / "tiers.png")
    assert (tmp_path / "tiers.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    *tier_panels, cut_panel = figure.axes  # the insets are the panels' own
    assert [axes.get_title() for axes in tier_panels] == ["easy", "medium", "hard"]
    for axes in tier_panels:
        tier = axes.get_title()
        # each model at its tier's mean tokens and accuracy (%), the cutoff baseline on the start's tier samples
        expected = [summaries[name]["by_tier"][tier] for name in ("start", "alpha=0.2")]
        expected += summaries["start"]["by_tier"][tier]["cutoff_baseline"]
        assert plotted_points(axes) == sorted(
            (round(figures["mean_tokens"], 6), round(100 * figures["accuracy"], 6)) for figures in expected
        )
        assert axes.get_ylim() == tier_panels[0].get_ylim() and 0 <= axes.get_ylim()[0] and axes.get_ylim()[1] <= 100
    # the last panel: each model's mean tokens against the start's per tier, in %
    assert [tick.get_text() for tick in cut_panel.get_xticklabels()] == ["easy", "medium", "hard"]
    (line,) = [line for line in cut_panel.get_lines() if line.get_label() == "alpha=0.2"]
    start, trained = ([summaries[name]["by_tier"][tier]["mean_tokens"] for tier in ("easy", "medium", "hard")]
                      for name in ("start", "alpha=0.2"))  # fmt: skip
    assert list(line.get_ydata()) == pytest.approx([100 * (t / s - 1) for t, s in zip(trained, start, strict=True)])
    # readable: no text on another, the legend beside the panels
    assert overlapping_texts(figure) == []
    (legend,) = figure.legends
    legend_box, *panel_boxes = _pixel_boxes(figure, [legend, *tier_panels, cut_panel])
    assert not any(legend_box.overlaps(box) for box in panel_boxes)
    with pytest.raises(ValueError, match="no tiers in the results"):
        plot_tiers([{key: value for key, value in row.items() if key != "by_tier"} for row in rows])
