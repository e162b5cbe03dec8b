"""efficient_trl.analysis.styles: a model looks and is labelled as its provenance says, the same in every figure."""

from efficient_trl.analysis import model_label, model_style
from efficient_trl.analysis.styles import NORMALIZATION_STYLES
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
