"""The transformers backend and what both backends share (efficient_trl.sampling): settings, prompt ids, limits."""

import pytest
from transformers import AutoModelForCausalLM, AutoTokenizer

from efficient_trl.sampling import SamplingSettings, generate_samples


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


def test_bad_sampling_input(tiny_model_path):
    model = AutoModelForCausalLM.from_pretrained(tiny_model_path)
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_path)
    with pytest.raises(ValueError, match="k must be >= 1"):
        generate_samples(model, tokenizer, ["1"], SamplingSettings(k=0))
    with pytest.raises(ValueError, match="dataset is empty"):
        generate_samples(model, tokenizer, [], SamplingSettings(k=1))


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
