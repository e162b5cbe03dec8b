import importlib.util
import json
import sys
from dataclasses import replace

import pytest
import torch

from efficient_trl.evaluation import evaluate, grade_samples, summarize
from efficient_trl.math_grader import math_accuracy_reward
from efficient_trl.sampling import EvaluationSample, SamplingSettings
from efficient_trl.synthetic import is_held_out, solve_with_checks, sum_problems


def test_ungraded_samples_are_not_summarized():
    with pytest.raises(ValueError, match="grade the samples"):
        summarize([EvaluationSample(0, 0, "x", 3, False)])


def test_average_pass_at_k_and_truncation():
    samples = [
        EvaluationSample(0, 0, "\\boxed{3}", 10, False),
        EvaluationSample(0, 1, "\\boxed{4}", 20, False),
        EvaluationSample(1, 0, "\\boxed{7}", 30, False),
        EvaluationSample(1, 1, "\\boxed{7}", 40, True),  # right box, but cut off: wrong
    ]
    grade_samples(samples, ["3", "7"])
    assert [s.correct for s in samples] == [True, False, True, False]
    assert samples[1].extracted_answer == "4"
    summary = summarize(samples)
    assert summary["accuracy"] == 0.5 and summary["mean_tokens"] == 25 and summary["mean_tokens_correct"] == 20
    assert summary["truncation_rate"] == 0.25 and summary["num_problems"] == 2


def test_synthetic_solutions_are_correct_and_splits_disjoint():
    assert solve_with_checks([3, 5, 2, 8], 1) == (
        "<think>3+5=8.8+2=10.10+8=18.Check:8+2=10.10+5=15.15+3=18.</think>\\boxed{18}"
    )
    train = sum_problems(200, seed=1, with_solutions=True)
    held_out = sum_problems(100, seed=3, split="held_out")
    assert not set(train["problem"]) & set(held_out["problem"])
    assert all(is_held_out(p) for p in held_out["problem"]) and not any(is_held_out(p) for p in train["problem"])
    completions = [row[0]["content"] for row in train["completion"]]
    assert math_accuracy_reward(completions, answer=train["answer"]) == [1.0] * 200
    assert {c.count("Check:") for c in completions} == {0, 1, 2, 3}


def test_cutoff_baseline_from_existing_samples():
    from efficient_trl.evaluation import cutoff_baseline

    samples = [
        EvaluationSample(0, 0, "\\boxed{3}", 100, False),
        EvaluationSample(1, 0, "\\boxed{7}", 5000, False),
        EvaluationSample(2, 0, "\\boxed{1}", 9000, False),
    ]
    grade_samples(samples, ["3", "7", "2"])
    rows = cutoff_baseline(samples, cutoffs=(8192, 4096))
    assert [row["cutoff"] for row in rows] == [4096, 8192]
    assert rows[0]["accuracy"] == pytest.approx(1 / 3) and rows[0]["mean_tokens"] == pytest.approx(
        (100 + 4096 * 2) / 3
    )
    assert rows[1]["accuracy"] == pytest.approx(2 / 3) and rows[1]["mean_tokens"] == pytest.approx(
        (100 + 5000 + 8192) / 3
    )
    with pytest.raises(ValueError, match="positive token counts"):
        cutoff_baseline(samples, cutoffs=(0,))


def test_shipped_test_sets():
    from efficient_trl.data import load_problems

    gsm8k, aime24 = load_problems("gsm8k"), load_problems("aime24")
    assert (len(gsm8k), len(aime24)) == (1319, 30)
    assert gsm8k[0]["answer"] == "18" and aime24[0]["answer"] == "204"


def test_evaluation_run_directory_resumes_and_refuses(tiny_model_path, tmp_path):
    from efficient_trl.evaluation import evaluate

    run = tmp_path / "run"
    sampling, options = SamplingSettings(k=2, max_new_tokens=6), dict(num_problems=3, batch_size=2)
    summary = evaluate(tiny_model_path, "math500", run, sampling, **options)
    lines = (run / "samples.jsonl").read_text().splitlines()
    assert len(lines) == 6 and summary["num_samples"] == 6 and summary["k"] == 2
    assert set(summary["by_level"]) <= {"1", "2", "3", "4", "5"}
    assert [row["cutoff"] for row in summary["cutoff_baseline"]] == [8000, 16000, 20000, 24000, 32000]
    assert (run / "summary.csv").read_text().startswith("cutoff,accuracy,")
    assert not list(run.glob("*.tmp"))

    # Interrupted after 3 samples (the last line torn): the same call finishes the run without redoing them.
    (run / "samples.jsonl").write_text("\n".join(lines[:3]) + '\n{"problem_index": 2, "sam')
    (run / "summary.json").unlink()
    resumed = evaluate(tiny_model_path, "math500", run, sampling, **options)
    kept = [json.loads(line) for line in (run / "samples.jsonl").read_text().splitlines()[:3]]
    assert resumed["num_samples"] == 6 and kept == [json.loads(line) for line in lines[:3]]

    with pytest.raises(FileExistsError, match="other settings"):
        evaluate(tiny_model_path, "math500", run, replace(sampling, temperature=1.0), **options)


def test_evaluation_records_the_models_provenance(tiny_model_path, tmp_path):
    import shutil

    from efficient_trl.evaluation import evaluate
    from efficient_trl.provenance import write_provenance

    model = shutil.copytree(tiny_model_path, tmp_path / "model")
    options = dict(sampling=SamplingSettings(k=1, max_new_tokens=4), num_problems=2)
    assert evaluate(str(model), "gsm8k", tmp_path / "run", **options)["provenance"] is None  # none recorded
    # rerunning the same command (what load_results' warning about old summaries says) resumes from the samples and
    # records what the model directory now says about itself
    samples = (tmp_path / "run" / "samples.jsonl").read_text()
    provenance = {"schema": 1, "trainer": "grpo", "length_reward": {"name": "sigmoid", "alpha": 0.1}}
    write_provenance(model, provenance)
    summary = evaluate(str(model), "gsm8k", tmp_path / "run", **options)
    assert (
        summary["provenance"]
        == provenance
        == json.loads((tmp_path / "run" / "summary.json").read_text())["provenance"]
    )
    assert (tmp_path / "run" / "samples.jsonl").read_text() == samples


def test_evaluation_bad_input_fails_early(tiny_model_path, tmp_path):
    from efficient_trl.evaluation import evaluate

    with pytest.raises(ValueError, match="shipped test sets are \\['aime24', 'gsm8k', 'math500'\\]"):
        evaluate(tiny_model_path, "math5000", tmp_path / "a")
    with pytest.raises(FileNotFoundError, match="neither a local directory"):
        evaluate("no-such-model", "math500", tmp_path / "b")
    with pytest.raises(ValueError, match="k must be >= 1"):
        evaluate(tiny_model_path, "math500", tmp_path / "c", SamplingSettings(k=0))
    empty = tmp_path / "empty.jsonl"
    empty.write_text(json.dumps({"problem": "x", "answer": "1"}) + "\n")
    with pytest.raises(ValueError, match="no problems"):
        evaluate(tiny_model_path, str(empty), tmp_path / "d", num_problems=0)
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_auto_backend_says_which_it_chose(monkeypatch, capsys):
    import importlib.machinery
    import types

    from efficient_trl.evaluation import resolve_backend

    vllm = types.ModuleType("vllm")  # installed, as far as importlib.util.find_spec can tell
    vllm.__spec__ = importlib.machinery.ModuleSpec("vllm", None)
    monkeypatch.setitem(sys.modules, "vllm", vllm)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_backend("auto") == "transformers"
    assert "no CUDA device" in capsys.readouterr().out
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert resolve_backend("auto") == "vllm"
    assert "vLLM is installed and CUDA is present" in capsys.readouterr().out
    assert resolve_backend("transformers") == "transformers"
    with pytest.raises(ValueError, match="backend must be one of"):
        resolve_backend("tgi")


def test_a_failed_evaluation_does_not_block_the_corrected_command(tiny_model_path, tmp_path):
    from efficient_trl.evaluation import evaluate

    run, options = tmp_path / "run", dict(num_problems=1)
    sampling = dict(k=1, max_new_tokens=4)
    mistakes = [(ValueError, "temperature must be > 0", {"temperature": 0.0})]
    mistakes += [(ValueError, "batch_size must be >= 1", {"batch_size": 0})]
    if importlib.util.find_spec("vllm") is None:
        mistakes += [(ImportError, r"pip install 'efficient-trl\[vllm\]'", {"backend": "vllm"})]
    for error, message, mistake in mistakes:
        with pytest.raises(error, match=message):
            sampling_mistake = {key: value for key, value in mistake.items() if key == "temperature"}
            run_mistake = {key: value for key, value in mistake.items() if key != "temperature"}
            evaluate(
                tiny_model_path,
                "gsm8k",
                run,
                SamplingSettings(**sampling, **sampling_mistake),
                **options,
                **run_mistake,
            )
        assert not run.exists()
    with pytest.raises(FileNotFoundError, match="neither a local directory nor a hub name: check the path"):
        evaluate(str(tmp_path / "runs" / "alpha_0.2"), "gsm8k", run, SamplingSettings(**sampling), **options)
    # A run that failed before its first sample (say, out of memory loading the model) holds nothing to keep.
    run.mkdir()
    (run / "settings.json").write_text(json.dumps({"model": "another", "k": 9}))
    assert evaluate(tiny_model_path, "gsm8k", run, SamplingSettings(**sampling), **options)["num_samples"] == 1


def test_evaluation_refuses_samples_of_replaced_weights(tiny_model_path, tmp_path):
    import shutil

    from efficient_trl.evaluation import evaluate
    from efficient_trl.testing import build_tiny_model

    model, run, options = tmp_path / "model", tmp_path / "run", dict(num_problems=1)
    sampling = SamplingSettings(k=1, max_new_tokens=4)
    shutil.copytree(tiny_model_path, model)
    evaluate(str(model), "gsm8k", run, sampling, **options)
    shutil.copytree(model, tmp_path / "copy")  # the same weights, copied (new mtimes): still the same run
    assert (run / "settings.json").exists()
    build_tiny_model(model, seed=1)  # new weights at the same path
    with pytest.raises(FileExistsError, match="model_fingerprint"):
        evaluate(str(model), "gsm8k", run, sampling, **options)


def test_unreadable_gold_answers_are_refused_and_counted(tiny_model_path, tmp_path):
    from efficient_trl.data import check_gold_answers, load_problems
    from efficient_trl.evaluation import evaluate

    problems = tmp_path / "problems.jsonl"
    rows = [{"problem": "1+1", "solution": "two"}, {"problem": "2+2", "answer": ""}, {"problem": "3", "answer": "}{"}]
    problems.write_text("".join(json.dumps(row) + "\n" for row in rows))
    with pytest.raises(ValueError, match=r"3 of its 3 gold answers cannot be read \(2 empty, 1 that math-verify"):
        evaluate(tiny_model_path, str(problems), tmp_path / "run", SamplingSettings(k=1, max_new_tokens=4))
    assert not (tmp_path / "run").exists()
    mixed = load_problems("gsm8k").select(range(4))
    mixed = mixed.map(lambda row, index: {"answer": "" if index == 0 else row["answer"]}, with_indices=True)
    with pytest.warns(UserWarning, match="1 of its 4 gold answers cannot be read"):
        check_gold_answers(mixed, "gsm8k")
    with pytest.raises(FileNotFoundError, match="python recipes/prepare_data.py --output_dir data/no-such-set"):
        load_problems("data/no-such-set")


def test_evaluate_is_resolve_problems_then_evaluate_problems(tiny_model_path, tmp_path):
    from efficient_trl.data import PAPER_PROMPT
    from efficient_trl.evaluation import evaluate_problems, resolve_problems

    problems = resolve_problems("gsm8k", num_problems=2)
    assert len(problems) == 2 and problems[0]["prompt"][0]["content"].startswith("Please reason step by step")
    sampling = SamplingSettings(k=1, max_new_tokens=4)
    whole = evaluate(tiny_model_path, "gsm8k", tmp_path / "a", sampling, num_problems=2, backend="transformers")
    parts = evaluate_problems(
        tiny_model_path, problems, tmp_path / "b", sampling, dataset="gsm8k", prompt_template=PAPER_PROMPT,
        backend="transformers",
    )  # fmt: skip
    assert parts == whole
    assert (tmp_path / "a" / "settings.json").read_text() == (tmp_path / "b" / "settings.json").read_text()
    with pytest.raises(ValueError, match=r"no \['answer'\] column"):
        evaluate_problems(tiny_model_path, problems.remove_columns("answer"), tmp_path / "c", sampling, dataset="x")
    assert not (tmp_path / "c").exists()


def test_the_tests_addition_problems_are_sum_problems_with_options():
    # testing.arithmetic_dataset became these options of sum_problems: the same rows for the same seed (plus the
    # problem column), so that the trainer tests' numbers stay as they were.
    from efficient_trl.testing import TWO_TERM_SUMS

    rows = sum_problems(4, seed=0, **TWO_TERM_SUMS)
    assert rows["prompt"] == [[{"role": "user", "content": f"{p}="}] for p in ("49+97", "53+5", "33+65", "62+51")]
    assert rows["answer"] == ["146", "58", "98", "113"] and rows["problem"][0] == "49+97"
    plain = sum_problems(4, seed=1, conversational=False, **TWO_TERM_SUMS)
    assert plain["prompt"] == ["17+72=", "97+8=", "32+15=", "63+97="] and plain["answer"][-1] == "160"
    assert any(is_held_out(p) for p in sum_problems(200, seed=0, **TWO_TERM_SUMS)["problem"])  # no split filter
    with pytest.raises(ValueError, match="split must be one of"):
        sum_problems(1, seed=0, split="test")


def test_summary_by_tier_is_the_summary_of_each_tiers_samples(tmp_path):
    from efficient_trl.evaluation import cutoff_baseline, write_summary

    tiers = ["hard", "easy", None, "hard", "easy"]  # problem 2 has no tier
    samples = [
        EvaluationSample(problem, index, f"\\boxed{{{problem + index}}}", 10 * (problem + 1) + index, problem == 3)
        for problem in range(5)
        for index in range(2)
    ]
    grade_samples(samples, [str(problem) for problem in range(5)])
    settings = {"model": "m", "dataset": "d"}
    (tmp_path / "run").mkdir()
    summary = write_summary(tmp_path / "run", settings, samples, (15, 45), {"schema": 1}, tiers=tiers)
    # in the order the tiers first appear among the problems; each holds the whole summary's fields for its samples
    assert list(summary["by_tier"]) == ["hard", "easy"]
    for tier, problems in (("hard", {0, 3}), ("easy", {1, 4})):
        group = [sample for sample in samples if sample.problem_index in problems]
        assert summary["by_tier"][tier] == {**summarize(group), "cutoff_baseline": cutoff_baseline(group, (15, 45))}
    hard = summary["by_tier"]["hard"]
    assert (hard["accuracy"], hard["num_problems"], hard["truncation_rate"]) == (0.25, 2, 0.5)
    assert hard["mean_tokens"] == (10 + 11 + 40 + 41) / 4 and hard["accuracy_stderr"] == pytest.approx(0.25)
    assert json.loads((tmp_path / "run" / "summary.json").read_text())["by_tier"] == summary["by_tier"]
    # no tier on any problem: no by_tier
    for no_tiers in (None, [None] * 5):
        assert "by_tier" not in write_summary(tmp_path / "run", settings, samples, (), None, tiers=no_tiers)


def test_graded_evaluation_reports_by_tier_and_by_budget_and_tier(tmp_path):
    from efficient_trl.evaluation import evaluate_problems, evaluate_problems_by_budget, load_samples
    from efficient_trl.experiments.engine import START_MODELS
    from efficient_trl.synthetic import graded_problems

    problems = graded_problems(6, seed=3, split="held_out")
    sampling, options = SamplingSettings(k=2, max_new_tokens=48), {"dataset": "graded", "batch_size": 12}
    summary = evaluate_problems(str(START_MODELS["graded"]), problems, tmp_path / "run", sampling, **options)
    assert list(summary["by_tier"]) == ["easy", "medium", "hard"]
    samples = load_samples(tmp_path / "run")
    for tier, entry in summary["by_tier"].items():
        group = [sample for sample in samples if problems[sample.problem_index]["tier"] == tier]
        assert {key: entry[key] for key in summarize(group)} == summarize(group) and entry["num_problems"] == 2
    # the same problems without their tiers: the same summary, without by_tier
    plain = evaluate_problems(
        str(START_MODELS["graded"]), problems.remove_columns("tier"), tmp_path / "plain", sampling, **options
    )
    assert "by_tier" not in plain and {key: plain[key] for key in summarize(samples)} == summarize(samples)

    (budget,) = evaluate_problems_by_budget(
        str(START_MODELS["graded"]), problems, tmp_path / "budgets", sampling, [16], mode="force",
        prompt_template=None, **options,
    )  # fmt: skip
    assert list(budget["by_tier"]) == ["easy", "medium", "hard"]
    for entry in budget["by_tier"].values():  # each tier also gets the budget adherence metrics
        assert {"mean_budget_length", "budget_deviation", "share_at_most_budget"} <= set(entry)
    assert json.loads((tmp_path / "budgets" / "budget-16" / "summary.json").read_text()) == budget
