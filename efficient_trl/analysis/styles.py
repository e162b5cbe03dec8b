"""How a model looks in every figure: its colour, line style and marker (`model_style`) and its label
(`model_label`), both from its row's fields (its provenance), never from its name, so that a model looks the same in
every figure and notebook."""

from __future__ import annotations

import math
import zlib
from typing import Any

from ..length_rewards import length_reward_parameters
from .results import REWARD_FAMILIES

__all__ = [
    "BASELINE_STYLES",
    "LENGTH_REWARD_STYLES",
    "NORMALIZATION_STYLES",
    "REWARD_STRENGTHS",
    "STRENGTH_MARKERS",
    "comparison_styles",
    "model_label",
    "model_style",
]

# How models look in every figure (`model_style`): colour is alpha (one colour map), line style and marker are the
# advantage normalization; the baselines and starting models have colours and markers no alpha point uses.
NORMALIZATION_STYLES = {"none": ("-", "o"), "group": ("--", "X"), "batch": (":", "D"), "batch_token": ("-.", "H")}
BASELINE_STYLES = {"sft": ("#2ca02c", "^"), "dpo": ("#17becf", "v"), "cutoff": ("#808080", "s")}
OTHER_MODEL_COLORS = ("#000000", "#8c564b", "#bcbd22", "#e377c2", "#7f7f7f")  # the demo's "start" is black
ALPHA_COLOR_SPAN = 0.5  # alphas from 0 to this get distinct colours; larger ones get the last
LORA_MARKER = "P"  # a LoRA adapter at some alpha: that alpha's colour, its own marker
ROLLOUT_BUDGET_MARKER = ">"  # trained with budget-constrained rollouts (one thinking budget): its alpha's colour
# Models of the other length rewards: a colour and marker per reward (its settings told apart by their labels), none
# of them used by the alpha colour map's ends, the normalizations, the baselines or the other models
LENGTH_REWARD_STYLES = {
    "kimi": ("#1f77b4", "p"),
    "shorterbetter": ("#d62728", "h"),
    "grpo_lead": ("#393b79", "<"),
    "alp": ("#637939", "d"),
    "l1_exact": ("#e7969c", ">"),
    "l1_max": ("#843c39", "8"),
    "adapt_think": ("#9467bd", "$A$"),  # every filled marker is taken: the letter A
}
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
        marker = ROLLOUT_BUDGET_MARKER if _rollout_thinking_budget(row) is not None else marker
        reward = (row.get("length_reward") or {}).get("name", "sigmoid")
        colormap = LENGTH_REWARD_COLORMAPS.get(reward, LENGTH_REWARD_COLORMAPS[None])
        position = 0.85 * math.sqrt(min(float(row["alpha"]) / ALPHA_COLOR_SPAN, 1.0))  # 0.85: no pale yellow
        color = matplotlib.colors.to_hex(matplotlib.colormaps[colormap](position))
        return {"color": color, "linestyle": linestyle, "marker": marker}
    if family in BASELINE_STYLES or family in LENGTH_REWARD_STYLES:
        color, marker = {**BASELINE_STYLES, **LENGTH_REWARD_STYLES}[family]
        return {"color": color, "linestyle": "-", "marker": marker}
    color = OTHER_MODEL_COLORS[0 if family == "start" else zlib.crc32(name.encode()) % len(OTHER_MODEL_COLORS)]
    return {"color": color, "linestyle": "-", "marker": "*"}


def _rollout_thinking_budget(row: dict[str, Any]) -> int | None:
    """The one thinking budget a model's training rollouts were kept within (provenance's rollout_budget), if any."""
    return ((row.get("provenance") or {}).get("rollout_budget") or {}).get("thinking_budget")


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
        budget = _rollout_thinking_budget(row)
        details += [f"rollouts within {budget} thinking tokens"] if budget is not None else []
        prefix = "" if reward == "sigmoid" else f"{reward} "
        return ", ".join([f"{prefix}alpha={row['alpha']:g}", *details])
    if family in REWARD_FAMILIES:
        params = {key: value for key, value in (row.get("length_reward") or {}).items() if key not in ("name", "eps")}
        if params.get("measure") == "completion":
            del params["measure"]
        shown = ", ".join(
            f"{key}={value:g}" if isinstance(value, (int, float)) else f"{key}={value}"
            for key, value in params.items()
        )
        # the normalization too, so that a reward trained as its authors did (verl's group normalization) and under the
        # common setting (none) are told apart in tables over seeds, which have no "(as published)" mark
        normalization = row.get("advantage_normalization") or "none"
        normalized = f", {normalization}-normalized" if normalization != "none" else ""
        rollouts = ", rollouts within the budget" if (row.get("provenance") or {}).get("rollout_budget") else ""
        return f"{family} {shown}".strip() + normalized + rollouts
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


# The comparison of length rewards (`comparison_styles`, the Pareto plot): colour is the reward, marker the setting's
# strength. Each reward's strength parameter, its default (None: the registry's) and the way it grows stronger.
REWARD_STRENGTHS = {
    "sigmoid": ("alpha", 0.2, 1),  # the paper's and the demo's alpha
    "kimi": ("weight", None, 1),
    "shorterbetter": ("length_weight", None, 1),
    "grpo_lead": ("alpha", None, 1),
    "alp": ("normalizer", None, -1),  # the penalty per token is beta / normalizer
}
SIGMOID_COLOR = "#9467bd"  # the paper's reward in the comparison: a colour no other reward or baseline uses
# The strengths a legend names, in its order, with their markers (the starting model's star is none of them)
STRENGTH_MARKERS = {
    "no length penalty": "s",
    "weaker": "v",
    "default": "o",
    "stronger": "^",
    "stronger still": "D",
    "strongest": "p",
}


def _strength(reward: str, value: float | None, values: list[float]) -> str:
    """A setting's strength against its reward's default; `values`: the reward's settings on the plot, so that the
    second and third stronger settings have their own names."""
    parameter, default, sign = REWARD_STRENGTHS[reward]
    default = length_reward_parameters(reward)[parameter] if default is None else default
    if value is None or value == default:
        return "default"
    if sign > 0 and value == 0:
        return "no length penalty"
    if sign * (value - default) < 0:
        return "weaker"
    stronger = sorted({other for other in values if sign * (other - default) > 0}, key=lambda other: sign * other)
    names = ("stronger", "stronger still", "strongest")
    return names[min(stronger.index(value), len(names) - 1)]


def comparison_styles(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """How each row looks in the comparison of length rewards, by name: `color` is its reward (the paper's sigmoid
    one colour whatever its alpha), `marker` its setting's `strength` against the reward's default
    (`REWARD_STRENGTHS`: "default", "stronger", "stronger still" in order of strength among the rows, "weaker", or
    "no length penalty"), `hollow` when its advantages were normalized; `reward` names the reward. A model of no
    length reward (the starting model, ...) keeps `model_style`'s look, with `reward` and `strength` None."""

    def reward_of(row: dict[str, Any]) -> str | None:
        if row.get("family") not in ("alpha", *REWARD_FAMILIES):
            return None
        return (row.get("length_reward") or {}).get("name", "sigmoid")

    def value_of(row: dict[str, Any]) -> float | None:
        if row["family"] == "alpha":
            return row.get("alpha")
        return (row.get("length_reward") or {}).get(REWARD_STRENGTHS[reward_of(row)][0])

    values: dict[str, list[float]] = {}
    for row in rows:
        if reward_of(row) in REWARD_STRENGTHS and value_of(row) is not None:
            values.setdefault(reward_of(row), []).append(value_of(row))
    styles = {}
    for row in rows:
        reward = reward_of(row)
        if reward is None:
            styles[row["name"]] = {**model_style(row), "hollow": False, "reward": None, "strength": None}
            continue
        if reward in REWARD_STRENGTHS:
            strength = _strength(reward, value_of(row), values.get(reward, []))
        else:
            strength = "default"  # a reward with no strength parameter here (l1_exact, l1_max: budgets)
        color = SIGMOID_COLOR if reward == "sigmoid" else LENGTH_REWARD_STYLES.get(reward, ("#7f7f7f",))[0]
        normalized = (row.get("advantage_normalization") or "none") != "none"
        styles[row["name"]] = {
            "color": color, "linestyle": "-", "marker": STRENGTH_MARKERS[strength], "hollow": normalized,
            "reward": reward, "strength": strength,
        }  # fmt: skip
    return styles
