"""How a model looks in every figure: its colour, line style and marker (`model_style`) and its label
(`model_label`), both from its row's fields (its provenance), never from its name, so that a model looks the same in
every figure and notebook."""

from __future__ import annotations

import math
import zlib
from typing import Any

from .results import REWARD_FAMILIES

__all__ = ["BASELINE_STYLES", "LENGTH_REWARD_STYLES", "NORMALIZATION_STYLES", "model_label", "model_style"]

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
    "kimi": ("#1f77b4", "p"),
    "shorterbetter": ("#d62728", "h"),
    "grpo_lead": ("#393b79", "<"),
    "alp": ("#637939", "d"),
    "l1_exact": ("#e7969c", ">"),
    "l1_max": ("#843c39", "8"),
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
        shown = ", ".join(
            f"{key}={value:g}" if isinstance(value, (int, float)) else f"{key}={value}"
            for key, value in params.items()
        )
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
