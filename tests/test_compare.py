import json
import math
import statistics
from pathlib import Path

import pytest

from efficient_trl.analysis import (
    compare_methods,
    format_seed_table,
    load_results,
    model_label,
    model_style,
    pareto_frontier,
    plot_pareto,
    plot_seed_pareto,
    plot_token_savings,
    plot_tradeoff,
    provenance_fields,
    token_savings,
)
from efficient_trl.analysis.results import REWARD_FAMILIES
from efficient_trl.analysis.styles import BASELINE_STYLES, comparison_styles
from efficient_trl.configs import EfficientGRPOConfig
from efficient_trl.experiments.compare import (
    COMPARE_SPECS,
    DEFAULT_SETTINGS,
    CompareSettings,
    as_published_specs,
    format_compare_table,
    run_compare,
    write_compare_report,
)
from efficient_trl.experiments.engine import LATER_SPEC_FIELDS, adapt_think_spec, alpha_spec, model_dir_name
from efficient_trl.length_rewards import (
    AS_PUBLISHED,
    LENGTH_REWARDS,
    dataset_inputs,
    length_reward_parameters,
    resolve_length_reward,
)

ROOT = Path(__file__).resolve().parents[1]


def test_every_group_or_completion_length_reward_is_compared_at_three_strengths_from_weak_to_strong():
    unbudgeted = [name for name in LENGTH_REWARDS if not dataset_inputs(name)]
    assert sorted(unbudgeted) == ["alp", "grpo_lead", "kimi", "shorterbetter", "sigmoid"]
    compared = [setting.length_reward for setting in COMPARE_SPECS]
    assert sorted(set(compared)) == sorted(unbudgeted)  # L1's budget-conditioned entries are left out
    names = [setting.name for setting in COMPARE_SPECS]
    assert len(names) == len(set(names)) == 17
    for reward in unbudgeted:
        settings = [setting for setting in COMPARE_SPECS if setting.length_reward == reward]
        roles = [setting.role for setting in settings]
        assert roles.count("default") == 1 and roles.count("stronger") == 1, reward
        default, stronger = (next(s for s in settings if s.role == role) for role in ("default", "stronger"))
        signature = length_reward_parameters(reward)
        # the default is the function's own (the sigmoid's alpha has none: 0.2 is the paper's)
        assert all(signature[key] == value for key, value in default.params.items() if key != "alpha" or
                   reward != "sigmoid"), reward  # fmt: skip
        assert stronger.params != default.params and all(setting.reason for setting in settings)
        # three strengths of the common setting (the sigmoid's control and ablation aside), each its own parameter
        swept = [s for s in settings if s.role not in ("control", "ablation")]
        assert len(swept) == 3 and len({tuple(s.params.values()) for s in swept}) == 3, reward
        for setting in settings:  # every parameter is one the entry takes, with a valid value
            fields = setting.config_fields()
            resolve_length_reward(reward, fields["length_reward_kwargs"], fields["length_penalty_alpha"])
    sigmoid = {(s.params["alpha"], s.normalization) for s in COMPARE_SPECS if s.length_reward == "sigmoid"}
    assert sigmoid == {(0.0, "none"), (0.05, "none"), (0.2, "none"), (0.4, "none"), (0.2, "group")}
    assert next(s for s in COMPARE_SPECS if s.length_reward == "kimi" and s.role == "stronger").name == (
        "kimi,weight=2"
    )
    # the strengths order as their rewards' parameters do (alp's penalty per token is beta / normalizer)
    order = {"weaker": 0, "default": 1, "stronger": 2, "strongest": 3}
    parameters = {"sigmoid": ("alpha", 1), "kimi": ("weight", 1), "shorterbetter": ("length_weight", 1),
                  "grpo_lead": ("alpha", 1), "alp": ("normalizer", -1)}  # fmt: skip
    for reward, (parameter, sign) in parameters.items():
        swept = sorted((s for s in COMPARE_SPECS if s.length_reward == reward and s.role in order),
                       key=lambda s: order[s.role])  # fmt: skip
        values = [sign * s.params[parameter] for s in swept]
        assert values == sorted(values), reward
    # make compare trains what it trained before: each reward's default and stronger setting, control and ablation
    assert DEFAULT_SETTINGS == [
        "alpha=0", "alpha=0.2", "alpha=0.4", "alpha=0.2,norm=group", "kimi,weight=1", "kimi,weight=2",
        "shorterbetter,length_weight=0.001", "shorterbetter,length_weight=0.01", "grpo_lead,alpha=0.05",
        "grpo_lead,alpha=0.2", "alp,normalizer=16384", "alp,normalizer=200",
    ]  # fmt: skip
    assert [spec.name for spec in CompareSettings().chosen_specs()] == DEFAULT_SETTINGS
    assert [spec.name for spec in CompareSettings(settings=["all"]).chosen_specs()] == names


def test_as_published_trains_each_reward_its_authors_trained_otherwise_under_its_own_name(tmp_path):
    twins = as_published_specs(list(COMPARE_SPECS))
    assert [spec.name for spec in twins] == [
        "alpha=0@published", "alpha=0.05@published", "alpha=0.2@published", "alpha=0.4@published",
        "kimi,weight=0.5@published", "kimi,weight=1@published", "kimi,weight=2@published",
        "shorterbetter,length_weight=0.001@published", "shorterbetter,length_weight=0.01@published",
        "shorterbetter,length_weight=0.03@published", "grpo_lead,alpha=0.05@published",
        "grpo_lead,alpha=0.2@published", "grpo_lead,alpha=0.5@published", "alp,normalizer=16384@published",
        "alp,normalizer=200@published", "alp,normalizer=100@published",
    ]  # fmt: skip
    # the sigmoid as the authors' code trained it (token whitening); the ablation sets its own normalization
    assert {spec.normalization for spec in COMPARE_SPECS if spec.name.startswith("alpha=0.2,norm")} == {"group"}
    assert not any(spec.name.startswith("alpha=0.2,norm") for spec in twins)
    assert not set(spec.name for spec in twins) & set(spec.name for spec in COMPARE_SPECS)
    for spec in twins:  # each one's config trains with its reward's published normalization and warm-up
        config = EfficientGRPOConfig(output_dir=str(tmp_path), use_cpu=True, bf16=False, **spec.config_fields())
        published = AS_PUBLISHED[spec.length_reward]
        assert (config.advantage_normalization, config.length_penalty_warmup_steps) == (
            published.normalization, published.warmup
        ), spec.name  # fmt: skip
        assert "as published" in spec.role
    assert CompareSettings(as_published=True).as_published and not CompareSettings().as_published


@pytest.mark.parametrize(
    "bad, message",
    [
        ({"tasks": ["sums", "sums"]}, "tasks must be a non-empty list of distinct"),
        ({"tasks": ["gsm8k"]}, "tasks must be"),
        ({"tasks": []}, "tasks must be"),
        ({"settings": ["kimi,weight=3"]}, r"settings must be .*kimi,weight=2"),
        ({"settings": ["l1_exact"]}, "settings must be"),
        ({"settings": ["all", "kimi,weight=2"]}, "settings must be"),
        ({"seeds": []}, r"seeds must be a non-empty list of distinct seeds >= 0, got \[\]"),
        ({"seeds": [1, 1]}, "seeds must be a non-empty list of distinct"),
        ({"seeds": [-1]}, "seeds must be"),
        ({"seed": 3}, "pass --seeds 3, not --seed 3"),
        ({"workers": 0}, "workers must be >= 1"),
        ({"steps": 0}, "steps must be >= 1"),
        ({"learning_rate": 0.0}, "learning_rate must be > 0"),
    ],
)
def test_compare_settings_refuse_bad_input_naming_it(bad, message):
    with pytest.raises(ValueError, match=message):
        CompareSettings(**bad)


def test_the_graded_comparisons_command_line_parses_into_its_settings():
    from efficient_trl.cli import parse_arguments
    from efficient_trl.experiments.settings import RunArguments

    argv = ["--tasks", "graded", "--settings", "all", "--as_published", "--seeds", "0", "1", "2",
            "--max_completion_length", "256"]  # fmt: skip  # make compare-graded's
    _, settings = parse_arguments(RunArguments, CompareSettings, argv=argv)
    assert (settings.tasks, settings.seeds, settings.as_published) == (["graded"], [0, 1, 2], True)
    assert len(settings.chosen_specs()) == len(COMPARE_SPECS) + len(as_published_specs(list(COMPARE_SPECS))) == 33
    assert settings.for_seed(1).seed == 1 and settings.for_seed(1).seeds == [1]
    makefile = (Path(__file__).resolve().parents[1] / "Makefile").read_text()
    assert "compare.py " + " ".join(argv) in makefile.replace("\\\n\t\t", "")


def _point(name, accuracy, tokens):
    return {"name": name, "accuracy": accuracy, "mean_tokens": tokens}


def test_pareto_frontier_keeps_the_models_no_other_beats_on_both_accuracy_and_tokens():
    only = _point("only", 0.5, 40.0)
    assert pareto_frontier([only]) == [only]
    short, long_accurate = _point("short", 0.8, 30.0), _point("long", 0.95, 90.0)
    dominated = _point("dominated", 0.8, 50.0)  # as accurate as `short`, longer
    same_tokens_worse = _point("worse", 0.7, 30.0)  # as short as `short`, less accurate
    middle = _point("middle", 0.9, 60.0)
    tie_a, tie_b = _point("tie_a", 0.9, 60.0), _point("tie_b", 0.9, 60.0)  # one point twice: neither beats the other
    frontier = pareto_frontier([long_accurate, dominated, middle, same_tokens_worse, short, tie_a, tie_b])
    assert [row["name"] for row in frontier] == ["short", "middle", "tie_a", "tie_b", "long"]
    assert pareto_frontier([]) == []


def _provenance(reward, normalization="none", **params):
    return {"schema": 1, "trainer": "grpo", "length_reward": {"name": reward, **params, "measure": "completion"},
            "advantage_normalization": normalization, "lora": False}  # fmt: skip


def _rows():
    """One task's rows as load_results reads them: the start model and models of four length rewards."""
    points = [
        ("start", None, 0.70, 49.0),
        ("alpha=0.2", _provenance("sigmoid", alpha=0.2, eps=1e-7), 0.72, 34.0),
        ("alpha=0.2,norm=group", _provenance("sigmoid", "group", alpha=0.2, eps=1e-7), 0.66, 30.0),
        ("kimi,weight=1", _provenance("kimi", weight=1.0), 0.74, 40.0),
        ("kimi,weight=2", _provenance("kimi", weight=2.0), 0.60, 36.0),  # beaten by alpha=0.2
        ("grpo_lead,alpha=0.05", _provenance("grpo_lead", alpha=0.05, wrong_reward=-1.0, eps=1e-7), 0.71, 45.0),
        ("alp,normalizer=200", _provenance("alp", beta=1.0, normalizer=200.0), 0.50, 22.0),
    ]
    rows = []
    for name, provenance, accuracy, tokens in points:
        fields = provenance_fields(provenance) if provenance else {"family": "start"}
        rows.append({"name": name, "dataset": "held-out multi_sums", "accuracy": accuracy, "accuracy_stderr": 0.02,
                     "mean_tokens": tokens, "mean_tokens_stderr": 0.5, **fields})  # fmt: skip
    return rows


def test_other_length_rewards_are_their_own_families_labelled_by_their_parameters():
    rows = {row["name"]: row for row in _rows()}
    assert {name: row["family"] for name, row in rows.items()} == {
        "start": "start", "alpha=0.2": "alpha", "alpha=0.2,norm=group": "alpha", "kimi,weight=1": "kimi",
        "kimi,weight=2": "kimi", "grpo_lead,alpha=0.05": "grpo_lead", "alp,normalizer=200": "alp",
    }  # fmt: skip
    assert model_label(rows["kimi,weight=2"]) == "kimi weight=2"
    assert model_label(rows["grpo_lead,alpha=0.05"]) == "grpo_lead alpha=0.05, wrong_reward=-1"  # eps left out
    assert model_label(rows["alp,normalizer=200"]) == "alp beta=1, normalizer=200"
    # as its authors trained it (verl's group normalization): told apart from the common setting by the label alone
    published = {**rows["alp,normalizer=200"], "advantage_normalization": "group"}
    assert model_label(published) == "alp beta=1, normalizer=200, group-normalized"
    assert model_label({**rows["kimi,weight=1"], "length_reward": {"name": "kimi", "weight": 1.0,
                                                                     "measure": "thinking"}}) == (
        "kimi weight=1, measure=thinking"
    )  # fmt: skip
    # the sigmoid's rows keep the demo's labels and styles
    assert model_label(rows["alpha=0.2,norm=group"]) == "alpha=0.2, group-normalized"
    # one colour and marker per reward family, shared by its settings, used by no baseline or other family
    styles = {family: model_style({"family": family, "name": "x"}) for family in REWARD_FAMILIES}
    assert model_style(rows["kimi,weight=1"]) == model_style(rows["kimi,weight=2"]) == styles["kimi"]
    pairs = [(style["color"], style["marker"]) for style in styles.values()] + list(BASELINE_STYLES.values())
    assert len(set(pairs)) == len(pairs) and len({color for color, _ in pairs}) == len(pairs)
    assert "*" not in {style["marker"] for style in styles.values()}  # the start model's


def _plotted(figure):
    """{(x, y): (colour, marker)} of the single points drawn, and the frontier line's points."""
    from matplotlib.colors import to_hex

    axes = figure.axes[0]
    frontier = [line for line in axes.lines if line.get_label() == "Pareto frontier"]
    # every point but the frontier line and the error bars' caps (marker "_")
    points = {
        tuple(round(value, 6) for value in line.get_xydata()[0]): (to_hex(line.get_color()), line.get_marker())
        for line in axes.lines
        if line not in frontier and line.get_marker() != "_"
    }
    return points, [tuple(round(value, 6) for value in xy) for xy in frontier[0].get_xydata()]


def test_the_pareto_plot_draws_every_model_in_its_familys_style_and_the_frontier_through_its_members(tmp_path):
    rows = _rows()
    figure = plot_pareto(rows, tmp_path / "pareto.png")
    points, frontier = _plotted(figure)
    assert frontier == [(22.0, 50.0), (30.0, 66.0), (34.0, 72.0), (40.0, 74.0)]
    (line,) = [line for line in figure.axes[0].lines if line.get_label() == "Pareto frontier"]
    assert (line.get_marker(), line.get_markerfacecolor()) == ("o", "none")  # each member ringed: one shows too
    # colour is the reward (the sigmoid one colour whatever its alpha), marker the setting's strength against the
    # reward's default, hollow when the advantages were normalized
    styles = comparison_styles(rows)
    assert points == {
        (row["mean_tokens"], round(100 * row["accuracy"], 6)): (
            styles[row["name"]]["color"],
            styles[row["name"]]["marker"],
        )
        for row in rows
    }
    assert points[(49.0, 70.0)] == ("#000000", "*")  # the start model
    strengths = {name: style["strength"] for name, style in styles.items()}
    assert strengths == {
        "start": None, "alpha=0.2": "default", "alpha=0.2,norm=group": "default", "kimi,weight=1": "default",
        "kimi,weight=2": "stronger", "grpo_lead,alpha=0.05": "default", "alp,normalizer=200": "stronger",
    }  # fmt: skip
    assert styles["alpha=0.2"]["color"] == styles["alpha=0.2,norm=group"]["color"] != styles["kimi,weight=1"]["color"]
    faces = {tuple(line.get_xydata()[0]): line.get_markerfacecolor() for line in figure.axes[0].lines}
    assert (faces[(34.0, 72.0)], faces[(30.0, 66.0)]) == (styles["alpha=0.2"]["color"], "white")
    # the legend: one entry per reward (its colour) and per strength (its marker), not one per model
    legend = [text.get_text().strip() for text in figure.legends[0].get_texts()]
    assert legend == [
        "Pareto frontier", "start", "colour: length reward", "sigmoid (the paper's)", "kimi", "grpo_lead", "alp",
        "marker: setting", "default", "stronger", "hollow: advantages group-normalized",
    ]  # fmt: skip
    # the trade-off plot draws the other rewards' models too
    tradeoff = {
        tuple(round(value, 6) for value in xy)
        for line in plot_tradeoff(rows).axes[0].lines
        for xy in line.get_xydata().tolist()
    }
    assert {(row["mean_tokens"], round(100 * row["accuracy"], 6)) for row in rows} <= tradeoff


def test_the_compare_table_names_each_setting_and_stars_the_frontier():
    table = format_compare_table(_rows())
    assert "| start | 70.0% ± 2.0 | 49.0 ± 0.5 | +0.0% | +0.0 pts |" in table
    assert "| sigmoid alpha=0.2 ★ | 72.0% ± 2.0 | 34.0 ± 0.5 | -30.6% | +2.0 pts |" in table
    assert "| kimi weight=2 | 60.0% ± 2.0 |" in table and "| alp beta=1, normalizer=200 ★ |" in table
    published = {**_rows()[4], "name": "kimi,weight=2@published", "accuracy": 0.5}
    assert "| kimi weight=2 (as published) | 50.0% ± 2.0 |" in format_compare_table([*_rows(), published])


@pytest.mark.slow
def test_a_tiny_comparison_trains_evaluates_and_plots_every_setting_whatever_the_workers(tmp_path):
    # Two settings on one task, one step each, from the shipped starting model: the rows, their provenance, the plot
    # and the independence of the results from the number of processes (each job seeded and on one thread).
    tiny = dict(tasks=["multi_sums"], settings=["alpha=0.2", "kimi,weight=2"], steps=1, prompts_per_step=2,
                num_generations=2, max_completion_length=40, logging_steps=1, eval_problems=4)  # fmt: skip
    results = run_compare(tmp_path / "two", CompareSettings(**tiny, workers=2))
    rows = results["multi_sums"]
    assert [(row["name"], row["family"]) for row in rows] == [
        ("start", "start"), ("alpha=0.2", "alpha"), ("kimi,weight=2", "kimi")
    ]  # fmt: skip
    assert rows[2]["length_reward"] == {"name": "kimi", "weight": 2.0, "measure": "completion"}
    assert rows[1]["length_reward"]["alpha"] == 0.2 and rows[1]["advantage_normalization"] == "none"
    assert {row["num_problems"] for row in rows} == {4} and {row["dataset"] for row in rows} == {"held-out multi_sums"}
    recorded = json.loads((tmp_path / "two" / "settings.json").read_text())
    assert [entry["name"] for entry in recorded["trained"]] == ["alpha=0.2", "kimi,weight=2"]
    points, frontier = _plotted(plot_pareto(rows))
    assert set(points) == {(row["mean_tokens"], round(100 * row["accuracy"], 6)) for row in rows}
    assert frontier == [(row["mean_tokens"], round(100 * row["accuracy"], 6)) for row in pareto_frontier(rows)]
    again = run_compare(tmp_path / "one", CompareSettings(**tiny, workers=1))["multi_sums"]
    # one seed, no tiers: the report is today's, the table and the Pareto plot in the task's run directory
    write_compare_report(tmp_path / "one", {"multi_sums": again})
    assert (tmp_path / "one" / "multi_sums" / "results.md").read_text() == format_compare_table(again) + "\n"
    assert not {"savings.png", "seed_0"} & {path.name for path in (tmp_path / "one" / "multi_sums").iterdir()}
    figures = ("name", "accuracy", "mean_tokens", "mean_tokens_stderr")
    assert [[row[key] for key in figures] for row in again] == [[row[key] for key in figures] for row in rows]
    # a rerun resumes: every job had finished, so nothing is trained again and the rows are the same
    weights = {path: path.stat().st_mtime_ns for path in (tmp_path / "one").glob("*/*/model.safetensors")}
    assert run_compare(tmp_path / "one", CompareSettings(**tiny, workers=1))["multi_sums"] == again
    assert {path: path.stat().st_mtime_ns for path in (tmp_path / "one").glob("*/*/model.safetensors")} == weights
    with pytest.raises(FileExistsError, match="other settings"):
        run_compare(tmp_path / "one", CompareSettings(**tiny))  # two workers: another run


@pytest.mark.slow
def test_a_tiny_comparison_as_published_trains_both_settings(tmp_path):
    # One reward under the common setting and as its authors trained it (verl's group normalization), one step each.
    tiny = dict(tasks=["multi_sums"], settings=["shorterbetter,length_weight=0.01"], steps=1, prompts_per_step=2,
                num_generations=2, max_completion_length=40, logging_steps=1, eval_problems=4)  # fmt: skip
    rows = run_compare(tmp_path / "run", CompareSettings(**tiny, as_published=True))["multi_sums"]
    assert [(row["name"], row["advantage_normalization"]) for row in rows[1:]] == [
        ("shorterbetter,length_weight=0.01", "none"), ("shorterbetter,length_weight=0.01@published", "group")
    ]  # fmt: skip
    recorded = json.loads((tmp_path / "run" / "settings.json").read_text())
    assert recorded["compare"]["as_published"] and recorded["trained"][1]["as_published"]


def test_the_readme_tables_are_the_committed_comparison_run():
    root = Path(__file__).resolve().parents[1]
    readme = (root / "README.md").read_text()
    for task in ("sums", "multi_sums"):
        rows = load_results(root / "notebooks" / "demo_runs" / "compare" / task, start="start")
        table = format_compare_table(rows).replace("| model |", "| setting |", 1)
        assert f"**{task}**" in readme and table in readme, task
        assert (root / "notebooks" / "demo_runs" / "compare" / task / "pareto.png").is_file()


def test_the_committed_comparisons_legend_groups_by_reward_and_strength():
    rows = load_results(Path(__file__).resolve().parents[1] / "notebooks/demo_runs/compare/multi_sums", start="start")
    legend = [text.get_text().strip() for text in plot_pareto(rows).legends[0].get_texts()]
    rewards = ["sigmoid (the paper's)", "kimi", "shorterbetter", "grpo_lead", "alp"]
    strengths = ["no length penalty", "default", "stronger", "hollow: advantages group-normalized"]
    assert legend == ["Pareto frontier", "start", "colour: length reward", *rewards, "marker: setting", *strengths]
    assert len(rows) == 13 > len(legend) - 2


def _summary_tier(task_dir, seed, name, tier):
    """A model's figures on one tier in one seed's run, as its evaluation's summary.json holds them."""
    summary = task_dir / f"seed_{seed}" / "eval" / model_dir_name(name) / "summary.json"
    return json.loads(summary.read_text())["by_tier"][tier]


def _mean_se(values):
    return statistics.fmean(values), statistics.stdev(values) / math.sqrt(len(values))


@pytest.mark.slow
def test_a_tiny_graded_comparison_over_two_seeds_reports_means_savings_and_what_the_seeds_leave_unresolved(tmp_path):
    # Three settings on graded, one step each, two seeds: one step at the demo's learning rate barely moves a model,
    # so the methods differ by sampling noise alone, which two seeds must not rank.
    tiny = dict(tasks=["graded"], settings=["alpha=0", "alpha=0.2", "kimi,weight=2"], seeds=[0, 1], steps=1,
                prompts_per_step=2, num_generations=2, max_completion_length=128, logging_steps=1,
                eval_problems=6)  # fmt: skip
    run_dir, seeds, tiers = tmp_path / "run", (0, 1), ("easy", "medium", "hard")
    rows = run_compare(run_dir, CompareSettings(**tiny))["graded"]
    report = write_compare_report(run_dir, {"graded": rows})
    task_dir = run_dir / "graded"
    assert sorted(path.name for path in task_dir.iterdir()) == [
        "pareto.png", "pareto_easy.png", "pareto_hard.png", "pareto_medium.png", "results.md", "savings.png",
        "seed_0", "seed_1",
    ]  # fmt: skip
    for seed in seeds:  # each seed a run directory of its own: the same settings but the seed
        recorded = json.loads((task_dir / f"seed_{seed}" / "settings.json").read_text())
        assert (recorded["seed"], recorded["seeds"], recorded["task"]) == (seed, [seed], "graded")
    timings = json.loads((run_dir / "timings.json").read_text())
    assert sorted((entry["seed"], entry["name"]) for entry in timings) == sorted(
        (seed, name) for seed in seeds for name in ("start", "alpha=0", "alpha=0.2", "kimi,weight=2")
    )
    methods = {"no length penalty": ["alpha=0"], "sigmoid": ["alpha=0.2"], "kimi": ["kimi,weight=2"]}
    assert compare_methods(rows) == methods
    # the rows are the means over seeds of what each seed's evaluations wrote
    for name in ("start", *(names[0] for names in methods.values())):
        for tier in tiers:
            (row,) = [row for row in rows if row["name"] == name and row["tier"] == tier]
            for quantity in ("accuracy", "mean_tokens"):
                values = [_summary_tier(task_dir, seed, name, tier)[quantity] for seed in seeds]
                assert (row[quantity], row[f"{quantity}_stderr"]) == pytest.approx(_mean_se(values), abs=1e-12)
    # each seed's largest token saving at no more than 1 point lost, from the summaries alone
    expected = {}
    for method, names in methods.items():
        for tier in tiers:
            per_seed = []
            for seed in seeds:
                start = _summary_tier(task_dir, seed, "start", tier)
                models = [_summary_tier(task_dir, seed, name, tier) for name in names]
                kept = [1 - model["mean_tokens"] / start["mean_tokens"] for model in models
                        if model["accuracy"] - start["accuracy"] >= -0.01 - 1e-9]  # fmt: skip
                per_seed.append(max([0.0, *kept]))
            expected[(method, tier)] = per_seed
    # the summary figure: per method and tier a bar at the mean saving, its error bar one SE across seeds, its dots
    # the seeds' own savings
    tiered = [row for row in rows if row["tier"] is not None]
    from matplotlib.container import BarContainer

    figure = plot_token_savings(token_savings(tiered, methods), tiered, methods)
    bars = {}
    for container in figure.axes[0].containers:
        if not isinstance(container, BarContainer):
            continue  # the error bars' own containers: each bar's is its `errorbar`
        (patch,) = container.patches
        (segment,) = container.errorbar.lines[2][0].get_segments()
        bars[patch.get_gid()] = (patch.get_height(), (segment[1][1] - segment[0][1]) / 2)
    assert set(bars) == {f"{method}|{tier}" for method in methods for tier in tiers}
    for (method, tier), per_seed in expected.items():
        mean, stderr = _mean_se(per_seed)
        assert bars[f"{method}|{tier}"] == pytest.approx((100 * mean, 100 * stderr), abs=1e-9), (method, tier)
    dots = sorted(
        round(y, 9)
        for line in figure.axes[0].lines
        if (line.get_gid() or "").endswith("|seeds")
        for y in line.get_ydata()
    )
    assert dots == sorted(round(100 * value, 9) for per_seed in expected.values() for value in per_seed)
    # one Pareto plot per tier: each model at its mean over seeds, each method's models joined as its frontier
    for tier in tiers:
        on_tier = [row for row in rows if row["tier"] == tier]
        axes = plot_seed_pareto(on_tier, methods).axes[0]
        points = {
            tuple(round(value, 9) for value in line.get_xydata()[0])
            for line in axes.lines
            if line.get_linestyle() == "None" and line.get_marker() not in ("_", "|", "None", "", ".")
        }
        assert points == {(round(row["mean_tokens"], 9), round(100 * row["accuracy"], 9)) for row in on_tier}
    # results.md: the table over seeds, then per tier the ranking, "unresolved" exactly where the rule says so
    text = (task_dir / "results.md").read_text()
    assert text.startswith(format_seed_table(rows) + "\n\n") and text.strip() in report
    unresolved = 0
    for tier in tiers:
        section = text.split(f"**held-out graded, tier {tier}**")[1].split("\n\n**")[0]
        ranking = [line.split(" | ") for line in section.splitlines() if line.startswith("| ") and line[2].isdigit()]
        order = sorted(methods, key=lambda method: -statistics.fmean(expected[(method, tier)]))
        assert [cells[1] for cells in ranking] == order
        for cells, method, below in zip(ranking, order, [*order[1:], None], strict=True):
            if below is None:
                assert cells[3] == ""
                continue
            differences = [a - b for a, b in zip(expected[(method, tier)], expected[(below, tier)], strict=True)]
            mean, stderr = _mean_se(differences)
            agree = all(d > 0 for d in differences) or all(d < 0 for d in differences)
            verdict = "resolved" if agree and abs(mean) > 2 * stderr else "unresolved"
            assert cells[3].startswith(verdict + " "), (tier, method, cells)
            unresolved += verdict == "unresolved"
    assert unresolved  # one step of training: the seeds cannot rank every pair
    # one seed of the same run, laid out as a one-seed comparison: today's table and plot, and per tier the same
    # figures, with one seed every ranking unresolved (its spread is unknown)
    import shutil

    one = tmp_path / "one"
    shutil.copytree(task_dir / "seed_0", one / "graded")
    record = json.loads((run_dir / "settings.json").read_text())
    record["compare"]["seeds"] = [0]
    (one / "settings.json").write_text(json.dumps(record))
    single = load_results(one / "graded", start="start")
    write_compare_report(one, {"graded": single})
    text = (one / "graded" / "results.md").read_text()
    assert text.startswith(format_compare_table(single) + "\n\n**held-out graded, tier easy**")
    assert {"pareto.png", "pareto_easy.png", "pareto_medium.png", "pareto_hard.png", "savings.png"} <= {
        path.name for path in (one / "graded").iterdir()
    }
    leads = [line.split(" | ")[3] for line in text.splitlines() if line.startswith("| ") and line[2].isdigit()]
    assert leads and all(lead in ("", "unresolved (+0.0 pts)") or lead.startswith("unresolved") for lead in leads)
    assert "(1 seed)" in text


def test_a_comparison_recorded_before_the_later_spec_fields_still_resumes():
    # make compare-graded's run of 2026-12-03 recorded each spec without the fields added after it (rollout budgets,
    # AdaptThink's importance sampling): at their defaults they are left out, so that its settings.json still matches
    committed = json.loads((ROOT / "notebooks/demo_runs/compare_graded/settings.json").read_text())
    chosen = CompareSettings(tasks=["graded"], settings=["all"], as_published=True, seeds=[0, 1]).chosen_specs()
    assert committed["trained"] == [{"name": spec.name, **spec.recorded()} for spec in chosen]
    assert not set(LATER_SPEC_FIELDS) & set(alpha_spec(0.2).recorded())
    assert adapt_think_spec().recorded()["forced_no_think_share"] == 0.5
