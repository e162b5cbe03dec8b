"""efficient_trl.analysis.plots: the figures draw every row where its fields put it, styled and labelled as
efficient_trl.analysis.styles says, and refuse what they cannot place."""

from pathlib import Path

import pytest

from efficient_trl.analysis import (
    load_results,
    load_training_logs,
    model_label,
    model_style,
    plot_normalization_ablation,
    plot_tradeoff,
    plot_training_dynamics,
    provenance_fields,
    select,
)


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
    line = accuracy_axes.get_lines()[1]
    assert list(line.get_ydata()) == pytest.approx([100 * e["efficiency/accuracy"] for e in logs["alpha=0.3"]])
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
    sweep = Path(__file__).resolve().parents[1] / "notebooks" / "demo_runs" / "sweep"
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
