"""Budget forcing at inference (issue 15 item 2), in both generation backends."""

import json
import sys
import types

import pytest
from datasets import Dataset
from transformers import AutoModelForCausalLM, AutoTokenizer

from efficient_trl.evaluation import SamplingSettings, evaluate_problems, generate_samples, generate_samples_vllm


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
    # No tokens left for an answer after the forced close: the sample is truncated (counted wrong).
    stand_in.calls.clear()
    (short,) = generate_samples_vllm(tiny_r1_model_path, tokenizer, prompts[1:2], SamplingSettings(
        k=1, max_new_tokens=5, thinking_budget=4, answer_cue="\\boxed{"))  # fmt: skip
    assert len(stand_in.calls) == 1 and (short.num_tokens, short.truncated) == (4 + 1 + len(cue), True)


def test_transformers_budget_forcing_generates_thinking_then_answer(tiny_r1_model_path):
    model = AutoModelForCausalLM.from_pretrained(tiny_r1_model_path)
    tokenizer = AutoTokenizer.from_pretrained(tiny_r1_model_path)
    close = tokenizer("</think>", add_special_tokens=False)["input_ids"]
    cue = tokenizer("\\boxed{", add_special_tokens=False)["input_ids"]
    seen, generate = [], model.generate

    def spy(**inputs):
        output = generate(**inputs)
        seen.append((inputs, output[:, inputs["input_ids"].shape[1] :].tolist()))
        return output

    model.generate = spy
    sampling = SamplingSettings(k=2, max_new_tokens=12, thinking_budget=3, answer_cue="\\boxed{")
    samples = generate_samples(model, tokenizer, ["1+1", "2+2"], sampling, batch_size=4)
    (first, thinking), (second, answers) = seen
    assert first["max_new_tokens"] == 3 and first["stop_strings"] == ["</think>"]
    # The random model neither closes its thoughts nor ends in 3 tokens: each is forced.
    assert all(tokenizer.eos_token_id not in row and close[0] not in row for row in thinking)
    prompts = [
        ids[mask.bool()].tolist() for ids, mask in zip(first["input_ids"], first["attention_mask"], strict=True)
    ]
    resumed = [
        ids[mask.bool()].tolist() for ids, mask in zip(second["input_ids"], second["attention_mask"], strict=True)
    ]
    assert resumed == [p + t + close + cue for p, t in zip(prompts, thinking, strict=True)]
    assert second["max_new_tokens"] == 12 - 3 - len(close) - len(cue) and "stop_strings" not in second
    for sample, think, answer in zip(samples, thinking, answers, strict=True):
        end = answer.index(tokenizer.eos_token_id) + 1 if tokenizer.eos_token_id in answer else len(answer)
        assert sample.num_tokens == 3 + len(close) + len(cue) + end and sample.thinking_tokens == 3
        assert sample.truncated == (end == len(answer) and tokenizer.eos_token_id not in answer)
        assert sample.text.startswith(tokenizer.decode(think, skip_special_tokens=True) + "</think>\\boxed{")


def test_the_thinking_budget_is_part_of_an_evaluation_runs_settings(tiny_model_path, tmp_path):
    problems = Dataset.from_dict({"prompt": ["1+1", "2+2"], "answer": ["2", "4"]})
    plain = SamplingSettings(k=1, max_new_tokens=6)
    evaluate_problems(tiny_model_path, problems, tmp_path / "plain", plain, dataset="sums", backend="transformers")
    # Runs without forcing record no forcing fields, so that run directories written before them still resume.
    assert "thinking_budget" not in json.loads((tmp_path / "plain" / "settings.json").read_text())
    forced = SamplingSettings(k=1, max_new_tokens=6, thinking_budget=2)
    evaluate_problems(tiny_model_path, problems, tmp_path / "forced", forced, dataset="sums", backend="transformers")
    recorded = json.loads((tmp_path / "forced" / "settings.json").read_text())
    assert recorded["thinking_budget"] == 2 and recorded["answer_cue"] == forced.answer_cue
    with pytest.raises(FileExistsError, match="thinking_budget"):
        evaluate_problems(
            tiny_model_path, problems, tmp_path / "forced", SamplingSettings(k=1, max_new_tokens=6, thinking_budget=3),
            dataset="sums", backend="transformers",
        )  # fmt: skip
    with pytest.raises(ValueError, match="thinking_budget must be >= 1"):
        SamplingSettings(thinking_budget=0)
