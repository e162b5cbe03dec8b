"""The vLLM backend (efficient_trl.sampling_vllm) against stand-ins for the `vllm` module: vLLM cannot be installed
on the test machines, so each stand-in has vLLM's interface for what the backend uses and records what it is sent."""

import importlib.util
import json
import os
import sys
import types

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from efficient_trl.evaluation import evaluate, load_samples
from efficient_trl.sampling import SamplingSettings, generate_samples
from efficient_trl.sampling_vllm import generate_samples_vllm


def _recording_vllm(monkeypatch, outputs) -> dict:
    """Make `import vllm` give an in-process stand-in with vLLM's interface that records the engine's arguments
    (calls["llm"]), the sampling parameters (calls["params"]) and each prompt's token ids (calls["prompt_ids"]; like
    vLLM it tokenizes a text prompt *with* special tokens), and answers every prompt with `outputs(n)`."""
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
    from efficient_trl import sampling_vllm

    monkeypatch.setattr(sampling_vllm, "VLLM_CHUNK_SIZE", 2)  # 5 problems: chunks of 2, 2, 1
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


def test_both_backends_sample_with_one_settings_object(tiny_model_path, monkeypatch):
    # One SamplingSettings reaches both backends, and each turns it into the same sampling: k samples at its
    # temperature, top-p 1 (no top-k), at most max_new_tokens, its seed.
    import inspect

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


class ScriptedVLLM:
    """A stand-in for the `vllm` module with vLLM's interface for what budget forcing uses: `LLM.generate` on
    `prompt_token_ids` with one `SamplingParams` or one per prompt; `n`, `max_tokens` (finish_reason "length"),
    EOS (kept in token_ids, finish_reason "stop", stop_reason None) and `stop` strings (finish_reason "stop",
    stop_reason the string; the text keeps it with include_stop_str_in_output, token_ids always hold its tokens).
    Its "model" continues each prompt with the tokens `script(prompt_ids)` returns."""

    def __init__(self, tokenizer, script):
        self.calls, tokenizer_, script_ = [], tokenizer, script
        calls = self.calls

        class SamplingParams:
            def __init__(self, **kwargs):
                self.kwargs = kwargs

        class LLM:
            def __init__(self, **kwargs):
                pass

            def generate(self, prompts, params):
                params = params if isinstance(params, list) else [params] * len(prompts)
                calls.append(
                    [(prompt["prompt_token_ids"], p.kwargs) for prompt, p in zip(prompts, params, strict=True)]
                )
                return [
                    types.SimpleNamespace(
                        outputs=[self._complete(prompt["prompt_token_ids"], p.kwargs)] * p.kwargs["n"]
                    )
                    for prompt, p in zip(prompts, params, strict=True)
                ]

            def _complete(self, prompt_ids, kwargs):
                tokens, reason, stop_reason = [], "length", None
                for token in script_(prompt_ids)[: kwargs["max_tokens"]]:
                    tokens.append(token)
                    if token == tokenizer_.eos_token_id:
                        reason = "stop"
                        break
                    hit = [s for s in kwargs.get("stop", []) if tokenizer_.decode(tokens).endswith(s)]
                    if hit:
                        reason, stop_reason = "stop", hit[0]
                        break
                text = tokenizer_.decode(tokens, skip_special_tokens=True)
                if stop_reason and not kwargs.get("include_stop_str_in_output"):
                    text = text[: -len(stop_reason)]
                return types.SimpleNamespace(
                    text=text, token_ids=tokens, finish_reason=reason, stop_reason=stop_reason
                )

        self.module = types.SimpleNamespace(LLM=LLM, SamplingParams=SamplingParams)


def test_vllm_budget_forcing_closes_thinking_and_counts_every_part(tiny_r1_model_path, monkeypatch):
    tokenizer = AutoTokenizer.from_pretrained(tiny_r1_model_path)
    ids = lambda text: tokenizer(text, add_special_tokens=False)["input_ids"]  # noqa: E731
    eos, close, cue = tokenizer.eos_token_id, ids("</think>"), ids("\\boxed{")
    thoughts = {"A": ids("ab") + close + ids("\\boxed{2}") + [eos], "B": ids("abcdefgh"), "C": ids("ab") + [eos]}

    def script(prompt_ids):
        text = tokenizer.decode(prompt_ids)
        if text.endswith("</think>\\boxed{"):  # forced: the answer after the cue
            return ids("2}") + [eos]
        if text.endswith("</think>"):  # closed by the model: its answer
            return ids("\\boxed{2}") + [eos]
        return thoughts[text.split("<｜Assistant｜>")[0][-1]]

    stand_in = ScriptedVLLM(tokenizer, script)
    monkeypatch.setitem(sys.modules, "vllm", stand_in.module)
    prompts = [[{"role": "user", "content": problem}] for problem in "ABC"]
    sampling = SamplingSettings(k=1, max_new_tokens=20, thinking_budget=4, answer_cue="\\boxed{", seed=5)
    samples = generate_samples_vllm(tiny_r1_model_path, tokenizer, prompts, sampling)
    thinking, answers = stand_in.calls
    assert thinking[0][1] == {
        "n": 1, "temperature": 0.6, "top_p": 1.0, "max_tokens": 4, "seed": 5, "stop": ["</think>"],
        "include_stop_str_in_output": True,
    }  # fmt: skip
    prompt_ids = [thinking[i][0] for i in range(3)]
    # A closed its thoughts itself: its answer follows with no cue; B ran into the budget: 4 thinking tokens,
    # `</think>` and the cue appended; C ended (EOS) without closing: no second phase.
    assert [a[0] for a in answers] == [prompt_ids[0] + ids("ab") + close, prompt_ids[1] + ids("abcd") + close + cue]
    assert [a[1]["max_tokens"] for a in answers] == [20 - 3, 20 - 4 - 1 - len(cue)]
    assert [(s.text, s.num_tokens, s.truncated, s.thinking_tokens) for s in samples] == [
        ("ab</think>\\boxed{2}", 3 + len(ids("\\boxed{2}")) + 1, False, 2),
        ("abcd</think>\\boxed{2}", 4 + 1 + len(cue) + 3, False, 4),
        ("ab", 3, False, 3),
    ]


def test_vllm_budget_forcing_keeps_the_token_limit(tiny_r1_model_path, monkeypatch):
    # Issue 23 item 8: with a budget at or above max_new_tokens, `</think>` and the cue were appended past the limit.
    tokenizer = AutoTokenizer.from_pretrained(tiny_r1_model_path)
    ids = lambda text: tokenizer(text, add_special_tokens=False)["input_ids"]  # noqa: E731
    eos, close, cue = tokenizer.eos_token_id, ids("</think>"), ids("\\boxed{")

    def script(prompt_ids):  # thinks on and on; after the forced cue, answers
        return ids("2}") + [eos] if tokenizer.decode(prompt_ids).endswith("</think>\\boxed{") else ids("ab") * 40

    stand_in = ScriptedVLLM(tokenizer, script)
    monkeypatch.setitem(sys.modules, "vllm", stand_in.module)
    forced, answer = 4 + len(close) + len(cue), len(ids("2}")) + 1
    expected = {  # (budget, max_new_tokens): (num_tokens, truncated, thinking_tokens)
        (4, forced - 1): (4, True, 4),  # `</think>` and the cue do not fit: nothing is appended
        (4, forced): (forced, True, 4),  # they fit, with no token left for an answer
        (4, forced + 1): (forced + 1, True, 4),  # the answer reaches the limit
        (4, forced + answer): (forced + answer, False, 4),  # the answer ends (EOS) within it
        (10, 10): (10, True, 10),  # a budget at the limit: the thinking reaches it
        (64, 10): (10, True, 10),  # and above it
    }
    for (budget, limit), (tokens, truncated, thinking) in expected.items():
        sampling = SamplingSettings(k=1, max_new_tokens=limit, thinking_budget=budget, answer_cue="\\boxed{")
        (sample,) = generate_samples_vllm(
            tiny_r1_model_path, tokenizer, [[{"role": "user", "content": "B"}]], sampling
        )
        found = (sample.num_tokens, sample.truncated, sample.thinking_tokens)
        assert found == (tokens, truncated, thinking), f"budget {budget}, max_new_tokens {limit}"
