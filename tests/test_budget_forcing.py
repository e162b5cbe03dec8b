"""Budget forcing at inference (issue 15 item 2): the transformers backend, and the token limit in both backends."""

import json

import pytest
from datasets import Dataset
from transformers import AutoModelForCausalLM, AutoTokenizer

from efficient_trl.evaluation import evaluate_problems
from efficient_trl.sampling import SamplingSettings, generate_samples


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


def test_budget_forcing_keeps_the_token_limit(tiny_r1_model_path):
    # Issue 23 item 8: with a budget at or above max_new_tokens, `</think>` and the cue were appended past the limit
    # (the vLLM backend's test is in test_sampling_vllm.py).
    model = AutoModelForCausalLM.from_pretrained(tiny_r1_model_path)
    tokenizer = AutoTokenizer.from_pretrained(tiny_r1_model_path)
    close = tokenizer("</think>", add_special_tokens=False)["input_ids"]
    cue = tokenizer("\\boxed{", add_special_tokens=False)["input_ids"]
    # The random model neither ends nor closes its thoughts: each thinking runs into its budget, each answer into the
    # tokens it has left.
    model.generation_config.suppress_tokens = [tokenizer.eos_token_id, *close]
    forced = 3 + len(close) + len(cue)
    expected = {  # (budget, max_new_tokens): (num_tokens, thinking_tokens), every sample truncated
        (3, forced - 1): (3, 3),  # `</think>` and the cue do not fit: nothing is appended
        (3, forced): (forced, 3),  # they fit, with no token left for an answer
        (3, forced + 2): (forced + 2, 3),  # the answer reaches the limit
        (12, 12): (12, 12),  # a budget at the limit: the thinking reaches it
        (40, 12): (12, 12),  # and above it
    }
    for (budget, limit), (tokens, thinking) in expected.items():
        sampling = SamplingSettings(k=2, max_new_tokens=limit, thinking_budget=budget, answer_cue="\\boxed{")
        samples = generate_samples(model, tokenizer, ["1+1"], sampling)
        found = [(s.num_tokens, s.truncated, s.thinking_tokens) for s in samples]
        assert found == [(tokens, True, thinking)] * 2, f"budget {budget}, max_new_tokens {limit}"


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
