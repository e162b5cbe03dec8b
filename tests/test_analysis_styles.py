"""efficient_trl.analysis.styles: a model looks and is labelled as its provenance says, the same in every figure."""

from efficient_trl.analysis import model_label, model_style
from efficient_trl.analysis.styles import NORMALIZATION_STYLES, STRENGTH_MARKERS, comparison_styles
from efficient_trl.rewards import ADVANTAGE_NORMALIZATIONS


def test_a_lora_adapter_has_its_alphas_colour_and_a_marker_of_its_own():
    # what tells an adapter apart is its provenance's `lora`, whatever the directory is called
    row = {"dataset": "d", "family": "alpha", "advantage_normalization": "none", "lora": False}
    full = {**row, "name": "alpha_0.2", "alpha": 0.2}
    adapter = {**row, "name": "adapter", "alpha": 0.2, "lora": True}
    named_lora = {**row, "name": "alpha_0.2_lora", "alpha": 0.2}  # a full model, whatever its name
    assert model_style(adapter)["color"] == model_style(full)["color"]
    assert model_style(adapter)["marker"] != model_style(full)["marker"] == model_style(named_lora)["marker"] == "o"
    assert model_label(adapter) == "alpha=0.2, LoRA"


def test_every_advantage_normalization_has_a_line_style_and_marker_of_its_own():
    assert set(NORMALIZATION_STYLES) == set(ADVANTAGE_NORMALIZATIONS)
    assert len(set(NORMALIZATION_STYLES.values())) == len(NORMALIZATION_STYLES)
    looks = {
        normalization: model_style({"family": "alpha", "alpha": 0.2, "advantage_normalization": normalization})
        for normalization in ADVANTAGE_NORMALIZATIONS
    }
    assert len({(look["linestyle"], look["marker"]) for look in looks.values()}) == len(ADVANTAGE_NORMALIZATIONS)
    assert len({look["color"] for look in looks.values()}) == 1  # colour is alpha
    assert model_label({"family": "alpha", "alpha": 0.2, "advantage_normalization": "group"}) == (
        "alpha=0.2, group-normalized"
    )


def test_the_comparison_styles_colour_by_reward_and_mark_by_strength_against_its_default():
    def row(name, reward, normalization="none", **params):
        family = "alpha" if reward == "sigmoid" else reward
        alpha = params.get("alpha") if reward == "sigmoid" else None
        return {"name": name, "family": family, "alpha": alpha, "length_reward": {"name": reward, **params},
                "advantage_normalization": normalization}  # fmt: skip

    rows = [
        {"name": "start", "family": "start"},
        row("a0", "sigmoid", alpha=0.0),
        row("a02", "sigmoid", alpha=0.2),
        row("a04", "sigmoid", alpha=0.4),
        row("a08", "sigmoid", alpha=0.8),
        row("a01", "sigmoid", alpha=0.1),
        row("a02g", "sigmoid", alpha=0.2, normalization="group"),
        row("alp_default", "alp", normalizer=16384.0),
        row("alp_200", "alp", normalizer=200.0),  # a smaller normalizer penalizes each token more
        row("kimi_half", "kimi", weight=0.5),
    ]
    styles = comparison_styles(rows)
    assert {name: style["strength"] for name, style in styles.items()} == {
        "start": None, "a0": "no length penalty", "a02": "default", "a04": "stronger", "a08": "stronger still",
        "a01": "weaker", "a02g": "default", "alp_default": "default", "alp_200": "stronger", "kimi_half": "weaker",
    }  # fmt: skip
    assert {name: style["marker"] for name, style in styles.items() if style["strength"]} == {
        name: STRENGTH_MARKERS[style["strength"]] for name, style in styles.items() if style["strength"]
    }
    assert len({styles[name]["color"] for name in ("a0", "a02", "a04", "a08", "a01", "a02g")}) == 1
    assert len({styles[name]["color"] for name in ("a02", "alp_200", "kimi_half", "start")}) == 4
    assert [name for name, style in styles.items() if style["hollow"]] == ["a02g"]
    assert styles["start"]["marker"] == "*" and "*" not in STRENGTH_MARKERS.values()
