import json
import shutil
from pathlib import Path

import pytest
from transformers import AutoTokenizer

from efficient_trl.baselines import rejection_sampling_datasets
from efficient_trl.experiments.budget_demo import (
    BudgetDemoSettings,
    budget_sft_prompts,
    run_budget_demo,
    write_budget_demo_report,
)
from efficient_trl.experiments.engine import START_MODELS
from efficient_trl.sampling import EvaluationSample
from efficient_trl.synthetic import sum_problems

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"eval_budgets": [50, 150]}, r"eval_budgets \[150\] lie outside budget_range \[40, 140\]"),
        ({"eval_budgets": [50, 50]}, "distinct"),
        ({"eval_budgets": []}, "distinct"),
        ({"budget_range": [140, 40]}, "low end"),
        ({"max_completion_length": 100}, "past max_completion_length 100"),
        ({"length_reward": "sigmoid"}, r"one of \['l1_exact', 'l1_max'\]"),
        ({"a": -0.1}, "a must be >= 0"),
        ({"sft_epochs": 0}, "sft_epochs must be > 0"),
        ({"sft_temperature": 0}, "sft_temperature must be > 0"),
        ({"budget_spread": 1.5}, r"spread must be in \[0, 1\)"),
        ({"budget_template": "Think briefly. {prompt}"}, "neither one of"),
        ({"steps": 0}, "steps must be >= 1"),
        ({"alpha_run": "no/such/run"}, "not a demo run directory"),
    ],
)
def test_bad_settings_name_the_problem(overrides, message):
    with pytest.raises((ValueError, FileNotFoundError), match=message):
        BudgetDemoSettings(**overrides)


def test_budget_sft_rows_ask_for_a_budget_near_each_samples_own_length():
    # Stage 1 teaches following by example: each correct sample's prompt asks for a budget within 10% of that
    # sample's length, the budget first (the sums model reads the problem backwards from the prompt's end).
    settings = BudgetDemoSettings()
    problems = sum_problems(6, seed=2)
    lengths = [47, 72, 75, 103, 125, 131]
    samples = [
        EvaluationSample(i, 0, f"<think>{i}</think>", length, False, None, correct)
        for i, (length, correct) in enumerate(zip(lengths, [True, True, False, True, True, True], strict=True))
    ]
    prompts, recorded = budget_sft_prompts(problems, samples, settings)
    assert recorded == {"budget_template": "Think for {budget} tokens. {prompt}", "budget_spread": 0.1}
    tokenizer = AutoTokenizer.from_pretrained(START_MODELS["sums"])
    data, _, report = rejection_sampling_datasets(prompts, samples, tokenizer)
    assert report["problems_with_a_correct_sample"] == 5  # the wrong sample teaches nothing
    kept = [i for i in range(6) if samples[i].correct]
    budgets = [int(prompt.split("Think for ")[1].split(" tokens.")[0]) for prompt in data["prompt"]]
    assert data["prompt"] == [
        f"<|user|>Think for {budget} tokens. {problems['problem'][i]}<|assistant|>"
        for i, budget in zip(kept, budgets, strict=True)
    ]
    assert all(abs(budget - lengths[i]) <= 0.1 * lengths[i] for i, budget in zip(kept, budgets, strict=True))
    assert data["completion"] == [samples[i].text + tokenizer.eos_token for i in kept]
    assert budget_sft_prompts(problems, samples, settings)[0] == prompts  # seeded
    with pytest.raises(ValueError, match="one sample per problem"):
        budget_sft_prompts(problems, samples[:5], settings)


def budget_rows_prompt(eval_dir):
    return json.loads((eval_dir / "summary.json").read_text())["prompt_template"]


def test_a_directory_holding_another_run_is_refused_before_anything_is_trained(tmp_path):
    (tmp_path / "run" / "budget_sft").mkdir(parents=True)
    (tmp_path / "run" / "settings.json").write_text('{"steps": 60}')
    with pytest.raises(FileExistsError, match=r"holds a run with other settings .*steps: 60 -> 3"):
        run_budget_demo(tmp_path / "run", BudgetDemoSettings(steps=3))
    assert sorted(path.name for path in (tmp_path / "run").iterdir()) == [
        ".efficient_trl.lock",
        "budget_sft",
        "settings.json",
    ]


def sft_log(run_dir):
    log = json.loads((run_dir / "budget_sft" / "trainer_state.json").read_text())["log_history"]
    return [{key: value for key, value in entry.items() if "runtime" not in key and "per_second" not in key}
            for entry in log]  # fmt: skip


@pytest.mark.slow
def test_budget_demo_end_to_end_rows_and_plot(tmp_path):
    settings = BudgetDemoSettings(
        eval_budgets=[50, 100], sft_problems=4, sft_epochs=1, steps=1, prompts_per_step=2, num_generations=2,
        eval_problems=3, max_completion_length=140, alpha_run=str(ROOT / "notebooks" / "demo_runs" / "sweep"),
    )  # fmt: skip
    run_dir = tmp_path / "run"
    rows = run_budget_demo(run_dir, settings)
    by_budget = {(row["name"], row["budget_mode"], row["budget"]) for row in rows if row.get("budget")}
    assert by_budget == {
        (name, mode, budget)
        for name, mode in (("start", "force"), ("budget_sft", "prompt"), ("budget", "prompt"),
                           ("budget_rollouts", "prompt"))
        for budget in (50, 100)
    }  # fmt: skip
    plain = [row for row in rows if row.get("budget") is None]
    assert [(row["name"], row["family"]) for row in plain] == [("start", "start")] + [
        (f"alpha={alpha:g}", "alpha") for alpha in (0, 0.05, 0.1, 0.2, 0.4)
    ]
    assert all(row["num_samples"] == 3 for row in rows if row["family"] != "alpha")
    provenance = json.loads((run_dir / "budget" / "provenance.json").read_text())
    assert provenance["length_reward"]["name"] == "l1_exact" and provenance["length_reward"]["a"] == 0.01
    template = "Think for {budget} tokens. {prompt}"
    assert provenance["data"]["budget_range"] == [40, 140] and provenance["data"]["budget_template"] == template
    stage1 = json.loads((run_dir / "budget_sft" / "provenance.json").read_text())
    assert stage1["trainer"] == "sft" and stage1["base_model"]["name_or_path"] == str(START_MODELS["sums"])
    assert stage1["data"]["budget_spread"] == 0.1 and "budget_range" not in stage1["data"]
    assert budget_rows_prompt(run_dir / "eval" / "budget" / "budget-50") == "Think for 50 tokens. {problem}"
    # the same L1 model with its training rollouts kept within each prompt's budget, from the same SFT model
    rollouts = json.loads((run_dir / "budget_rollouts" / "provenance.json").read_text())
    assert rollouts["rollout_budget"] == {"thinking_budget": None, "column": "budget", "answer_cue": "\\boxed{"}
    assert {key: value for key, value in rollouts.items() if key != "rollout_budget"} == provenance
    assert "rollout_budget" not in provenance
    log = json.loads((run_dir / "budget_rollouts" / "trainer_state.json").read_text())["log_history"]
    assert any("efficiency/rollout_forced_rate" in entry for entry in log)

    table, figure = write_budget_demo_report(run_dir, rows)
    assert (run_dir / "budget_demo.png").is_file() and (run_dir / "results.md").read_text() == table + "\n"
    budget_rows = sorted((row for row in rows if row["name"] == "budget"), key=lambda row: row["budget"])
    tradeoff_axes, accuracy_axes, tokens_axes = figure.axes[:3]
    tradeoff = {line.get_label(): line.get_xydata().tolist() for line in tradeoff_axes.lines}
    label = "l1_exact a=0.01 (budget in the prompt)"  # the budget model is named by its reward, from provenance
    assert tradeoff[label] == [[r["mean_tokens"], 100 * r["accuracy"]] for r in budget_rows]
    assert "length penalty" in tradeoff  # the alpha family's curve, as plot_tradeoff draws it
    assert {text.get_text() for text in tradeoff_axes.texts} >= {"N=50", "N=100", "α=0.2"}
    tokens = {line.get_label(): line.get_xydata().tolist() for line in tokens_axes.lines}
    assert tokens[label] == [[r["budget"], r["mean_budget_length"]] for r in budget_rows]
    assert "start (budget forcing)" in {line.get_label() for line in accuracy_axes.lines}
    rollouts_label = "l1_exact a=0.01, rollouts within the budget (budget in the prompt)"
    assert tokens[rollouts_label] == [
        [r["budget"], r["mean_budget_length"]]
        for r in sorted((row for row in rows if row["name"] == "budget_rollouts"), key=lambda row: row["budget"])
    ]
    assert run_budget_demo(run_dir, settings) == rows  # a rerun resumes: everything had finished
    # A copy kept as the repository keeps a committed run (no weights, no samples), without budget_rollouts: the
    # rerun trains and evaluates only budget_rollouts (the SFT stage again, for its weights), the rest is kept.
    copy = tmp_path / "committed"
    shutil.copytree(run_dir, copy, ignore=shutil.ignore_patterns("*.safetensors", "samples.jsonl", "checkpoint-*"))
    shutil.rmtree(copy / "budget_rollouts")
    shutil.rmtree(copy / "eval" / "budget_rollouts")
    kept = {path: path.read_text() for path in copy.rglob("summary.json")}
    rerun = run_budget_demo(copy, settings)
    assert all(path.read_text() == text for path, text in kept.items())
    assert sft_log(copy) == sft_log(run_dir)  # the SFT stage trained again is the same (but for its timing)
    assert {(row["name"], row.get("budget")) for row in rerun} == {(row["name"], row.get("budget")) for row in rows}
    assert (copy / "budget_rollouts" / "model.safetensors").is_file() and not any(
        (copy / "budget").glob("*.safetensors")
    )
    with pytest.raises(FileExistsError, match="other settings"):
        run_budget_demo(run_dir, BudgetDemoSettings(**{**vars(settings), "a": 0.02}))


def test_provenance_records_the_budgets_only_of_budget_conditioned_models():
    from trl import SFTConfig

    from efficient_trl.provenance import training_provenance

    args = SFTConfig(output_dir="unused", use_cpu=True, bf16=False, report_to="none")
    data = {"dataset": "sums", "num_problems": 4, "prompt_template": None}
    problems = sum_problems(2, seed=0)
    samples = [EvaluationSample(i, 0, "<think></think>", 50, False, None, True) for i in range(2)]
    recorded = budget_sft_prompts(problems, samples, BudgetDemoSettings())[1]
    budgeted = training_provenance("sft", args, str(START_MODELS["sums"]), {**data, **recorded})
    assert budgeted["data"] == {**data, **recorded}
    assert training_provenance("sft", args, str(START_MODELS["sums"]), data)["data"] == data


def test_budget_plot_puts_budget_series_on_the_tradeoff_plane_labelled_by_n():
    from efficient_trl.analysis import budget_report, format_budget_table, plot_budget_adherence

    def row(name, family, accuracy, tokens, **fields):
        return {"name": name, "family": family, "dataset": "held-out sums", "accuracy": accuracy,
                "accuracy_stderr": 0.01, "mean_tokens": tokens, **fields}  # fmt: skip

    budget_rows = [
        row("budget", "model", accuracy, tokens, budget=budget, budget_mode="prompt", budget_measure="completion",
            mean_budget_length=tokens, budget_deviation=deviation, share_within_10pct=0.5, share_at_most_budget=0.25)
        for budget, accuracy, tokens, deviation in [(100, 0.98, 101.0, 0.05), (50, 0.97, 52.0, 0.08)]
    ]  # fmt: skip
    plain = [row("start", "start", 0.99, 99.0), row("alpha=0.2", "alpha", 0.998, 53.1, alpha=0.2)]
    figure = plot_budget_adherence(budget_rows, tradeoff_rows=plain)
    tradeoff_axes = figure.axes[0]
    lines = {line.get_label(): line.get_xydata().tolist() for line in tradeoff_axes.lines}
    assert lines["budget (budget in the prompt)"] == [[52.0, 97.0], [101.0, 98.0]]
    assert {"N=50", "N=100", "α=0.2"} <= {text.get_text() for text in tradeoff_axes.texts}
    assert len(figure.axes) >= 3 and figure.axes[2].get_xlabel() == "token budget N"
    with pytest.raises(ValueError, match="one dataset"):
        plot_budget_adherence(budget_rows, tradeoff_rows=[{**plain[0], "dataset": "gsm8k"}])
    with pytest.raises(ValueError, match="no result was evaluated at a token budget"):
        budget_report(plain)
    table, figure = budget_report([*budget_rows, *plain])  # the rows split by whether they have a budget
    assert table == format_budget_table(budget_rows, plain) and len(figure.axes) >= 3
    table = format_budget_table(budget_rows, plain).splitlines()
    assert table[2] == "| budget | 50 (in the prompt) | 97.0% ± 1.0 | 52.0 | 0.080 | 50.0% | 25.0% |"
    assert table[-1] == "| alpha=0.2 | none | 99.8% ± 1.0 | 53.1 | | | |"


@pytest.mark.parametrize("seed_run", ["budget", "budget_seed_1", "budget_seed_2"])
def test_the_committed_runs_rerender_to_their_tables_and_hold_the_readmes_claims(seed_run):
    # notebooks/demo_runs/budget (seed 0), budget_seed_1 and budget_seed_2 are what the README quotes: their rows
    # (read back from the runs' summaries and the provenance of their models) give their results.md again, and the
    # models' figures are the README's claims: adherence within 0.10 for both RL models; accuracy at N = 125 more
    # than 2 points below the start (the target the README says is missed), the same budgets for the model trained
    # with rollout budgets.
    from efficient_trl.analysis import format_budget_table, load_budget_results, select

    run = ROOT / "notebooks" / "demo_runs"
    rows = load_budget_results(run / seed_run, run / "sweep")
    assert select(rows, name="budget_sft")[0]["family"] == "model"  # a budget model's stage, not the SFT baseline
    table = format_budget_table(
        [row for row in rows if row.get("budget") is not None], [row for row in rows if row.get("budget") is None]
    )
    assert table + "\n" == (run / seed_run / "results.md").read_text()
    start = select(rows, name="start", budget=None)[0]
    for name in ("budget", "budget_rollouts"):
        model = sorted(select(rows, name=name), key=lambda row: row["budget"])
        assert [row["budget"] for row in model] == [50, 75, 100, 125]
        assert max(row["budget_deviation"] for row in model) <= 0.10
        assert start["accuracy"] - model[-1]["accuracy"] > 0.02
    assert select(rows, name="budget_rollouts")[0]["provenance"]["rollout_budget"]
