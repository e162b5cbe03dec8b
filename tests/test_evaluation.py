import importlib.util
import json
import os
import sys
from dataclasses import replace

import pytest
import torch
from efficient_trl.demo import DemoSettings, run_demo
from transformers import AutoModelForCausalLM, AutoTokenizer

from efficient_trl.analysis import load_results
from efficient_trl.evaluation import (
    EvaluationSample,
    SamplingSettings,
    evaluate,
    generate_samples,
    grade_samples,
    load_samples,
    summarize,
)
from efficient_trl.math_grader import math_accuracy_reward
from efficient_trl.provenance import read_provenance
from efficient_trl.synthetic import is_held_out, solve_with_checks, sum_problems


def test_generate_samples_counts_tokens_and_truncation(tiny_model_path):
    model = AutoModelForCausalLM.from_pretrained(tiny_model_path)
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_path)
    prompts = [[{"role": "user", "content": "1+2"}], "3+4="]
    sampling = SamplingSettings(k=3, max_new_tokens=12, temperature=1.0)
    samples = generate_samples(model, tokenizer, prompts, sampling, batch_size=4)
    assert [(s.problem_index, s.sample_index) for s in samples] == [(p, i) for p in range(2) for i in range(3)]
    for sample in samples:
        assert 1 <= sample.num_tokens <= 12
        ids = tokenizer(sample.text, add_special_tokens=False)["input_ids"]
        # a finished sample's count includes its EOS; a truncated one used the whole budget
        assert sample.num_tokens == (12 if sample.truncated else len(ids) + 1)
    again = generate_samples(model, tokenizer, prompts, sampling, batch_size=4)
    assert [s.text for s in again] == [s.text for s in samples]  # seeded


def test_bad_evaluation_input(tiny_model_path):
    model = AutoModelForCausalLM.from_pretrained(tiny_model_path)
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_path)
    with pytest.raises(ValueError, match="k must be >= 1"):
        generate_samples(model, tokenizer, ["1"], SamplingSettings(k=0))
    with pytest.raises(ValueError, match="dataset is empty"):
        generate_samples(model, tokenizer, [], SamplingSettings(k=1))
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


def test_demo_pipeline_end_to_end(tiny_demo_run, tmp_path):
    from efficient_trl.demo import DEMO_MODEL_DIR

    run_dir, rows, settings = tiny_demo_run
    assert [row["name"] for row in rows] == [
        "start", "alpha=0", "alpha=0.3", "alpha=0,norm=group", "alpha=0.3,norm=group",
        "cutoff=30", "cutoff=60", "sft", "dpo",
    ]  # fmt: skip
    # the layout evaluation writes: run_dir/eval/<model>/ per evaluated model, read back by load_results
    assert load_results(run_dir, cutoff_model="start") == rows
    assert sorted(path.name for path in (run_dir / "eval").iterdir()) == [
        "alpha_0", "alpha_0.3", "alpha_0.3_norm_group", "alpha_0_norm_group", "dpo", "sft", "start"
    ]  # fmt: skip
    for evaluation in (run_dir / "eval").iterdir():
        summary = json.loads((evaluation / "summary.json").read_text())
        assert json.loads((evaluation / "settings.json").read_text()).items() <= summary.items()
        assert len(load_samples(evaluation)) == summary["num_samples"] == 8
        model = DEMO_MODEL_DIR if evaluation.name == "start" else run_dir / evaluation.name
        assert summary["provenance"] == read_provenance(model) is not None  # every trained model records its own
        if evaluation.name != "start":  # ... saved with its training log
            assert (model / "model.safetensors").exists() and (model / "trainer_state.json").exists()
    assert all(row["num_samples"] == 8 and row["dataset"] == "held-out sums" for row in rows)
    assert rows[5]["mean_tokens"] <= 30 and (run_dir / "dpo" / "model.safetensors").exists()
    assert json.loads((run_dir / "rejection_sampling_report.json").read_text())["dpo_pairs"] >= 1
    assert [row["advantage_normalization"] for row in rows[1:5]] == ["none", "none", "group", "group"]
    assert [row["trainer"] for row in rows if row["family"] in ("sft", "dpo")] == ["sft", "dpo"]
    with pytest.raises(FileExistsError, match="never overwritten"):
        run_demo(run_dir, settings, start_model=DEMO_MODEL_DIR)
    with pytest.raises(ValueError, match="normalizations must be a non-empty list of"):
        DemoSettings(normalizations=["std"])


def test_demo_settings_are_checked_before_anything_trains():
    # These used to fail only after the earlier models had trained, leaving a run directory that was then refused.
    for settings, message in (
        ({"alphas": [0.0, 1.0]}, r"alphas must be a non-empty list of values in \[0, 1\)"),
        ({"eval_k": 0}, "eval_k must be >= 1"),
        ({"alphas": [0.2, 0.2]}, "lists a value twice"),
        ({"eval_temperature": 0.0}, "eval_temperature must be > 0"),
        ({"num_generations": 1}, "num_generations must be >= 2"),
    ):
        with pytest.raises(ValueError, match=message):
            DemoSettings(**settings)


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

    from efficient_trl.evaluation import SamplingSettings, evaluate
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


def _recording_vllm(monkeypatch, outputs) -> dict:
    """Make `import vllm` give an in-process stand-in with vLLM's interface that records the engine's arguments
    (calls["llm"]), the sampling parameters (calls["params"]) and each prompt's token ids (calls["prompt_ids"]; like
    vLLM it tokenizes a text prompt *with* special tokens), and answers every prompt with `outputs(n)`."""
    import types

    calls = {}

    class SamplingParams:
        def __init__(self, **kwargs):
            calls["params"] = kwargs

    class LLM:
        def __init__(self, **kwargs):
            calls["llm"] = kwargs
            self.tokenizer = AutoTokenizer.from_pretrained(kwargs["model"])

        def generate(self, prompts, params):
            calls["prompt_ids"] = [
                self.tokenizer(prompt)["input_ids"] if isinstance(prompt, str) else prompt["prompt_token_ids"]
                for prompt in prompts
            ]
            return [types.SimpleNamespace(outputs=outputs(calls["params"]["n"])) for _ in prompts]

    monkeypatch.setitem(sys.modules, "vllm", types.SimpleNamespace(LLM=LLM, SamplingParams=SamplingParams))
    return calls


@pytest.mark.parametrize("model_fixture", ["tiny_model_path", "tiny_r1_model_path"])
def test_vllm_backend_interface(monkeypatch, model_fixture, request):
    # vLLM cannot be installed on the test machines: a stand-in module with vLLM's interface checks what the adapter
    # sends (the prompt's token ids, sampling parameters) and how it reads the outputs back. Like vLLM, the stand-in
    # tokenizes a text prompt *with* special tokens, which gives R1-distill prompts a second BOS (vllm#9519).
    import importlib.util
    import types

    from efficient_trl.evaluation import generate_samples_vllm

    model_path = request.getfixturevalue(model_fixture)
    if importlib.util.find_spec("vllm") is None:
        with pytest.raises(ImportError, match=r"efficient-trl\[vllm\]"):
            generate_samples_vllm(model_path, None, ["1+1"])
    with pytest.raises(ValueError, match="k must be >= 1"):  # the same sampling checks as generate_samples
        generate_samples_vllm(model_path, None, ["1+1"], SamplingSettings(k=0))
    with pytest.raises(ValueError, match="temperature must be > 0"):
        generate_samples_vllm(model_path, None, ["1+1"], SamplingSettings(temperature=0.0))
    completion = types.SimpleNamespace
    calls = _recording_vllm(
        monkeypatch,
        lambda n: [
            completion(text="\\boxed{2}", token_ids=[5, 6, 1], finish_reason="stop"),
            completion(text="\\boxed{2", token_ids=[5, 6], finish_reason="length"),
        ],
    )
    tokenizer = AutoTokenizer.from_pretrained(model_path)
    prompts = [[{"role": "user", "content": "1+1"}], [{"role": "user", "content": "2+2"}]]
    samples = generate_samples_vllm(
        model_path,
        tokenizer,
        prompts,
        SamplingSettings(k=2, temperature=0.6, max_new_tokens=9, seed=4),
        skip=frozenset({(0, 0)}),
    )
    assert calls["params"] == {"n": 2, "temperature": 0.6, "top_p": 1.0, "max_tokens": 9, "seed": 4}
    # token for token the prompt the trainers build (the chat template, tokenized), with at most one BOS
    assert calls["prompt_ids"] == [
        tokenizer.apply_chat_template(p, add_generation_prompt=True, return_dict=True)["input_ids"] for p in prompts
    ]
    if tokenizer.bos_token_id is not None:
        assert [ids.count(tokenizer.bos_token_id) for ids in calls["prompt_ids"]] == [1, 1]
    assert [(s.problem_index, s.sample_index, s.num_tokens, s.truncated) for s in samples] == [
        (0, 1, 2, True),
        (1, 0, 3, False),
        (1, 1, 2, True),
    ]


def test_transformers_backend_and_rejection_sampling_with_the_r1_template(tiny_r1_model_path, tmp_path):
    # The transformers backend feeds the model the trainers' prompt ids (one BOS, "<think>\n" pre-filled), and the
    # baseline rows built from its samples make TRL's SFT tokenization reproduce exactly the sampled ids + EOS.
    from trl import SFTConfig, SFTTrainer

    from efficient_trl.baselines import rejection_sampling_datasets

    model = AutoModelForCausalLM.from_pretrained(tiny_r1_model_path)
    tokenizer = AutoTokenizer.from_pretrained(tiny_r1_model_path)
    # A real R1 never writes BOS or a role token inside its answer; the random model would, and decoding skips them.
    model.generation_config.suppress_tokens = [
        tokenizer.bos_token_id,
        *tokenizer.convert_tokens_to_ids(["<｜User｜>"]),
    ]
    seen = []
    generate = model.generate

    def spy(**inputs):
        seen.extend(
            row[mask.bool()].tolist() for row, mask in zip(inputs["input_ids"], inputs["attention_mask"], strict=True)
        )
        return generate(**inputs)

    model.generate = spy
    prompts = [[{"role": "user", "content": "1+1="}], [{"role": "user", "content": "12+3="}]]
    samples = generate_samples(
        model, tokenizer, prompts, SamplingSettings(k=2, max_new_tokens=10, temperature=1.0), batch_size=4
    )
    assert seen == [
        tokenizer.apply_chat_template(p, add_generation_prompt=True, return_dict=True)["input_ids"]
        for p in prompts
        for _ in range(2)
    ]
    assert all(ids.count(tokenizer.bos_token_id) == 1 for ids in seen)
    for sample in samples:  # graded by hand: the random model solves nothing
        sample.correct, sample.truncated = True, False
    sft, _, report = rejection_sampling_datasets(prompts, samples, tokenizer)
    assert report["problems_with_a_correct_sample"] == 2
    trainer = SFTTrainer(
        model=tiny_r1_model_path,
        args=SFTConfig(output_dir=str(tmp_path), use_cpu=True, bf16=False, report_to="none", max_steps=1),
        train_dataset=sft,
    )
    shortest = [min((s for s in samples if s.problem_index == i), key=lambda s: s.num_tokens) for i in range(2)]
    for problem, (row, sample) in enumerate(zip(trainer.train_dataset, shortest, strict=True)):
        response = tokenizer(sample.text, add_special_tokens=False)["input_ids"]
        assert row["input_ids"] == seen[2 * problem] + response + [tokenizer.eos_token_id]


# A stand-in for the vllm package, importable by spawned processes too (data parallel): every sample answers
# "\boxed{2}", and every engine and generate call is logged to a file.
_VLLM_STAND_IN = """
import json, os, types

LOG = os.environ["VLLM_STAND_IN_LOG"]


def _log(**entry):
    with open(LOG, "a") as f:
        f.write(json.dumps({"pid": os.getpid(), **entry}) + "\\n")


class SamplingParams:
    def __init__(self, **kwargs):
        self.kwargs = kwargs


class LLM:
    def __init__(self, **kwargs):
        self.calls = 0
        _log(event="engine", kwargs=kwargs, devices=os.environ.get("CUDA_VISIBLE_DEVICES"))

    def generate(self, prompts, params):
        self.calls += 1
        _log(event="generate", prompts=len(prompts))
        if self.calls == int(os.environ.get("VLLM_STAND_IN_FAIL_AT_CALL", "0")):
            raise KeyboardInterrupt
        completion = types.SimpleNamespace
        return [
            types.SimpleNamespace(
                outputs=[completion(text="\\\\boxed{2}", token_ids=[5, 6, 1], finish_reason="stop")
                         for _ in range(params.kwargs["n"])]
            )
            for _ in prompts
        ]
"""


@pytest.fixture
def vllm_stand_in(tmp_path, monkeypatch):
    """Make `import vllm` load the stand-in, in this process and in processes it spawns; returns the log path."""
    package = tmp_path / "stand_in" / "vllm"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(_VLLM_STAND_IN)
    log = tmp_path / "vllm_calls.jsonl"
    monkeypatch.setenv("VLLM_STAND_IN_LOG", str(log))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(package.parent), os.environ.get("PYTHONPATH", "")]))
    monkeypatch.syspath_prepend(str(package.parent))
    monkeypatch.delitem(sys.modules, "vllm", raising=False)
    return log


def _vllm_log(log):
    return [json.loads(line) for line in log.read_text().splitlines()]


def test_vllm_writes_chunks_and_an_interrupted_run_resumes(vllm_stand_in, tiny_model_path, tmp_path, monkeypatch):
    from efficient_trl import sampling

    monkeypatch.setattr(sampling, "VLLM_CHUNK_SIZE", 2)  # 5 problems: chunks of 2, 2, 1
    monkeypatch.setenv("VLLM_STAND_IN_FAIL_AT_CALL", "2")  # Ctrl-C while the second chunk generates
    run = tmp_path / "run"
    with pytest.raises(KeyboardInterrupt):
        evaluate(tiny_model_path, "gsm8k", run, SamplingSettings(k=2), num_problems=5, backend="vllm")
    # the first chunk (2 problems x 2 samples) was graded and written before the interruption
    assert sorted((s.problem_index, s.sample_index) for s in load_samples(run)) == [(0, 0), (0, 1), (1, 0), (1, 1)]
    monkeypatch.delenv("VLLM_STAND_IN_FAIL_AT_CALL")
    vllm_stand_in.write_text("")
    summary = evaluate(tiny_model_path, "gsm8k", run, SamplingSettings(k=2), num_problems=5, backend="vllm")
    assert [entry["prompts"] for entry in _vllm_log(vllm_stand_in) if entry["event"] == "generate"] == [2, 1]
    assert summary["num_samples"] == 10 and len(load_samples(run)) == 10


@pytest.mark.slow
def test_vllm_data_parallel_uses_every_engine_and_keeps_problem_indices(vllm_stand_in, tiny_model_path, tmp_path):
    run = tmp_path / "run"
    summary = evaluate(
        tiny_model_path, "gsm8k", run, SamplingSettings(k=3), num_problems=5, backend="vllm", data_parallel_size=2,
    )  # fmt: skip
    samples = load_samples(run)
    assert [(s.problem_index, s.sample_index) for s in samples] == [(i, j) for i in range(5) for j in range(3)]
    assert summary["num_samples"] == 15
    engines = [entry for entry in _vllm_log(vllm_stand_in) if entry["event"] == "engine"]
    generated = [entry for entry in _vllm_log(vllm_stand_in) if entry["event"] == "generate"]
    assert len({entry["pid"] for entry in engines}) == 2 and os.getpid() not in {entry["pid"] for entry in engines}
    assert sorted(entry["prompts"] for entry in generated) == [2, 3]  # problems 0, 2, 4 and 1, 3
    assert sorted(entry["kwargs"]["seed"] for entry in engines) == [0, 1]  # engines draw different samples
    with pytest.raises(ValueError, match="need the vLLM backend"):
        evaluate(tiny_model_path, "gsm8k", tmp_path / "other", backend="transformers", data_parallel_size=2)


def test_auto_backend_says_which_it_chose(vllm_stand_in, monkeypatch, capsys):
    from efficient_trl.evaluation import resolve_backend

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


def test_both_backends_sample_with_one_settings_object(tiny_model_path, monkeypatch):
    # One SamplingSettings reaches both backends, and each turns it into the same sampling: k samples at its
    # temperature, top-p 1 (no top-k), at most max_new_tokens, its seed.
    import inspect
    import types

    from efficient_trl.evaluation import generate_samples_vllm

    for backend in (generate_samples, generate_samples_vllm):
        assert list(inspect.signature(backend).parameters)[:4] == ["model", "tokenizer", "prompts", "sampling"]
    sampling = SamplingSettings(k=2, temperature=0.7, max_new_tokens=5, seed=3)
    model = AutoModelForCausalLM.from_pretrained(tiny_model_path)
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_path)
    seen, generate = [], model.generate

    def spy(**inputs):
        seen.append({key: inputs[key] for key in ("do_sample", "temperature", "top_p", "top_k", "max_new_tokens")})
        return generate(**inputs)

    model.generate = spy
    torch.manual_seed(123)  # the seed comes from the settings, not from the caller's generator
    samples = generate_samples(model, tokenizer, ["1+1", "2+2"], sampling, batch_size=4)
    torch.manual_seed(456)
    again = generate_samples(model, tokenizer, ["1+1", "2+2"], sampling, batch_size=4)
    assert [s.text for s in samples] == [s.text for s in again] and len(samples) == 4
    assert seen[0] == {"do_sample": True, "temperature": 0.7, "top_p": 1.0, "top_k": 0, "max_new_tokens": 5}
    answer = types.SimpleNamespace(text="\\boxed{2}", token_ids=[5, 1], finish_reason="stop")
    calls = _recording_vllm(monkeypatch, lambda n: [answer] * n)
    assert len(generate_samples_vllm(tiny_model_path, tokenizer, ["1+1", "2+2"], sampling)) == 4
    assert calls["params"] == {"n": 2, "temperature": 0.7, "top_p": 1.0, "max_tokens": 5, "seed": 3}
    assert calls["llm"]["seed"] == 3


def test_sampling_settings_parse_with_trl_and_check_their_values():
    from dataclasses import fields

    from trl import TrlParser

    assert all(field.metadata.get("help") for field in fields(SamplingSettings))
    (defaults,) = TrlParser((SamplingSettings,)).parse_args_and_config(args=[])
    assert defaults == SamplingSettings(k=None, temperature=0.6, max_new_tokens=32768, seed=0)  # the paper's
    (given,) = TrlParser((SamplingSettings,)).parse_args_and_config(args=["--k", "3", "--temperature", "1.0"])
    assert (given.k, given.temperature) == (3, 1.0)
    # k unset is the paper's per test set, 1 for other problems; a k given is kept
    assert [SamplingSettings().for_dataset(name).k for name in ("gsm8k", "math500", "aime24", "x.jsonl")] == [
        1, 3, 10, 1
    ]  # fmt: skip
    assert SamplingSettings(k=5).for_dataset("aime24").k == 5
    for bad, message in (({"k": 0}, "k must be >= 1"), ({"max_new_tokens": 0}, "max_new_tokens must be >= 1")):
        with pytest.raises(ValueError, match=message):
            SamplingSettings(**bad)


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


def test_demo_evaluates_and_rejection_samples_through_evaluation_run_directories(tiny_demo_run):
    # Every demo model is evaluated into run_dir/eval/<model>/ (the layout efficient_trl.analysis reads), and the
    # baselines' rejection sampling is an evaluation run too: the rows are those directories' summaries.
    run_dir, rows, settings = tiny_demo_run
    for row in rows:
        if row["family"] == "cutoff":
            continue
        directory = run_dir / "eval" / row["name"].replace("=", "_").replace(",", "_")
        summary = json.loads((directory / "summary.json").read_text())
        assert summary["accuracy"] == row["accuracy"] and summary["mean_tokens"] == row["mean_tokens"]
        assert (summary["k"], summary["max_new_tokens"], summary["dataset"]) == (1, 120, "held-out sums")
    start = json.loads((run_dir / "eval" / "start" / "summary.json").read_text())
    assert [row["cutoff"] for row in start["cutoff_baseline"]] == [30, 60]
    assert [row["accuracy"] for row in rows if row["family"] == "cutoff"] == [
        row["accuracy"] for row in start["cutoff_baseline"]
    ]
    sampled = json.loads((run_dir / "rejection_sampling" / "summary.json").read_text())
    assert (sampled["k"], sampled["temperature"], sampled["num_problems"]) == (4, 1.0, 8)
    assert not list(run_dir.glob("samples_*.jsonl"))


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
