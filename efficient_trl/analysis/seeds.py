"""Results across seeds: run directories of one plan that differ only in their seed, read as one set of rows with the
mean over seeds and its standard error across seeds, and whether the seeds agree on a difference.

One seed's run says little when two models sit within its noise: training from the same start with another seed moves a
model's accuracy and length by as much as many of the differences a comparison is after. `load_seed_results` reads each
seed's run (`load_results`) and returns one row per model (and per model and tier, when its evaluation has tiers)
holding the mean over seeds of `accuracy`, `mean_tokens` and `no_think_rate`, their standard errors across seeds in
`<name>_stderr` (sample std / sqrt(n): the seeds' spread, not one evaluation's sampling error), `seeds` (n), each
seed's own figures in `per_seed`, and each seed's change against the starting model of that seed's run
(`accuracy_change` in accuracy points as a fraction, `token_change` as a fraction of the start's tokens), averaged with
its standard error. Rows have the fields a run's rows have, so that the tables and figures of `efficient_trl.analysis`
draw them (error bars are then the spread across seeds).

`seed_difference` says whether the seeds resolve a difference between two models (or a model and the start) on one
quantity: "resolved" only when every seed gives it the same sign and the mean difference exceeds two standard errors
across seeds; `format_seed_table` writes the rows as a Markdown table that marks the unresolved changes. For the
comparison of length rewards (`efficient_trl.experiments.compare`): `token_savings` gives, per method and tier, the
largest token saving at no more than 1 point of accuracy lost, per seed and averaged; `format_savings_ranking` ranks
the methods on it, `plot_token_savings` draws it and `plot_seed_pareto` draws each method's frontier over seeds.
`load_seed_comparison` puts plans run with the same seeds side by side (the alpha family beside the adapt_think model
on the graded testbed), refused unless they train and evaluate alike; `format_tier_comparison` and
`plot_tier_comparison` show them per tier: accuracy, tokens cut and the share of answers given without thinking.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .results import UNTRAINED_FIELDS, load_results, pareto_frontier, tier_rows
from .styles import comparison_styles, model_label

__all__ = [
    "KEPT_FIELDS",
    "METHOD_LOOKS",
    "SEED_FIELDS",
    "SEED_QUANTITIES",
    "SHARED_SETTINGS",
    "compare_methods",
    "format_savings_ranking",
    "format_seed_table",
    "format_tier_comparison",
    "load_seed_comparison",
    "load_seed_results",
    "plot_seed_pareto",
    "plot_tier_comparison",
    "plot_token_savings",
    "seed_difference",
    "token_savings",
]

# The settings.json fields in which the runs of one plan's seeds may differ: the seed (and the list of seeds a plan
# was launched with, which one launch per seed records as [n])
SEED_FIELDS = ("seed", "seeds")
# The figures averaged over seeds, each with its standard error across seeds in <name>_stderr (no_think_rate: None
# where a seed's summary predates it)
SEED_QUANTITIES = ("accuracy", "mean_tokens", "accuracy_change", "token_change", "no_think_rate")
# The settings.json fields that say how a demo plan trains and evaluates every model: plans compared side by side
# (`load_seed_comparison`) must agree in all of them
SHARED_SETTINGS = (
    "task", "start_model", "steps", "prompts_per_step", "num_generations", "learning_rate", "beta",
    "max_completion_length", "eval_problems", "eval_k", "eval_temperature",
)  # fmt: skip
# The fields an averaged row keeps of its first seed's row: what the model is and how it was trained, and what it was
# evaluated on (the same in every seed's run); a seed's own measurements (truncation, modes, ...) are left out
KEPT_FIELDS = (
    "name",
    "dataset",
    "tier",
    "budget",
    "budget_mode",
    *UNTRAINED_FIELDS,
    "cutoff",
    "num_problems",
    "max_new_tokens",
)


def _across_seeds(values: Sequence[float | None]) -> tuple[float | None, float]:
    """The mean of `values` and its standard error (sample std / sqrt(n)); the error is nan for a single value. A
    missing value (None) makes the mean None."""
    n = len(values)
    if n == 0:
        raise ValueError("no values to average.")
    if any(value is None for value in values):
        return None, math.nan
    mean = sum(values) / n
    if n == 1:
        return mean, math.nan
    variance = sum((value - mean) ** 2 for value in values) / (n - 1)
    return mean, math.sqrt(variance / n)


def _run_settings(run_dir: Path) -> dict[str, Any]:
    path = run_dir / "settings.json"
    if not path.is_file():
        raise FileNotFoundError(
            f"no settings.json in {run_dir}: expected a run directory of a plan (efficient-trl demo or compare), "
            "whose settings say its seed."
        )
    return json.loads(path.read_text())


def _check_same_plan(settings: list[tuple[Path, dict[str, Any]]]) -> None:
    """Refuse runs whose settings differ in anything but their seed, naming the first field that differs, and runs
    of the same seed."""
    (first, reference), *others = settings
    for run_dir, record in others:
        for key in sorted(set(reference) | set(record)):
            if key in SEED_FIELDS or reference.get(key) == record.get(key):
                continue
            raise ValueError(
                f"the runs differ in {key!r}, not only in their seed: {first} has {reference.get(key)!r}, {run_dir} "
                f"has {record.get(key)!r}; pass run directories of one plan that differ only in `seed`."
            )
    seeds = [record.get("seed") for _, record in settings]
    if None in seeds or len(set(seeds)) != len(seeds):
        raise ValueError(
            f"each run needs its own seed in its settings.json, got {seeds} for {[str(path) for path, _ in settings]}."
        )


def load_seed_results(run_dirs: Sequence[str | Path], start: str = "start") -> list[dict[str, Any]]:
    """The rows of several run directories of one plan that differ only in `seed` (their settings.json agree in every
    other field, else a ValueError names the field), averaged over seeds: see the module docstring.

    One row per model and dataset (`tier` None), then one per model, dataset and tier for evaluations with tiers
    (`tier_rows`), in the order of the first seed's rows. Each row keeps the first seed's fields that say how the model
    was trained (`family`, `length_reward`, ...) and has `seeds` (how many seeds evaluated it), `per_seed` ({seed:
    {quantity: value}} for `SEED_QUANTITIES`) and per quantity its mean over seeds and `<quantity>_stderr` across
    seeds (nan for one seed). `start` names the starting model in each run (`load_results`); the changes are against
    the start of the same seed's run, on the same dataset and tier."""
    if not run_dirs:
        raise ValueError("no run directories given: pass one per seed.")
    paths = [Path(run_dir) for run_dir in run_dirs]
    settings = [(path, _run_settings(path)) for path in paths]
    _check_same_plan(settings)
    by_seed = {}
    for path, record in settings:
        rows = load_results(path, start=start)
        by_seed[record["seed"]] = [{**row, "tier": None} for row in rows] + tier_rows(rows)
    per_key: dict[tuple[Any, ...], dict[int, dict[str, Any]]] = {}
    for seed, rows in by_seed.items():
        # an evaluation at a token budget (budget forcing, or the budget in the prompt) is its own row, and its
        # changes are against the start evaluated the same way, at the same budget
        starts = {_place(row): row for row in rows if row["family"] == "start"}
        for row in rows:
            base = starts.get(_place(row))
            changes = {"accuracy_change": math.nan, "token_change": math.nan}
            if base is not None:
                changes = {
                    "accuracy_change": row["accuracy"] - base["accuracy"],
                    "token_change": row["mean_tokens"] / base["mean_tokens"] - 1 if base["mean_tokens"] else math.nan,
                }
            per_key.setdefault((row["name"], *_place(row)), {})[seed] = {**row, **changes}
    averaged = []
    for seeds in per_key.values():
        first = next(iter(seeds.values()))
        row = {key: first[key] for key in KEPT_FIELDS if key in first}
        row["per_seed"] = {seed: {key: figures[key] for key in SEED_QUANTITIES} for seed, figures in seeds.items()}
        row["seeds"] = len(seeds)
        for quantity in SEED_QUANTITIES:
            row[quantity], row[f"{quantity}_stderr"] = _across_seeds(
                [run[quantity] for run in row["per_seed"].values()]
            )
        averaged.append(row)
    return averaged


def _place(row: dict[str, Any]) -> tuple[Any, ...]:
    """Where a row was evaluated: its dataset and tier, and the token budget it was asked for (None: none)."""
    return row["dataset"], row.get("tier"), row.get("budget"), row.get("budget_mode")


def _find(
    rows: list[dict[str, Any]], name: str, dataset: str | None, tier: str | None, budget: int | None = None
) -> dict[str, Any]:
    found = [
        row
        for row in rows
        if row["name"] == name and row.get("tier") == tier and (dataset is None or row.get("dataset") == dataset)
        and row.get("budget") == budget
    ]  # fmt: skip
    if len(found) != 1:
        where = f" on dataset {dataset!r}" if dataset else ""
        where += f" at budget {budget}" if budget is not None else ""
        what = "no row" if not found else f"{len(found)} rows (pass `dataset`)"
        raise ValueError(f"{what} named {name!r}{where} at tier {tier!r} in the rows (names: "
                         f"{sorted({row['name'] for row in rows})}).")  # fmt: skip
    return found[0]


def seed_difference(
    rows: list[dict[str, Any]],
    model: str,
    other: str = "start",
    quantity: str = "accuracy",
    tier: str | None = None,
    dataset: str | None = None,
    budget: int | None = None,
) -> dict[str, Any]:
    """Whether the seeds resolve the difference `model` - `other` in `quantity` (a key of the rows' `per_seed`: of
    `load_seed_results`, `SEED_QUANTITIES`) on `tier` (None: the whole evaluation) of `dataset` (needed when the rows
    hold several), both evaluated at the token budget `budget` (None: without one).

    Returns {"difference": mean over seeds, "stderr": its standard error across seeds, "seeds": n, "per_seed":
    {seed: difference}, "verdict"}: "resolved" only when every seed gives the difference the same nonzero sign and
    |mean| > 2 standard errors, else "unresolved" (always so for a single seed, whose spread is unknown). Both models
    must have been run with the same seeds."""
    first, second = _find(rows, model, dataset, tier, budget), _find(rows, other, dataset, tier, budget)
    if set(first["per_seed"]) != set(second["per_seed"]):
        raise ValueError(
            f"{model!r} and {other!r} were run with other seeds ({sorted(first['per_seed'])} and "
            f"{sorted(second['per_seed'])}): a difference across seeds pairs each seed's two models."
        )
    per_seed = {
        seed: first["per_seed"][seed][quantity] - second["per_seed"][seed][quantity] for seed in first["per_seed"]
    }
    difference, stderr = _across_seeds(list(per_seed.values()))
    signs = {math.copysign(1, value) if value else 0 for value in per_seed.values()}
    agree = len(signs) == 1 and 0 not in signs
    resolved = agree and math.isfinite(stderr) and abs(difference) > 2 * stderr
    return {
        "difference": difference,
        "stderr": stderr,
        "seeds": len(per_seed),
        "per_seed": per_seed,
        "verdict": "resolved" if resolved else "unresolved",
    }


def _plus_minus(mean: float, stderr: float, scale: float, digits: int, unit: str = "", sign: bool = False) -> str:
    number = f"{scale * mean:+.{digits}f}" if sign else f"{scale * mean:.{digits}f}"
    spread = f" ± {scale * stderr:.{digits}f}" if math.isfinite(stderr) else ""
    return f"{number}{unit}{spread}"


def _changes(rows: list[dict[str, Any]], row: dict[str, Any], start: str) -> list[str]:
    """A row's accuracy change (points) and token change (%) against `start` evaluated where it was, each followed by
    "(unresolved)" where the seeds do not resolve it (`seed_difference`); empty cells for the start itself."""
    if row["name"] == start:
        return ["", ""]
    cells = []
    for quantity, change, unit in (("accuracy", "accuracy_change", " pts"), ("token_change", "token_change", "%")):
        text = _plus_minus(row[change], row[f"{change}_stderr"], 100, 1, unit, sign=True)
        verdict = seed_difference(
            rows, row["name"], start, quantity, row.get("tier"), row.get("dataset"), row.get("budget")
        )
        cells.append(text + (" (unresolved)" if verdict["verdict"] == "unresolved" else ""))
    return cells


def format_seed_table(rows: list[dict[str, Any]], start: str = "start") -> str:
    """`load_seed_results`' rows as a Markdown table: per model (and tier, when the rows have tiers) the accuracy and
    mean tokens as mean ± standard error across seeds (n seeds), and the change against `start` (accuracy in points,
    tokens in %), each followed by "(unresolved)" where the seeds do not resolve it (`seed_difference`). Rows
    evaluated at a token budget get a budget column, and their changes are against `start` at the same budget."""
    tiers = any(row.get("tier") is not None for row in rows)
    datasets = len({row.get("dataset") for row in rows}) > 1
    budgets = any(row.get("budget") is not None for row in rows)
    header = [
        "model",
        *(["dataset"] if datasets else []),
        *(["tier"] if tiers else []),
        *(["budget"] if budgets else []),
    ]
    header += ["accuracy", "mean tokens", f"accuracy vs {start}", f"tokens vs {start}", "seeds"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in rows:
        if tiers and row.get("tier") is None:
            continue  # the per-tier rows say it; the whole evaluation is their mix
        cells = [model_label(row), *([row["dataset"]] if datasets else []), *([row["tier"]] if tiers else [])]
        if budgets:
            cells.append("none" if row.get("budget") is None else f"{row['budget']} ({row.get('budget_mode')})")
        cells += [
            _plus_minus(row["accuracy"], row["accuracy_stderr"], 100, 1, "%"),
            _plus_minus(row["mean_tokens"], row["mean_tokens_stderr"], 1, 1),
        ]
        cells += _changes(rows, row, start)
        cells.append(str(row["seeds"]))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def compare_methods(rows: list[dict[str, Any]]) -> dict[str, list[str]]:
    """The methods of a comparison's rows and each one's models, by name: a reward under the common setting
    ('kimi'; the sigmoid's control 'no length penalty', its ablation 'sigmoid, group-normalized') or as its authors
    trained it ('kimi (as published)'); the starting model is none."""
    methods: dict[str, list[str]] = {}
    for row in rows:
        if row["family"] == "start" or row.get("tier") is not None or row.get("budget") is not None:
            continue  # a model is named once: its whole evaluation without a token budget
        reward = (row.get("length_reward") or {}).get("name", "sigmoid")
        published = row["name"].endswith("@published")
        normalization = row.get("advantage_normalization") or "none"
        if reward == "sigmoid" and not row.get("alpha"):
            method = "no length penalty"
        elif not published and normalization != "none":
            method = f"{reward}, {normalization}-normalized"
        else:
            method = reward
        methods.setdefault(method + (" (as published)" if published else ""), []).append(row["name"])
    return methods


def token_savings(
    rows: list[dict[str, Any]], methods: dict[str, list[str]], max_accuracy_loss: float = 0.01
) -> list[dict[str, Any]]:
    """Per method (a name and the models trained with it, e.g. one reward's settings) and per dataset and tier of
    `load_seed_results`' rows: the largest token saving against the start (-token_change, a fraction) among the
    method's models that lose at most `max_accuracy_loss` of accuracy (0.01: one point) against the start, chosen
    for each seed on that seed's own figures, and 0 on a seed where none qualifies (keeping the start saves nothing).

    Returns rows {"name": method, "dataset", "tier", "token_saving" (mean over seeds), "token_saving_stderr",
    "seeds", "per_seed": {seed: {"token_saving", "setting": the model chosen, None for none}}}, which
    `seed_difference(..., quantity="token_saving")` compares. Choosing per seed is the best a seed's user could pick
    after the fact: optimistic alike for methods with as many settings. Rows evaluated at a token budget are left
    out."""
    rows = [row for row in rows if row.get("budget") is None]  # a setting's saving is its own, without a budget
    places = list(dict.fromkeys((row["dataset"], row.get("tier")) for row in rows))
    saved = []
    for method, names in methods.items():
        for dataset, tier in places:
            models = [
                row for row in rows if row["name"] in names and (row["dataset"], row.get("tier")) == (dataset, tier)
            ]
            if not models:
                continue
            seeds = sorted(set().union(*(row["per_seed"] for row in models)))
            per_seed = {}
            for seed in seeds:
                # a tolerance of float noise: 0.70 - 0.71 is not quite -0.01
                floor = -max_accuracy_loss - 1e-9
                kept = [
                    (-row["per_seed"][seed]["token_change"], row["name"])
                    for row in models
                    if seed in row["per_seed"] and row["per_seed"][seed]["accuracy_change"] >= floor
                ]
                best = max(kept, default=(0.0, None))
                per_seed[seed] = {"token_saving": max(best[0], 0.0), "setting": best[1] if best[0] > 0 else None}
            mean, stderr = _across_seeds([figures["token_saving"] for figures in per_seed.values()])
            saved.append({
                "name": method, "dataset": dataset, "tier": tier, "token_saving": mean, "token_saving_stderr": stderr,
                "seeds": len(per_seed), "per_seed": per_seed,
            })  # fmt: skip
    return saved


def format_savings_ranking(savings: list[dict[str, Any]], max_accuracy_loss: float = 0.01) -> str:
    """`token_savings`' rows as a Markdown ranking per dataset and tier: the methods by mean saving, each with its
    mean ± standard error across seeds (n seeds), the setting each seed chose, and whether the seeds resolve its
    lead over the next method (`seed_difference` on the saving: "unresolved" where they disagree or the lead is
    within two standard errors)."""
    points = f"{100 * max_accuracy_loss:g} point" + ("" if max_accuracy_loss == 0.01 else "s")
    sections = []
    for dataset, tier in dict.fromkeys((row["dataset"], row.get("tier")) for row in savings):
        ranked = sorted(
            [row for row in savings if (row["dataset"], row.get("tier")) == (dataset, tier)],
            key=lambda row: -row["token_saving"],
        )
        where = f"{dataset}, tier {tier}" if tier is not None else dataset
        lines = [
            f"**{where}**: tokens saved against the start at no more than {points} of accuracy lost",
            "",
            "| rank | method | tokens saved | over the next | setting chosen per seed |",
            "|---|---|---|---|---|",
        ]
        for rank, (row, below) in enumerate(zip(ranked, [*ranked[1:], None], strict=True), 1):
            saving = _plus_minus(row["token_saving"], row["token_saving_stderr"], 100, 1, "%")
            lead = ""
            if below is not None:
                verdict = seed_difference(ranked, row["name"], below["name"], "token_saving", tier, dataset)
                lead = f"{verdict['verdict']} ({100 * verdict['difference']:+.1f} pts)"
            chosen = ", ".join(
                f"{figures['setting'] or 'none'} (seed {seed})" for seed, figures in sorted(row["per_seed"].items())
            )
            seeds = f"{row['seeds']} seed" + ("s" if row["seeds"] != 1 else "")
            lines.append(f"| {rank} | {row['name']} | {saving} ({seeds}) | {lead} | {chosen} |")
        sections.append("\n".join(lines))
    return "\n\n".join(sections)


# How a method is told from another of the same reward: its line style in the Pareto plots, its bars' hatching
METHOD_LOOKS = {"common": ("-", None), "normalized": (":", "xx"), "published": ("--", "//")}
NO_PENALTY_COLOR = "#7f7f7f"  # the control (RL on correctness alone): no reward's colour


def _method_styles(rows: list[dict[str, Any]], methods: dict[str, list[str]]) -> dict[str, dict[str, Any]]:
    """Each method's `color` (its reward's, `comparison_styles`; grey for the no-penalty control), `linestyle` and
    `hatch` (`METHOD_LOOKS`: as published dashed and hatched //, an advantage-normalized variant dotted and xx)."""
    styles = comparison_styles(rows)
    looks = {}
    for method, names in methods.items():
        models = [row for row in rows if row["name"] in names]
        look = "published" if any(name.endswith("@published") for name in names) else "common"
        if look == "common" and any((row.get("advantage_normalization") or "none") != "none" for row in models):
            look = "normalized"
        no_penalty = all(styles.get(name, {}).get("strength") == "no length penalty" for name in names)
        color = NO_PENALTY_COLOR if no_penalty else styles[names[0]]["color"] if names[0] in styles else "#555555"
        linestyle, hatch = METHOD_LOOKS[look]
        looks[method] = {"color": color, "linestyle": linestyle, "hatch": hatch}
    return looks


def plot_seed_pareto(
    rows: list[dict[str, Any]],
    methods: dict[str, list[str]],
    path: str | Path | None = None,
    title: str = "Accuracy against tokens, mean over seeds",
    start: str = "start",
) -> Any:
    """Per tier (one panel of the whole evaluation when the rows have no tiers), accuracy against mean tokens of
    `load_seed_results`' rows, mean ± standard error across seeds on both axes, each method's models joined as the
    method's own Pareto frontier (`pareto_frontier` of its models) in its reward's colour (dashed: as published); the
    starting model is a black star. One dataset."""
    from matplotlib.lines import Line2D

    from .plots import _cap_accuracy, _decorate, _figure, _finish

    tiers = list(dict.fromkeys(row["tier"] for row in rows if row.get("tier") is not None)) or [None]
    figure, panels = _figure(len(tiers), title)
    looks = _method_styles(rows, methods)
    styles = comparison_styles(rows)
    handles: dict[str, Any] = {}
    for axes, tier in zip(panels, tiers, strict=True):
        on_tier = [row for row in rows if row.get("tier") == tier]
        for row in on_tier:
            if row["name"] == start:
                _seed_point(axes, row, color="black", fmt="*", markersize=12, zorder=4)
                handles[start] = Line2D([], [], linestyle="none", marker="*", color="black", markersize=10)
        for method, names in methods.items():
            models = [row for row in on_tier if row["name"] in names]
            if not models:
                continue
            color, linestyle = looks[method]["color"], looks[method]["linestyle"]
            frontier = pareto_frontier(models)
            axes.plot([row["mean_tokens"] for row in frontier], [100 * row["accuracy"] for row in frontier],
                      color=color, linestyle=linestyle, linewidth=1.2, zorder=2)  # fmt: skip
            for row in models:
                _seed_point(axes, row, color=color, fmt=styles[row["name"]]["marker"], markersize=7, zorder=3,
                            markerfacecolor="white" if styles[row["name"]]["hollow"] else color)  # fmt: skip
            handles[method] = Line2D([], [], color=color, linestyle=linestyle, marker="o", markersize=5)
        _decorate(axes, "mean completion tokens", "accuracy (%)", title=tier or "all problems")
        axes.margins(x=0.1, y=0.1)
        _cap_accuracy(axes)
    return _finish(figure, path, handles)


def _seed_point(axes: Any, row: dict[str, Any], **style: Any) -> None:
    """A model's mean accuracy (%) at its mean tokens, with error bars of one standard error across seeds (none for
    one seed)."""

    from .plots import _marker_style

    def error(value: float) -> float | None:
        return value if math.isfinite(value) else None

    axes.errorbar(row["mean_tokens"], 100 * row["accuracy"], xerr=error(row["mean_tokens_stderr"]),
                  yerr=error(100 * row["accuracy_stderr"]), capsize=2, **_marker_style(style))  # fmt: skip


def _seed_bar(
    axes: Any, place: int, slot: int, slots: int, row: dict[str, Any], quantity: str, gid: str, **style: Any
) -> None:
    """Bar `slot` of `slots` in the group of bars at tick `place`: the row's mean `quantity` (a share, drawn in %)
    with an error bar of one standard error across seeds (none for one seed), and each seed's own value (the row's
    per_seed) as a black dot on it. The bar's gid is `gid` and its dots' `gid|seeds`, so that readers of the figure
    tell which is which."""
    width = 0.8 / max(slots, 1)
    x = place - 0.4 + width * (slot + 0.5)
    stderr = row[f"{quantity}_stderr"]
    axes.bar(x, 100 * row[quantity], width, edgecolor="white", capsize=2, gid=gid,
             yerr=100 * stderr if math.isfinite(stderr) else None, **style)  # fmt: skip
    values = [100 * figures[quantity] for figures in row["per_seed"].values()]
    axes.plot([x] * len(values), values, linestyle="none", marker="o", color="black", markersize=3,
              markeredgecolor="white", gid=f"{gid}|seeds")  # fmt: skip


def _tier_axis(axes: Any, places: list[str | None], label: str) -> None:
    """The tier axis of a panel of `_seed_bar` groups: a tick per tier (or the whole evaluation), the zero line and
    `label` on the value axis."""
    from .plots import _decorate

    axes.set_xticks(range(len(places)), [tier or "all problems" for tier in places])
    axes.axhline(0, color="#555555", linewidth=1)
    _decorate(axes, "tier", label)


def plot_token_savings(
    savings: list[dict[str, Any]],
    rows: list[dict[str, Any]],
    methods: dict[str, list[str]],
    path: str | Path | None = None,
    title: str = "Tokens saved at no more than 1 point of accuracy lost",
) -> Any:
    """`token_savings`' rows as bars (%) with error bars of one standard error across seeds: one group of bars per
    tier (or the whole evaluation), one bar per method in its reward's colour (grey: the no-penalty control; hatched
    // as published, xx an advantage-normalized variant: `METHOD_LOOKS`), each seed's own saving a small dot on its
    bar. `rows` and `methods` are those `token_savings` took (for the colours)."""
    from matplotlib.patches import Patch

    from .plots import _figure, _finish

    figure, (axes,) = _figure(1, title)
    looks = _method_styles(rows, methods)
    places = list(dict.fromkeys(row.get("tier") for row in savings))
    shown = [method for method in methods if any(row["name"] == method for row in savings)]
    for index, method in enumerate(shown):
        color, hatch = looks[method]["color"], looks[method]["hatch"]
        for position, tier in enumerate(places):
            found = [row for row in savings if row["name"] == method and row.get("tier") == tier]
            if not found:
                continue  # a method with no model evaluated on this tier
            (row,) = found
            _seed_bar(axes, position, index, len(shown), row, "token_saving", f"{method}|{tier}", color=color,
                      hatch=hatch, label=method)  # fmt: skip
    _tier_axis(axes, places, "tokens saved against the start (%), mean ± SE over seeds")
    handles = {
        method: Patch(facecolor=looks[method]["color"], hatch=looks[method]["hatch"], edgecolor="white")
        for method in shown
    }  # fmt: skip
    return _finish(figure, path, handles)


def load_seed_comparison(plans: Sequence[Sequence[str | Path]], start: str = "start") -> list[dict[str, Any]]:
    """The rows of several plans run with the same seeds (each a list of run directories, one per seed, of an
    `efficient-trl demo` plan), read by `load_seed_results` and put side by side: the first plan's rows, then each
    other plan's models but its start. For example the alpha family of `make ablation-graded` beside the adapt_think
    model of `make adapt-graded`.

    Refused (ValueError naming the difference) unless the plans train and evaluate alike: the same `SHARED_SETTINGS`
    in every settings.json (the starting model's fingerprint included), the same seeds, and the same figures of the
    starting model on every seed and tier (the same model, problems and sampling give the same samples). A model
    name in two plans is refused too."""
    if not plans or any(not runs for runs in plans):
        raise ValueError("pass one or more plans, each a non-empty list of run directories (one per seed).")
    settings = [[_run_settings(Path(run)) for run in runs] for runs in plans]
    reference = settings[0][0]
    for runs, records in zip(plans, settings, strict=True):
        for run, record in zip(runs, records, strict=True):
            for key in SHARED_SETTINGS:
                if key not in record or record[key] != reference.get(key):
                    raise ValueError(
                        f"{run} has {key}={record.get(key)!r}, {plans[0][0]} has {reference.get(key)!r}: the plans "
                        "compared must train and evaluate every model alike (SHARED_SETTINGS)."
                    )
    seeds = [sorted(record.get("seed") for record in records) for records in settings]
    if any(found != seeds[0] for found in seeds):
        raise ValueError(f"the plans were run with other seeds ({seeds}): pass the same seeds of every plan.")
    loaded = [load_seed_results(runs, start=start) for runs in plans]
    starts = [{row.get("tier"): row for row in rows if row["name"] == start} for rows in loaded]
    for runs, found in zip(plans[1:], starts[1:], strict=True):
        for tier, row in starts[0].items():
            other = found.get(tier)
            same = other is not None and all(
                other["per_seed"][seed][key] == figures[key]
                for seed, figures in row["per_seed"].items()
                for key in ("accuracy", "mean_tokens")
            )
            if not same:
                raise ValueError(
                    f"the starting model {start!r} of {list(map(str, runs))} has other figures than in "
                    f"{list(map(str, plans[0]))} at tier {tier!r}: evaluated otherwise, the plans do not compare."
                )
    merged = list(loaded[0])
    for rows in loaded[1:]:
        names = {row["name"] for row in merged}
        clash = sorted({row["name"] for row in rows if row["name"] != start} & names)
        if clash:
            raise ValueError(f"models {clash} are in two plans: compare plans that train different models.")
        merged += [row for row in rows if row["name"] != start]
    return merged


def _chosen(rows: list[dict[str, Any]], models: Sequence[str] | None, start: str) -> list[str]:
    """The models to show, in order: `models` (each checked to have rows), else every model with the start first."""
    names = list(dict.fromkeys(row["name"] for row in rows))
    if models is None:
        return sorted(names, key=lambda name: name != start)
    missing = [name for name in models if name not in names]
    if missing:
        raise ValueError(f"no rows of models {missing} (the rows have {names}).")
    return list(models)


def _places(rows: list[dict[str, Any]]) -> list[str | None]:
    """The tiers of the rows in order, or [None] (the whole evaluation) when they have none."""
    return list(dict.fromkeys(row["tier"] for row in rows if row.get("tier") is not None)) or [None]


def format_tier_comparison(
    rows: list[dict[str, Any]], models: Sequence[str] | None = None, start: str = "start"
) -> str:
    """One Markdown table per tier (the whole evaluation when the rows have no tiers) of `load_seed_results` or
    `load_seed_comparison` rows: per model of `models` (default: all, the start first) its accuracy, its accuracy
    against `start` (points), mean tokens, tokens against `start` (%) and the share of answers given without thinking,
    each mean ± standard error across seeds, the changes followed by "(unresolved)" where the seeds do not resolve
    them (`seed_difference`). One dataset."""
    names = _chosen(rows, models, start)
    sections = []
    for tier in _places(rows):
        lines = [
            f"**{tier or 'all problems'}**",
            "",
            f"| model | accuracy | accuracy vs {start} | mean tokens | tokens vs {start} | no thinking | seeds |",
            "|---|---|---|---|---|---|---|",
        ]
        labels = {row["name"]: model_label(row) for row in rows}
        for name in names:
            row = _find(rows, name, None, tier)
            changes = _changes(rows, row, start)
            share = row.get("no_think_rate")
            no_think = "" if share is None else _plus_minus(share, row["no_think_rate_stderr"], 100, 1, "%")
            cells = [
                labels[name], _plus_minus(row["accuracy"], row["accuracy_stderr"], 100, 1, "%"), changes[0],
                _plus_minus(row["mean_tokens"], row["mean_tokens_stderr"], 1, 1), changes[1], no_think,
                str(row["seeds"]),
            ]  # fmt: skip
            lines.append("| " + " | ".join(cells) + " |")
        sections.append("\n".join(lines))
    return "\n\n".join(sections)


# The panels of `plot_tier_comparison`: the quantity of the rows' per_seed, its axis label, whether the start is drawn
TIER_COMPARISON_PANELS = (
    ("token_change", "tokens vs the start (%)", False),
    ("no_think_rate", "answers without thinking (%)", True),
)


def plot_tier_comparison(
    rows: list[dict[str, Any]],
    models: Sequence[str] | None = None,
    path: str | Path | None = None,
    title: str = "Per tier: tokens cut and answers without thinking, mean over seeds",
    start: str = "start",
) -> Any:
    """Two panels of `load_seed_results` or `load_seed_comparison` rows, one group of bars per tier (or the whole
    evaluation): the change in tokens against `start` (%) and the share of answers given without thinking (%, the
    start's too), one bar per model of `models` (default: all, the start first) in its colour, with an error bar of
    one standard error across seeds and each seed's own value as a black dot on its bar. A bar's gid is
    '<quantity>|<model>|<tier>', its dots' line '<quantity>|<model>|<tier>|seeds', for readers of the figure."""
    from matplotlib.patches import Patch

    from .plots import _figure, _finish
    from .styles import model_style

    names = _chosen(rows, models, start)
    places = _places(rows)
    figure, panels = _figure(len(TIER_COMPARISON_PANELS), title)
    labels = {row["name"]: model_label(row) for row in rows}
    colors: dict[str, str] = {}
    for axes, (quantity, label, with_start) in zip(panels, TIER_COMPARISON_PANELS, strict=True):
        shown = [name for name in names if with_start or name != start]
        for index, name in enumerate(shown):
            for position, tier in enumerate(places):
                row = _find(rows, name, None, tier)
                if row[quantity] is None:
                    continue  # a summary without the quantity (no_think_rate before it was recorded)
                color = model_style(row)["color"]
                _seed_bar(axes, position, index, len(shown), row, quantity, f"{quantity}|{name}|{tier}",
                          color=color)  # fmt: skip
                colors[name] = color
        _tier_axis(axes, places, f"{label}, mean ± SE over seeds")
    handles = {labels[name]: Patch(facecolor=colors[name], edgecolor="white") for name in names if name in colors}
    return _finish(figure, path, handles)
