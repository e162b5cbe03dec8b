"""AdaptThink on the graded testbed (issue 27 item 3): the demo's adapt_think model (the start model's accuracy on the
training prompts, then RL with the adapt_think reward and forced no-thinking rollouts), its run directory, and the
per-tier comparison with the alpha family across seeds (efficient_trl.analysis.seeds: load_seed_comparison,
format_tier_comparison, plot_tier_comparison), checked against the runs' summaries."""

import json
import math
import re
import shutil
import statistics
from dataclasses import asdict
from pathlib import Path

import pytest

from efficient_trl.analysis import (
    format_tier_comparison,
    load_seed_comparison,
    load_training_log,
    plot_tier_comparison,
    seed_difference,
)
from efficient_trl.evaluation import load_samples
from efficient_trl.experiments.demo import METHODS, DemoSettings, run_demo
from efficient_trl.experiments.engine import adapt_think_spec, alpha_spec, rl_config

ROOT = Path(__file__).resolve().parents[1]
ADAPT = "adapt_think,delta=0.05"
TIERS = ("easy", "medium", "hard")


def test_the_adapt_think_spec_trains_as_the_recipes_do(tmp_path):
    # recipes/deepseek-r1-distill-qwen-*/adapt_think.yaml: delta 0.05, half the rollouts forced, a ratio per completion
    config = rl_config(adapt_think_spec(), DemoSettings(methods=["adapt_think"]), tmp_path)
    assert config.length_reward == "adapt_think" and config.length_reward_kwargs == {"delta": 0.05}
    assert (config.forced_no_think_share, config.importance_sampling_level) == (0.5, "sequence")
    # the alpha models' config is what it was: neither field set
    alpha = rl_config(alpha_spec(0.2), DemoSettings(), tmp_path)
    assert (alpha.forced_no_think_share, alpha.importance_sampling_level) == (0.0, "token")


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"methods": ["adapt"]}, r"methods must be a non-empty list of distinct names of \['alpha', 'adapt_think'\]"),
        ({"methods": ["adapt_think", "adapt_think"]}, "methods must be a non-empty list of distinct names"),
        ({"forced_no_think_share": 0.0}, r"forced_no_think_share must be in \(0, 1\)"),
        ({"adapt_think_delta": -0.1}, r"adapt_think_delta must be in \[0, 1\]"),
        ({"start_accuracy_samples": 0}, "start_accuracy_samples must be >= 1"),
    ],
)
def test_bad_adapt_think_settings_are_refused_before_anything_is_created(fields, message, tmp_path):
    with pytest.raises(ValueError, match=message):
        run_demo(tmp_path / "run", DemoSettings(**fields))
    assert not (tmp_path / "run").exists()


def test_the_demo_trains_adapt_think_on_prompts_with_the_start_accuracy(adapt_seed_runs):
    runs, settings = adapt_seed_runs
    run_dir, chosen = runs["adapt_think"][0], settings["adapt_think", 0]
    # only what is new: the adapt_think model and the start, evaluated like every model
    assert sorted(path.name for path in (run_dir / "eval").iterdir()) == ["adapt_think_delta_0.05", "start"]
    samples = load_samples(run_dir / "start_accuracy")
    prompts = chosen.steps * chosen.prompts_per_step
    assert len(samples) == prompts * chosen.start_accuracy_samples  # K samples of every training prompt
    sampled = json.loads((run_dir / "start_accuracy" / "settings.json").read_text())
    assert (sampled["k"], sampled["temperature"], sampled["max_new_tokens"]) == (2, 0.6, 120)
    per_prompt = [
        statistics.mean(s.correct and not s.truncated for s in samples if s.problem_index == index)
        for index in range(prompts)
    ]
    report = json.loads((run_dir / "start_accuracy_report.json").read_text())
    assert report["mean_start_accuracy"] == pytest.approx(statistics.mean(per_prompt))
    assert report["problems_always_solved"] == sum(value == 1 for value in per_prompt)
    model = run_dir / "adapt_think_delta_0.05"
    provenance = json.loads((model / "provenance.json").read_text())
    assert provenance["length_reward"]["name"] == "adapt_think" and provenance["length_reward"]["delta"] == 0.05
    assert "with start_accuracy (2 samples" in provenance["data"]["dataset"]
    # the forced rollouts were corrected in the loss: the trainer logged the old policy's opening probability
    assert all("efficiency/no_think_opening_prob" in step for step in load_training_log(model))
    # settings.json records the family's settings and leaves out the alpha family's, which trains nothing here
    record = json.loads((run_dir / "settings.json").read_text())
    assert record["methods"] == ["adapt_think"] and record["start_accuracy_samples"] == 2
    assert "alphas" not in record and "normalizations" not in record


def test_a_rerun_into_the_same_directory_redoes_nothing(adapt_seed_runs):
    runs, settings = adapt_seed_runs
    run_dir = runs["adapt_think"][1]
    # the model and the start's accuracy untouched (the sampling is not even reopened), the evaluations resumed whole
    untouched = ["adapt_think_delta_0.05/model.safetensors", "start_accuracy/samples.jsonl"]
    before = {name: (run_dir / name).stat().st_mtime_ns for name in untouched}
    samples = {path: path.read_text() for path in run_dir.glob("eval/*/samples.jsonl")}
    rows = run_demo(run_dir, settings["adapt_think", 1])
    assert {name: (run_dir / name).stat().st_mtime_ns for name in untouched} == before
    assert {path: path.read_text() for path in run_dir.glob("eval/*/samples.jsonl")} == samples and len(samples) == 2
    assert [row["name"] for row in rows] == ["start", ADAPT]
    with pytest.raises(FileExistsError, match=r"other settings .*adapt_think_delta: 0.05 -> 0.1"):
        run_demo(run_dir, DemoSettings(**{**asdict(settings["adapt_think", 1]), "adapt_think_delta": 0.1}))


def test_an_alpha_run_records_the_settings_it_always_did(adapt_seed_runs):
    # the settings of a family not trained stay out of settings.json, so runs made before adapt_think still resume
    runs, _ = adapt_seed_runs
    new = {name for names in METHODS.values() for name in names} - {"alphas", "normalizations"}
    record = json.loads((runs["alpha"][0] / "settings.json").read_text())
    assert "methods" not in record and not new & set(record)
    committed = json.loads((ROOT / "notebooks/demo_runs/ablation_graded/seed_0/settings.json").read_text())
    assert set(committed) == set(record)


def _summaries(runs, model):
    return {seed: json.loads((run / "eval" / model / "summary.json").read_text()) for seed, run in enumerate(runs)}


def _mean_se(values):
    return statistics.mean(values), statistics.stdev(values) / math.sqrt(len(values))


def test_the_tier_comparison_shows_each_plans_models_from_their_summaries(adapt_seed_runs):
    runs, _ = adapt_seed_runs
    rows = load_seed_comparison([runs["alpha"], runs["adapt_think"]])
    assert list(dict.fromkeys(row["name"] for row in rows)) == ["start", "alpha=0", ADAPT]
    models = ["start", "alpha=0", ADAPT]
    table = format_tier_comparison(rows, models)
    sections = re.split(r"\n\n(?=\*\*)", table)  # a heading, a blank line, the table
    assert [section.splitlines()[0] for section in sections] == [f"**{tier}**" for tier in TIERS]
    summaries = {
        "start": _summaries(runs["alpha"], "start"),
        "alpha=0": _summaries(runs["alpha"], "alpha_0"),
        ADAPT: _summaries(runs["adapt_think"], "adapt_think_delta_0.05"),
    }
    # the start of both plans was evaluated alike: the same figures on every seed
    other_start = _summaries(runs["adapt_think"], "start")
    assert {seed: s["by_tier"] for seed, s in other_start.items()} == {
        seed: s["by_tier"] for seed, s in summaries["start"].items()
    }
    for section, tier in zip(sections, TIERS, strict=True):
        lines = section.splitlines()[4:]
        assert [line.split("|")[1].strip() for line in lines] == ["start", "alpha=0", "adapt_think delta=0.05"]
        start = [summaries["start"][seed]["by_tier"][tier] for seed in (0, 1)]
        for line, name in zip(lines, models, strict=True):
            cells = [cell.strip() for cell in line.split("|")[1:-1]]
            figures = [summaries[name][seed]["by_tier"][tier] for seed in (0, 1)]
            accuracy, accuracy_se = _mean_se([100 * f["accuracy"] for f in figures])
            tokens, tokens_se = _mean_se([f["mean_tokens"] for f in figures])
            no_think, no_think_se = _mean_se([100 * f["no_think_rate"] for f in figures])
            assert cells[1] == f"{accuracy:.1f}% ± {accuracy_se:.1f}"
            assert cells[3] == f"{tokens:.1f} ± {tokens_se:.1f}"
            assert cells[5] == f"{no_think:.1f}% ± {no_think_se:.1f}" and cells[6] == "2"
            if name == "start":
                assert cells[2] == cells[4] == ""
                continue
            cut = [100 * (f["mean_tokens"] / s["mean_tokens"] - 1) for f, s in zip(figures, start, strict=True)]
            change = [100 * (f["accuracy"] - s["accuracy"]) for f, s in zip(figures, start, strict=True)]
            for cell, values, unit, quantity in ((cells[2], change, " pts", "accuracy"),
                                                 (cells[4], cut, "%", "token_change")):  # fmt: skip
                mean, se = _mean_se(values)
                verdict = seed_difference(rows, name, "start", quantity, tier)["verdict"]
                assert cell == f"{mean:+.1f}{unit} ± {se:.1f}" + (" (unresolved)" if verdict == "unresolved" else "")
                # two seeds resolve a change only when both agree on its sign and it exceeds two standard errors
                agree = all(value > 0 for value in values) or all(value < 0 for value in values)
                assert (verdict == "resolved") == (agree and abs(mean) > 2 * se)


def test_the_tier_comparison_plot_draws_each_seed_and_their_mean(adapt_seed_runs, tmp_path):
    runs, _ = adapt_seed_runs
    rows = load_seed_comparison([runs["alpha"], runs["adapt_think"]])
    figure = plot_tier_comparison(rows, ["start", "alpha=0", ADAPT], tmp_path / "tiers.png")
    assert (tmp_path / "tiers.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    tokens, no_think = figure.axes[:2]
    summaries = {"start": _summaries(runs["alpha"], "start"), "alpha=0": _summaries(runs["alpha"], "alpha_0"),
                 ADAPT: _summaries(runs["adapt_think"], "adapt_think_delta_0.05")}  # fmt: skip
    for axes, quantity, names in ((tokens, "token_change", ["alpha=0", ADAPT]),
                                  (no_think, "no_think_rate", ["start", "alpha=0", ADAPT])):  # fmt: skip
        bars = {patch.get_gid(): patch.get_height() for patch in axes.patches if patch.get_gid()}
        dots = {line.get_gid(): sorted(line.get_ydata()) for line in axes.get_lines() if line.get_gid()}
        assert len(bars) == len(names) * 3 and len(dots) == len(names) * 3  # the start has no token cut to draw
        for name in names:
            for tier in TIERS:
                figures = [summaries[name][seed]["by_tier"][tier] for seed in (0, 1)]
                if quantity == "no_think_rate":
                    values = [100 * f["no_think_rate"] for f in figures]
                else:
                    start = [summaries["start"][seed]["by_tier"][tier]["mean_tokens"] for seed in (0, 1)]
                    values = [100 * (f["mean_tokens"] / s - 1) for f, s in zip(figures, start, strict=True)]
                assert bars[f"{quantity}|{name}|{tier}"] == pytest.approx(statistics.mean(values))
                assert dots[f"{quantity}|{name}|{tier}|seeds"] == pytest.approx(sorted(values))


def test_plans_that_do_not_train_or_evaluate_alike_are_refused(adapt_seed_runs, tmp_path):
    runs, _ = adapt_seed_runs
    copies = [Path(shutil.copytree(run, tmp_path / f"seed_{seed}")) for seed, run in enumerate(runs["adapt_think"])]
    with pytest.raises(ValueError, match=r"other seeds \(\[\[0, 1\], \[0\]\]\)"):
        load_seed_comparison([runs["alpha"], copies[:1]])
    with pytest.raises(ValueError, match=r"models \['alpha=0'\] are in two plans"):
        load_seed_comparison([runs["alpha"], runs["alpha"]])
    # the same seeds but a start evaluated otherwise (another figure in one seed's summary)
    summary_path = copies[1] / "eval" / "start" / "summary.json"
    summary = json.loads(summary_path.read_text())
    summary["by_tier"]["hard"]["mean_tokens"] += 1
    summary_path.write_text(json.dumps(summary))
    with pytest.raises(ValueError, match=r"starting model 'start' of .* has other figures .* at tier 'hard'"):
        load_seed_comparison([runs["alpha"], copies])
    settings_path = copies[0] / "settings.json"
    settings_path.write_text(json.dumps({**json.loads(settings_path.read_text()), "steps": 3}))
    with pytest.raises(ValueError, match=r"steps=3, .* has 2: the plans compared must train and evaluate"):
        load_seed_comparison([runs["alpha"], copies])
