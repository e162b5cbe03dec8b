"""efficient_trl.analysis.seeds: run directories of one plan's seeds read as one set of rows (mean and standard error
across seeds), whether the seeds resolve a difference, and the table that says so."""

import json
import math
import shutil
import statistics
from pathlib import Path

import pytest

from efficient_trl.analysis import format_seed_table, load_seed_results, seed_difference, token_savings
from efficient_trl.experiments.engine import START_MODELS, model_dir_name
from efficient_trl.provenance import model_fingerprint, read_provenance, write_provenance

SEEDS = (0, 1, 2)
# Each model's token limit: the copy recorded as trained at alpha 0.2 is cut far below the start's answers
LIMITS = {"start": 160, "alpha=0.2": 24, "copy": 160}

COMMITTED = Path(__file__).resolve().parents[1] / "notebooks" / "demo_runs"


@pytest.fixture(scope="module")
def seed_runs(tmp_path_factory):
    """Three run directories of one plan, one per seed, laid out as the demo lays out its runs (settings.json,
    eval/<model>/): the graded task's shipped starting model as `start`, a copy of it recorded as trained from it at
    alpha = 0.2 and evaluated at a 24-token limit (`alpha=0.2`: far shorter on every seed), and a copy recorded as
    trained at alpha = 0 and evaluated as the start is (`copy`: differs from the start only by sampling noise), each
    evaluated for real with the seed's sampling seed on 6 held-out problems (2 per tier), 2 samples each."""
    from efficient_trl.evaluation import evaluate_problems
    from efficient_trl.sampling import SamplingSettings
    from efficient_trl.synthetic import graded_problems

    root, start = tmp_path_factory.mktemp("seeds"), str(START_MODELS["graded"])
    models = {"start": start}
    for name, alpha in (("alpha=0.2", 0.2), ("copy", 0.0)):
        trained = shutil.copytree(start, root / "models" / model_dir_name(name))
        write_provenance(trained, {
            **read_provenance(start), "trainer": "grpo", "advantage_normalization": "none",
            "base_model": {"name_or_path": start, "fingerprint": model_fingerprint(start)},
            "length_reward": {"name": "sigmoid", "alpha": alpha, "eps": 1e-7, "measure": "completion"},
        })  # fmt: skip
        models[name] = str(trained)
    problems = graded_problems(6, seed=3, split="held_out")
    runs = []
    for seed in SEEDS:
        run = root / f"seed_{seed}"
        run.mkdir()
        (run / "settings.json").write_text(json.dumps({"task": "graded", "steps": 30, "seed": seed, "seeds": [seed]}))
        for name, model in models.items():
            # the copy is sampled with another seed than the start's: the same model, other samples
            sampling = SamplingSettings(k=2, max_new_tokens=LIMITS[name], seed=seed + (100 if name == "copy" else 0))
            evaluate_problems(model, problems, run / "eval" / model_dir_name(name), sampling, dataset="graded",
                              batch_size=12, cutoffs=(), name=name)  # fmt: skip
        runs.append(run)
    return runs


def _summaries(runs, name):
    """Each seed's summary.json of model `name`, as evaluation wrote it."""
    return {seed: json.loads((run / "eval" / model_dir_name(name) / "summary.json").read_text())
            for seed, run in zip(SEEDS, runs, strict=True)}  # fmt: skip


def _mean_se(values):
    return statistics.fmean(values), statistics.stdev(values) / math.sqrt(len(values))


def test_the_rows_are_the_mean_over_seeds_with_the_standard_error_across_seeds(seed_runs):
    rows = load_seed_results(seed_runs)
    # the whole evaluations in load_results' order (start, then by alpha), then each model's tiers
    assert [(row["name"], row["tier"]) for row in rows] == [
        *[(name, None) for name in ("start", "copy", "alpha=0.2")],
        *[(name, tier) for name in ("start", "copy", "alpha=0.2") for tier in ("easy", "medium", "hard")],
    ]
    starts = _summaries(seed_runs, "start")
    for name in ("start", "alpha=0.2", "copy"):
        summaries = _summaries(seed_runs, name)
        for tier in (None, "easy", "medium", "hard"):
            (row,) = [row for row in rows if row["name"] == name and row["tier"] == tier]

            def figures(summary, tier=tier):
                return summary if tier is None else summary["by_tier"][tier]

            assert row["seeds"] == 3 and set(row["per_seed"]) == set(SEEDS)
            for quantity in ("accuracy", "mean_tokens"):
                values = [figures(summaries[seed])[quantity] for seed in SEEDS]
                assert (row[quantity], row[f"{quantity}_stderr"]) == pytest.approx(_mean_se(values), abs=1e-12)
            # the change against the start of the same seed's run, averaged with its standard error
            tokens = [figures(summaries[s])["mean_tokens"] / figures(starts[s])["mean_tokens"] - 1 for s in SEEDS]
            accuracy = [figures(summaries[s])["accuracy"] - figures(starts[s])["accuracy"] for s in SEEDS]
            assert (row["token_change"], row["token_change_stderr"]) == pytest.approx(_mean_se(tokens), abs=1e-12)
            assert (row["accuracy_change"], row["accuracy_change_stderr"]) == pytest.approx(
                _mean_se(accuracy), abs=1e-12
            )
    # how each model was trained comes with it; a seed's own run details do not
    alpha = next(row for row in rows if row["name"] == "alpha=0.2")
    assert (alpha["family"], alpha["alpha"], alpha["dataset"]) == ("alpha", 0.2, "graded")
    assert "run_dir" not in alpha and "by_tier" not in alpha
    # the same seeds differ: the spread across seeds is measured, not assumed
    assert next(row for row in rows if row["name"] == "start")["mean_tokens_stderr"] > 0


def _verdict_by_the_rule(differences):
    mean, stderr = _mean_se(differences)
    same_sign = all(d > 0 for d in differences) or all(d < 0 for d in differences)
    return "resolved" if same_sign and abs(mean) > 2 * stderr else "unresolved"


def test_the_seeds_resolve_a_difference_only_when_every_seed_agrees_and_it_exceeds_two_standard_errors(seed_runs):
    rows = load_seed_results(seed_runs)
    starts, short, copy = (_summaries(seed_runs, name) for name in ("start", "alpha=0.2", "copy"))
    # cut to 24 tokens, the alpha=0.2 copy is shorter than the start on every seed, by far
    cut = seed_difference(rows, "alpha=0.2", "start", "mean_tokens")
    assert cut["per_seed"] == {s: pytest.approx(short[s]["mean_tokens"] - starts[s]["mean_tokens"]) for s in SEEDS}
    assert all(difference < -10 for difference in cut["per_seed"].values()) and cut["verdict"] == "resolved"
    assert seed_difference(rows, "alpha=0.2", quantity="token_change")["verdict"] == "resolved"
    # every verdict is the rule's on the seeds' own numbers, whatever the sampling gave
    for name, summaries in (("alpha=0.2", short), ("copy", copy)):
        for quantity in ("accuracy", "mean_tokens"):
            for tier in (None, "easy", "hard"):
                per_seed = [
                    (summaries[s] if tier is None else summaries[s]["by_tier"][tier])[quantity]
                    - (starts[s] if tier is None else starts[s]["by_tier"][tier])[quantity]
                    for s in SEEDS
                ]
                verdict = seed_difference(rows, name, "start", quantity, tier=tier)
                assert verdict["verdict"] == _verdict_by_the_rule(per_seed), (name, quantity, tier)
                assert (verdict["difference"], verdict["stderr"]) == pytest.approx(_mean_se(per_seed), abs=1e-12)
    # a model against itself: no difference on any seed, unresolved
    assert seed_difference(rows, "copy", "copy", "accuracy")["verdict"] == "unresolved"
    # one seed: its spread is unknown, never resolved
    (one,) = [load_seed_results(seed_runs[:1])]
    single = seed_difference(one, "alpha=0.2", "start", "mean_tokens")
    assert single["seeds"] == 1 and math.isnan(single["stderr"]) and single["verdict"] == "unresolved"
    with pytest.raises(ValueError, match="no row named 'sigmoid'"):
        seed_difference(rows, "sigmoid")


def _row(name, per_seed):
    return {"name": name, "dataset": "d", "tier": None, "per_seed": {s: {"q": v} for s, v in enumerate(per_seed)}}


@pytest.mark.parametrize(
    "first, second, verdict",
    [
        ([0.30, 0.32, 0.31], [0.10, 0.11, 0.09], "resolved"),  # every seed agrees, far beyond 2 SE
        ([0.30, 0.05, 0.31], [0.10, 0.11, 0.09], "unresolved"),  # one seed disagrees on the sign
        ([0.12, 0.30, 0.11], [0.10, 0.11, 0.10], "unresolved"),  # every seed agrees, within 2 SE (mean 0.073, SE 0.06)
        ([0.10, 0.20, 0.30], [0.10, 0.10, 0.10], "unresolved"),  # a tie on one seed is no agreement
    ],
)
def test_the_rule_on_each_branch(first, second, verdict):
    rows = [_row("a", first), _row("b", second)]
    assert seed_difference(rows, "a", "b", "q")["verdict"] == verdict
    assert seed_difference(rows, "b", "a", "q")["verdict"] == verdict  # symmetric


def test_the_table_shows_mean_and_standard_error_over_seeds_and_marks_what_they_do_not_resolve(seed_runs):
    rows = load_seed_results(seed_runs)
    table = format_seed_table(rows).splitlines()
    assert table[0] == "| model | tier | accuracy | mean tokens | accuracy vs start | tokens vs start | seeds |"
    (line,) = [line for line in table if line.startswith("| alpha=0.2 | hard |")]
    row = next(row for row in rows if row["name"] == "alpha=0.2" and row["tier"] == "hard")
    accuracy = seed_difference(rows, "alpha=0.2", "start", "accuracy", tier="hard")["verdict"]
    expected = (
        f"| alpha=0.2 | hard | {100 * row['accuracy']:.1f}% ± {100 * row['accuracy_stderr']:.1f} | "
        f"{row['mean_tokens']:.1f} ± {row['mean_tokens_stderr']:.1f} | "
        f"{100 * row['accuracy_change']:+.1f} pts ± {100 * row['accuracy_change_stderr']:.1f}"
        f"{' (unresolved)' if accuracy == 'unresolved' else ''} | "
        f"{100 * row['token_change']:+.1f}% ± {100 * row['token_change_stderr']:.1f} | 3 |"
    )
    assert line == expected
    # the whole evaluation's rows are left to the tiers; the copy's changes are sampling noise
    assert len(table) == 2 + 3 * 3
    copy = [line for line in table if line.startswith("| alpha=0 | ")]
    assert len(copy) == 3
    for line in copy:
        tier = line.split(" | ")[1]
        for quantity, cell in (("accuracy", 4), ("token_change", 5)):
            verdict = seed_difference(rows, "copy", "start", quantity, tier=tier)["verdict"]
            assert line.split(" | ")[cell].endswith("(unresolved)") == (verdict == "unresolved")


def test_savings_pick_each_seeds_best_setting_within_one_point(seed_runs):
    rows = load_seed_results(seed_runs)
    savings = token_savings(rows, {"sigmoid": ["alpha=0.2", "copy"]})
    for saving in savings:
        for seed, figures in saving["per_seed"].items():
            candidates = [
                -row["per_seed"][seed]["token_change"]
                for row in rows
                if row["name"] in ("alpha=0.2", "copy")
                and row["tier"] == saving["tier"]
                and row["per_seed"][seed]["accuracy_change"] >= -0.01 - 1e-9
            ]
            assert figures["token_saving"] == pytest.approx(max([0.0, *candidates]))
        values = [figures["token_saving"] for figures in saving["per_seed"].values()]
        assert (saving["token_saving"], saving["token_saving_stderr"]) == pytest.approx(_mean_se(values))


def test_runs_of_other_settings_are_refused_naming_the_field(seed_runs, tmp_path):
    other = shutil.copytree(seed_runs[1], tmp_path / "other")
    settings = json.loads((other / "settings.json").read_text())
    (other / "settings.json").write_text(json.dumps({**settings, "steps": 60}))
    with pytest.raises(ValueError, match=r"the runs differ in 'steps', not only in their seed: .* has 30, .* has 60"):
        load_seed_results([seed_runs[0], other])
    with pytest.raises(ValueError, match=r"each run needs its own seed .* got \[0, 0\]"):
        load_seed_results([seed_runs[0], seed_runs[0]])
    (other / "settings.json").unlink()
    with pytest.raises(FileNotFoundError, match="no settings.json in"):
        load_seed_results([seed_runs[0], other])


def test_evaluations_at_a_budget_are_rows_of_their_own_against_the_start_at_that_budget():
    # the committed make rollout-budget-graded run: every model evaluated plain and forced at 64, 96 and 128 thinking
    # tokens; averaged over seeds, each budget is its own row, compared with the start forced at the same budget
    from efficient_trl.analysis import compare_methods

    runs = [COMMITTED / "rollout_budget_graded" / f"seed_{seed}" for seed in (0, 1, 2)]
    rows = load_seed_results(runs)
    places = [(row["name"], row["tier"], row.get("budget")) for row in rows]
    assert len(places) == len(set(places))
    assert {row.get("budget") for row in rows if row["name"] == "alpha=0"} == {None, 64, 96, 128}
    for seed, run in zip((0, 1, 2), runs, strict=True):
        for budget in (64, None):
            where = f"_forced/budget-{budget}" if budget else ""
            model = json.loads((run / f"eval/alpha_0{where}/summary.json").read_text())
            start = json.loads((run / f"eval/start{where}/summary.json").read_text())
            (row,) = [r for r in rows if r["name"] == "alpha=0" and r["tier"] is None and r.get("budget") == budget]
            assert row["per_seed"][seed]["accuracy"] == model["accuracy"]
            assert row["per_seed"][seed]["accuracy_change"] == pytest.approx(model["accuracy"] - start["accuracy"])
    table = format_seed_table(rows)
    assert table.splitlines()[0].startswith("| model | tier | budget |") and "| alpha=0 | hard | 64 (force) |" in table
    methods = compare_methods(rows)
    assert all(len(names) == len(set(names)) for names in methods.values())
    assert all(saving["seeds"] == 3 for saving in token_savings([r for r in rows if r["tier"]], methods))
