import json

import pytest
import yaml
from datasets import Dataset
from transformers import AutoTokenizer

from efficient_trl.budgets import budgets_near_lengths, sample_budgets, with_budgets
from efficient_trl.data import to_prompts
from efficient_trl.provenance import read_provenance
from efficient_trl.training import TrainScriptArguments, parse_training_arguments, train


def test_budgets_are_l1s_sentence_in_the_rendered_prompt(tiny_r1_model_path):
    problems = to_prompts(Dataset.from_dict({"problem": ["1+1", "2+2"], "answer": ["2", "4"]}), "Q: {problem}")
    exact = with_budgets(problems, [120, 3000])
    assert exact["budget"] == [120, 3000]
    assert [p[-1]["content"] for p in exact["prompt"]] == [
        "Q: 1+1 Think for 120 tokens.",
        "Q: 2+2 Think for 3000 tokens.",
    ]
    maximum = with_budgets(problems, 512, "max")  # evaluation: one budget for every prompt
    tokenizer = AutoTokenizer.from_pretrained(tiny_r1_model_path)
    rendered = tokenizer.apply_chat_template(maximum["prompt"][0], tokenize=False, add_generation_prompt=True)
    assert "<｜User｜>Q: 1+1 Think for maximum 512 tokens.<｜Assistant｜><think>\n" in rendered
    assert with_budgets(Dataset.from_dict({"prompt": ["37+5="]}), 40, "~{budget}")["prompt"] == ["37+5= ~40"]
    # a template of your own may place the user's text: the budget first, as the CPU demo asks
    first = with_budgets(problems, [40, 50], "Think for {budget} tokens. {prompt}")
    assert [p[-1]["content"] for p in first["prompt"]] == [
        "Think for 40 tokens. Q: 1+1",
        "Think for 50 tokens. Q: 2+2",
    ]
    assert with_budgets(Dataset.from_dict({"prompt": ["37+5="]}), 9, "[{budget}] {prompt}")["prompt"] == ["[9] 37+5="]
    padded = with_budgets(Dataset.from_dict({"prompt": ["1+2"]}), 50, "{budget:03d} tokens: {prompt}")  # format spec
    assert padded["prompt"] == ["050 tokens: 1+2"] and padded["budget"] == [50]


def test_hindsight_budgets_lie_near_each_length_and_are_seeded():
    lengths = [47, 72, 103, 125] * 500
    drawn = budgets_near_lengths(lengths, 0.1, seed=1)
    assert drawn == budgets_near_lengths(lengths, 0.1, seed=1) != budgets_near_lengths(lengths, 0.1, seed=2)
    assert all(abs(budget - length) <= 0.1 * length for budget, length in zip(drawn, lengths, strict=True))
    # both ends of each band are drawn: 103 -> [93, 113]
    assert {budget for budget, length in zip(drawn, lengths, strict=True) if length == 103} == set(range(93, 114))
    assert budgets_near_lengths([1, 80], 0.0) == [1, 80]
    assert set(budgets_near_lengths([10] * 200, 0.1)) == {9, 10, 11}  # 10 * 0.9 is 9.000000000000002 in floats


def test_budget_sampling_is_uniform_over_the_range_and_seeded():
    drawn = sample_budgets(4000, (100, 4000), seed=3)
    assert drawn == sample_budgets(4000, (100, 4000), seed=3) != sample_budgets(4000, (100, 4000), seed=4)
    assert min(drawn) >= 100 and max(drawn) <= 4000 and min(drawn) < 200 and max(drawn) > 3900
    assert sample_budgets(3, [7, 7]) == [7, 7, 7]


def test_bad_budget_input_names_the_fix():
    problems = Dataset.from_dict({"prompt": ["a", "b"]})
    with pytest.raises(ValueError, match="neither one of"):
        with_budgets(problems, 10, "Think briefly.")
    with pytest.raises(ValueError, match="places the prompt twice"):
        with_budgets(problems, 10, "{prompt} Think for {budget} tokens. {prompt}")
    with pytest.raises(ValueError, match=r"fields other than '\{budget\}' and '\{prompt\}' \(\['unit'\]\)"):
        with_budgets(problems, 10, "Think for {budget} {unit}.")
    with pytest.raises(ValueError, match="cannot write a budget: Unknown format code 'q'"):
        with_budgets(problems, 10, "Think for {budget:q} tokens.")
    with pytest.raises(ValueError, match="neither one of"):
        with_budgets(problems, 10, "Think for {budget tokens.")
    with pytest.raises(ValueError, match=r"spread must be in \[0, 1\)"):
        budgets_near_lengths([50], 1.0)
    with pytest.raises(ValueError, match="positive token counts"):
        budgets_near_lengths([50, 0], 0.1)
    with pytest.raises(ValueError, match="3 budgets for 2 prompts"):
        with_budgets(problems, [1, 2, 3])
    with pytest.raises(ValueError, match="positive token counts"):
        with_budgets(problems, [0, 5])
    with pytest.raises(ValueError, match="already has a 'budget' column"):
        with_budgets(with_budgets(problems, 5), 6)
    with pytest.raises(ValueError, match=r"low end must not exceed"):
        sample_budgets(2, (400, 100))
    with pytest.raises(ValueError, match="two positive token counts"):
        TrainScriptArguments(budget_range=[100])


@pytest.mark.slow
@pytest.mark.parametrize("trainer", ["grpo", "rloo"])
def test_a_recipe_trains_with_budgets_in_its_prompts(trainer, tiny_model_path, tmp_path):
    # The recipe's budget fields make budget-conditioned prompts and the `budget` column that l1_max / l1_exact
    # read (a trainer built without the column fails at construction); the budgets are recorded with the run.
    problems = tmp_path / "problems.jsonl"
    problems.write_text("".join(json.dumps({"problem": f"{a}+{a}=", "answer": str(2 * a)}) + "\n" for a in range(8)))
    recipe = {
        "trainer": trainer, "model_name_or_path": tiny_model_path, "dataset_name": str(problems),
        "length_reward": "l1_max" if trainer == "grpo" else "l1_exact", "budget_range": [10, 30],
        "budget_template": "max" if trainer == "grpo" else "exact", "num_generations": 4,
        "per_device_train_batch_size": 8, "max_completion_length": 16, "max_steps": 1, "use_cpu": True, "bf16": False,
        "save_strategy": "no", "report_to": "none", "seed": 0, "output_dir": str(tmp_path / "out"),
    }  # fmt: skip
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(recipe))
    trained = train(*parse_training_arguments(["--config", str(path)]))
    assert trained.state.global_step == 1
    dataset = trained.train_dataset
    assert dataset["budget"] == sample_budgets(8, (10, 30), seed=0)
    word = "maximum " if trainer == "grpo" else ""
    assert [
        p[0]["content"].endswith(f" Think for {word}{b} tokens.")
        for p, b in zip(dataset["prompt"], dataset["budget"], strict=True)
    ] == [True] * 8
    recorded = json.loads((tmp_path / "out" / "efficient_trl_run.json").read_text())["script"]
    assert recorded["budget_range"] == [10, 30] and recorded["budget_template"] == recipe["budget_template"]
    # ... and in the model's provenance, which evaluation copies into every summary of the model
    data = read_provenance(tmp_path / "out")["data"]
    assert (data["budget_range"], data["budget_template"]) == ([10, 30], recipe["budget_template"])


def test_budget_adherence_hand_computed():
    from efficient_trl.budgets import budget_adherence

    # N = 100: |L - N| / N = 0.1, 0, 0.11, 1.0; within 10%: 90 and 100 (111 is 11% over); at most N: 90 and 100
    got = budget_adherence([90, 100, 111, 200], 100)
    assert got == pytest.approx(
        {
            "mean_budget_length": 125.25,
            "budget_deviation": 0.3025,
            "share_within_10pct": 0.5,
            "share_at_most_budget": 0.5,
        }
    )
    # the 10% edge in integers: 3 over 30 is within, 4 is not
    assert budget_adherence([33, 34, 27], 30)["share_within_10pct"] == pytest.approx(2 / 3)
    with pytest.raises(ValueError, match="no completions"):
        budget_adherence([], 10)


@pytest.mark.slow
def test_evaluation_by_budget_in_both_modes(tiny_r1_model_path, tmp_path, monkeypatch, capsys):
    import runpy
    import sys

    from efficient_trl.evaluation import evaluate_budgets, load_samples
    from efficient_trl.sampling import SamplingSettings

    sampling = SamplingSettings(k=2, max_new_tokens=10)
    summaries = evaluate_budgets(
        tiny_r1_model_path, "gsm8k", tmp_path / "prompt", sampling, [4, 8], mode="prompt", template="max",
        num_problems=2, backend="transformers",
    )  # fmt: skip
    for budget, summary in zip([4, 8], summaries, strict=True):
        run_dir = tmp_path / "prompt" / f"budget-{budget}"
        recorded = json.loads((run_dir / "summary.json").read_text())
        assert recorded == summary and (summary["budget"], summary["budget_mode"]) == (budget, "prompt")
        assert summary["budget_measure"] == "completion" and "thinking_budget" not in summary
        assert summary["prompt_template"].endswith(f"Question: {{problem}} Think for maximum {budget} tokens.")
        lengths = [sample.num_tokens for sample in load_samples(run_dir)]
        assert summary["mean_budget_length"] == pytest.approx(sum(lengths) / len(lengths))
        assert summary["share_at_most_budget"] == pytest.approx(sum(n <= budget for n in lengths) / len(lengths))
    # The analysis reads the rows back from the summaries (one per budget), ready to plot.
    from efficient_trl.analysis import load_results, plot_budget_adherence

    rows = load_results(tmp_path / "prompt")
    assert sorted(row["budget"] for row in rows) == [4, 8]
    assert plot_budget_adherence(rows).axes[0].lines[0].get_xydata()[:, 0].tolist() == [4, 8]
    # Budget forcing on the recipe's command line, the thinking measured: forced thinking never exceeds N.
    argv = ["evaluate.py", "--model", tiny_r1_model_path, "--dataset", "gsm8k", "--num_problems", "2", "--k", "2"]
    argv += ["--max_new_tokens", "10", "--budgets", "3", "5", "--budget_mode", "force", "--budget_measure", "thinking"]
    argv += ["--output_dir", str(tmp_path / "cli"), "--backend", "transformers"]
    monkeypatch.setattr(sys, "argv", argv)
    runpy.run_path("recipes/evaluate.py", run_name="__main__")
    for budget in (3, 5):
        summary = json.loads((tmp_path / "cli-budgets-force" / f"budget-{budget}" / "summary.json").read_text())
        assert (summary["budget"], summary["budget_mode"], summary["thinking_budget"]) == (budget, "force", budget)
        assert summary["share_at_most_budget"] == 1.0 and summary["budget_measure"] == "thinking"
    assert '"budget": 5' in capsys.readouterr().out


def test_budget_adherence_plot_draws_each_models_points():
    from efficient_trl.analysis import plot_budget_adherence

    rows = [
        {"name": "l1_max", "budget": b, "budget_mode": "prompt", "budget_measure": "completion", "accuracy": a,
         "mean_budget_length": n}
        for b, a, n in [(60, 0.9, 58.0), (40, 0.5, 45.0), (80, 0.95, 75.0)]
    ] + [
        {"name": "start", "budget": b, "budget_mode": "force", "budget_measure": "completion", "accuracy": a,
         "mean_budget_length": n}
        for b, a, n in [(40, 0.1, 52.0), (80, 0.6, 88.0)]
    ]  # fmt: skip
    figure = plot_budget_adherence(rows)
    accuracy_axes, tokens_axes = figure.axes[:2]
    points = {line.get_label(): line.get_xydata().tolist() for line in accuracy_axes.lines}
    assert points == {
        "l1_max (budget in the prompt)": [[40, 50.0], [60, 90.0], [80, 95.0]],
        "start (budget forcing)": [[40, 10.0], [80, 60.0]],
    }
    tokens = {line.get_label(): line.get_xydata().tolist() for line in tokens_axes.lines}
    assert tokens["l1_max (budget in the prompt)"] == [[40, 45.0], [60, 58.0], [80, 75.0]]
    assert tokens["L = N"] == [[40, 40], [80, 80]]
    with pytest.raises(ValueError, match="without a budget"):
        plot_budget_adherence([{"name": "alpha_0.2", "accuracy": 0.9, "mean_tokens": 50.0}])


@pytest.mark.parametrize("mode", ["exact", "max"])
def test_l1_recipes_parse_and_have_l1s_settings(mode):
    from pathlib import Path

    from accelerate.commands.config.config_args import load_config_from_file

    from efficient_trl.training import check_batch_sizes

    root = Path(__file__).resolve().parents[1]
    recipe = root / "recipes" / "deepseek-r1-distill-qwen-1.5b" / f"l1_{mode}.yaml"
    script_args, args, model_args = parse_training_arguments(
        ["--config", str(recipe), "--bf16", "false", "--use_cpu", "true"]
    )
    assert (script_args.budget_range, script_args.budget_template, args.length_reward) == (
        [100, 4000],
        mode,
        f"l1_{mode}",
    )
    assert args.resolved_length_reward()[1] == ({"a": 0.0003} if mode == "exact" else {"a": 0.0003, "d": 0.5})
    assert (args.num_generations, args.temperature, args.beta) == (16, 0.6, 1e-3)
    assert (args.learning_rate, args.max_completion_length) == ((1e-6, 4096) if mode == "exact" else (4e-6, 4500))
    assert model_args.model_name_or_path == "deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B"
    # L1's batches on the launch line's 4 processes: 128 prompts x 16 per iteration, 2 updates, 700 iterations
    processes = load_config_from_file(str(root / "accelerate_configs" / "zero2.yaml")).num_processes
    assert "accelerate_configs/zero2.yaml" in recipe.read_text() and processes == 4
    check_batch_sizes(script_args, args, processes)
    assert (script_args.completions_per_generation, script_args.completions_per_step, args.max_steps) == (
        2048,
        1024,
        1400,
    )


def test_readme_budget_snippet_selects_l1_on_a_recipe(tmp_path):
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    section = (root / "README.md").read_text().split("## Token budgets", 1)[1]
    snippet = re.search(r"```yaml\n(.*?)```", section, re.S).group(1)
    config = tmp_path / "l1.yaml"  # the README's snippet appended to a paper recipe
    config.write_text((root / "recipes" / "deepseek-r1-distill-qwen-1.5b" / "alpha_0.2.yaml").read_text() + snippet)
    script_args, args, _ = parse_training_arguments(["--config", str(config), "--bf16", "false", "--use_cpu", "true"])
    assert (script_args.budget_range, script_args.budget_template, args.length_reward) == (
        [100, 4000],
        "max",
        "l1_max",
    )
