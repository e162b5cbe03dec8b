import importlib.util
import json
import re
import sys
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from efficient_trl.evaluation import evaluate, grade_samples, summarize
from efficient_trl.experiments.engine import START_MODELS
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


def test_truncated_samples_graded_on_their_last_box_as_the_authors_script_did():
    samples = [
        EvaluationSample(0, 0, "\\boxed{7}", 30, False),
        EvaluationSample(0, 1, "so \\boxed{7} and on", 40, True),  # cut off after a right box
        EvaluationSample(0, 2, "\\boxed{7}</think> so the answer is", 40, True),  # the box is in the thinking
        EvaluationSample(0, 3, "\\boxed{7} then \\boxed{8", 40, True),  # the last box never closed
        EvaluationSample(0, 4, "\\boxed{8} no EOS", 40, True),  # a wrong box
    ]
    paper = grade_samples([replace(sample) for sample in samples], ["7"])
    assert [s.correct for s in paper] == [True, False, False, False, False]  # the default: cut off is wrong
    authors = grade_samples([replace(sample) for sample in samples], ["7"], truncated_grading="last_box")
    assert [s.correct for s in authors] == [True, True, True, False, False]
    assert [s.extracted_answer for s in authors] == ["7", "7", "7", None, "8"]
    assert summarize(authors)["truncation_rate"] == summarize(paper)["truncation_rate"] == 0.8  # still counted
    with pytest.raises(ValueError, match=r"truncated_grading must be one of \['wrong', 'last_box'\]"):
        grade_samples(samples, ["7"], truncated_grading="box")


def test_truncated_grading_is_recorded_and_another_rule_is_another_run(tiny_model_path, tmp_path, monkeypatch):
    from efficient_trl.scripts.evaluate import main

    options = dict(sampling=SamplingSettings(k=1, max_new_tokens=4), num_problems=2)
    default = evaluate(tiny_model_path, "gsm8k", tmp_path / "paper", **options)
    assert "truncated_grading" not in default  # absent: the paper's rule, as every earlier run
    with pytest.raises(ValueError, match="truncated_grading must be one of"):
        evaluate(tiny_model_path, "gsm8k", tmp_path / "bad", truncated_grading="anywhere", **options)
    assert not (tmp_path / "bad").exists()
    with pytest.raises(FileExistsError, match="other settings"):
        evaluate(tiny_model_path, "gsm8k", tmp_path / "paper", truncated_grading="last_box", **options)
    # The command-line flag: recorded in settings.json and summary.json, in a run directory of its own.
    monkeypatch.chdir(tmp_path)
    argv = ["--model", tiny_model_path, "--dataset", "gsm8k", "--num_problems", "2", "--max_new_tokens", "4"]
    main([*argv, "--truncated_grading", "last_box"])
    (run,) = (tmp_path / "runs" / "eval").glob("*/gsm8k-k1-t0.6-max4-n2-last_box")
    for record in ("settings.json", "summary.json"):
        assert json.loads((run / record).read_text())["truncated_grading"] == "last_box"


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

    with pytest.raises(FileExistsError, match=r"other settings.*choose another output directory \(--output_dir\)"):
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
    with pytest.raises(FileNotFoundError, match="no such directory: no-such-model"):
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
    with pytest.raises(FileNotFoundError, match="no such directory: .*alpha_0.2 \\(a local path"):
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


DEMO_MODEL = str(START_MODELS["sums"])


def test_a_local_looking_path_that_does_not_exist_is_no_such_directory(monkeypatch, tmp_path):
    # runs/x is local when runs/ is a local directory; ./x, ../x, /abs/x and ~/x always; owner/name may be a hub name,
    # which offline must be in the hub cache. All refused before anything is created.
    from efficient_trl.evaluation import check_model_reference
    from efficient_trl.scripts.evaluate import main

    monkeypatch.chdir(tmp_path)
    (tmp_path / "runs").mkdir()
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    for model, why in [
        ("runs/x", "since runs/ is a local directory"),
        ("./x", "since it starts with ."),
        ("../x", "since it starts with ."),
        ("/abs/x", "since it starts with /"),
        ("runs/x/y", "since a hub name is written owner/name"),
    ]:
        expected = f"no such directory: {model} (a local path, {why}"
        with pytest.raises(FileNotFoundError, match=f"^{re.escape(expected)}"):
            check_model_reference(model)
    with pytest.raises(FileNotFoundError, match="^no such directory: nobody-xyz/none; nor, read as a hub name, is"):
        check_model_reference("nobody-xyz/none")
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    check_model_reference("nobody-xyz/none")  # online it may be a hub name: the hub answers
    with pytest.raises(FileNotFoundError, match="^no such directory: runs/x "):
        main(["--model", "runs/x", "--dataset", "sums"])
    assert [path.name for path in tmp_path.rglob("*")] == ["runs"]  # no run directory, no lock file


def test_a_demo_task_is_a_dataset_with_its_own_prompt(tmp_path):
    # The experiments' held-out problems, prompted as the bare problem (the demo model's format); graded keeps tiers
    from efficient_trl.data import PAPER_PROMPT, TASK_PROMPT
    from efficient_trl.evaluation import resolve_problems
    from efficient_trl.experiments.engine import held_out_problems
    from efficient_trl.experiments.settings import ExperimentSettings
    from efficient_trl.scripts.evaluate import main

    for task in ("sums", "multi_sums", "graded"):
        ours = resolve_problems(task, num_problems=6)
        theirs = held_out_problems(task, ExperimentSettings(eval_problems=6))
        assert ours["problem"] == theirs["problem"] and ours["prompt"] == theirs["prompt"]
    assert resolve_problems("graded", num_problems=6)["tier"] == ["easy", "medium", "hard"] * 2
    assert len(resolve_problems("sums")) == 1000  # the demo's evaluation set
    run = tmp_path / "sums"
    main(["--model", DEMO_MODEL, "--dataset", "sums", "--num_problems", "20", "--max_new_tokens", "160",
          "--output_dir", str(run)])  # fmt: skip
    summary = json.loads((run / "summary.json").read_text())
    assert summary["prompt_template"] == TASK_PROMPT and summary["num_problems"] == 20
    assert summary["accuracy"] >= 0.9
    paper = tmp_path / "paper"  # the paper's prompt, which the demo model was never trained on
    main(["--model", DEMO_MODEL, "--dataset", "sums", "--num_problems", "20", "--max_new_tokens", "160",
          "--output_dir", str(paper), "--prompt_template", PAPER_PROMPT])  # fmt: skip
    assert json.loads((paper / "summary.json").read_text())["accuracy"] < 0.5


def test_the_default_output_dir_names_the_settings_that_differ(monkeypatch, tmp_path):
    from efficient_trl.data import PAPER_PROMPT
    from efficient_trl.evaluation import default_output_dir
    from efficient_trl.scripts.evaluate import main

    base = "runs/eval/demo_model/sums-k1-t0.6-max32768"  # the name runs already have: they still resume
    assert default_output_dir(DEMO_MODEL, "sums", SamplingSettings()) == base
    assert default_output_dir(DEMO_MODEL, "sums", SamplingSettings(), prompt_template="{problem}") == base
    assert default_output_dir(DEMO_MODEL, "math500", SamplingSettings(), prompt_template=PAPER_PROMPT).endswith(
        "/math500-k3-t0.6-max32768"
    )
    other = default_output_dir(DEMO_MODEL, "sums", SamplingSettings(seed=1, thinking_budget=8), num_problems=5)
    assert other == f"{base}-seed1-thinking_budget8-n5"
    prompted = default_output_dir(DEMO_MODEL, "sums", SamplingSettings(), prompt_template="Q: {problem}")
    assert prompted.startswith(f"{base}-prompt") and len(prompted) == len(base) + len("-prompt") + 8
    # The rerun into the same directory: the same settings resume it; other settings go to their own directory
    monkeypatch.chdir(tmp_path)
    command = ["--model", DEMO_MODEL, "--dataset", "sums", "--num_problems", "3", "--max_new_tokens", "60"]
    main(command)
    first = tmp_path / "runs/eval/demo_model/sums-k1-t0.6-max60-n3"
    samples = (first / "samples.jsonl").read_text()
    main(command)
    assert (first / "samples.jsonl").read_text() == samples
    main([*command, "--seed", "1"])
    main([*command, "--prompt_template", "{problem}="])
    suffixed = default_output_dir(DEMO_MODEL, "sums", SamplingSettings(max_new_tokens=60), num_problems=3,
                                  prompt_template="{problem}=")  # fmt: skip
    assert sorted(path.name for path in first.parent.iterdir()) == sorted(
        [first.name, "sums-k1-t0.6-max60-seed1-n3", Path(suffixed).name]
    )


def test_summary_reports_answers_without_thinking_and_each_modes_figures():
    # Texts as the demo models write them (no pre-fill: "<think>...</think>\boxed{}") and as R1-distill ones do
    # after their "<think>\n" pre-fill ("</think>..." right away is no thinking).
    samples = [
        EvaluationSample(0, 0, "<think>3+5=8.</think>\\boxed{8}", 10, False),  # think, right
        EvaluationSample(0, 1, "<think></think>\\boxed{8}", 4, False),  # no thinking, right
        EvaluationSample(1, 0, "\n</think>\n\n\\boxed{6}", 2, False),  # no thinking, wrong
        EvaluationSample(1, 1, "<think>2+5=7.</think>\\boxed{7}", 20, False),  # think, right
        EvaluationSample(1, 2, "<think>2+5=7.2+5", 30, True),  # never closed: thinking, wrong
    ]
    summary = summarize(grade_samples(samples, ["8", "7"]))
    assert summary["no_think_rate"] == pytest.approx(2 / 5)
    think, no_think = summary["by_mode"]["think"], summary["by_mode"]["no_think"]
    assert (think["share"], think["num_samples"], no_think["share"], no_think["num_samples"]) == (0.6, 3, 0.4, 2)
    # accuracy over the samples of the mode (2 of 3; 1 of 2), not per problem; tokens over them too
    assert think["accuracy"] == pytest.approx(2 / 3) and no_think["accuracy"] == pytest.approx(1 / 2)
    assert think["mean_tokens"] == 20 and no_think["mean_tokens"] == 3
    assert think["accuracy_stderr"] == pytest.approx((1 / 3 / 3) ** 0.5)  # sample variance 1/3, three samples
    assert no_think["mean_tokens_stderr"] == pytest.approx(1.0)  # tokens 4 and 2: variance 2, two samples
    # a mode without samples has no accuracy or tokens, rather than a made-up zero
    alone = summarize(samples[:1])["by_mode"]["no_think"]
    assert alone == {"share": 0.0, "num_samples": 0, "accuracy": None, "accuracy_stderr": None,
                     "mean_tokens": None, "mean_tokens_stderr": None}  # fmt: skip


def test_a_real_evaluation_reports_answers_without_thinking_per_tier(tmp_path):
    # The shipped graded model answers some problems without thinking (its shortcut); forced to a thinking budget of
    # one token (its "<think>"), budget forcing closes the thinking at once: every answer is then given without
    # thinking, on every tier.
    from efficient_trl.evaluation import evaluate_problems, load_samples
    from efficient_trl.synthetic import graded_problems

    problems = graded_problems(6, seed=3, split="held_out")
    for budget in (None, 1):
        sampling = SamplingSettings(k=2, max_new_tokens=64, thinking_budget=budget)
        run = tmp_path / f"budget-{budget}"
        summary = evaluate_problems(
            str(START_MODELS["graded"]), problems, run, sampling, dataset="graded", batch_size=12
        )
        samples = load_samples(run)
        opened = [sample for sample in samples if sample.text.startswith("<think></think>")]  # the text, counted
        rate = len(opened) / len(samples)
        assert rate == 1.0 if budget else rate < 1.0
        assert summary["no_think_rate"] == rate == json.loads((run / "summary.json").read_text())["no_think_rate"]
        for mode, group in (("no_think", opened), ("think", [s for s in samples if s not in opened])):
            figures = summary["by_mode"][mode]
            assert figures["num_samples"] == len(group) and figures["share"] == len(group) / len(samples) == (
                rate if mode == "no_think" else 1 - rate
            )
            if group:  # accuracy over the mode's samples
                assert figures["accuracy"] == pytest.approx(sum(sample.correct for sample in group) / len(group))
        assert list(summary["by_tier"]) == ["easy", "medium", "hard"]
        for tier, entry in summary["by_tier"].items():  # per tier, from that tier's samples
            group = [sample for sample in samples if problems[sample.problem_index]["tier"] == tier]
            assert entry["no_think_rate"] == sum(sample in opened for sample in group) / len(group)
            assert entry["by_mode"] == summarize(group)["by_mode"]
