import json
import subprocess
import sys
from pathlib import Path

import pytest
from datasets import load_from_disk
from transformers import AutoTokenizer
from trl import DPOConfig, DPOTrainer, ModelConfig, SFTConfig, SFTTrainer, TrlParser

from efficient_trl.baselines import rejection_sampling_datasets
from efficient_trl.provenance import read_provenance
from efficient_trl.sampling import EvaluationSample, prompt_token_ids
from efficient_trl.testing import build_tiny_tokenizer
from efficient_trl.training import BaselineScriptArguments, train_baseline

ROOT = Path(__file__).resolve().parents[1]
DEMO_MODEL = str(ROOT / "efficient_trl" / "demo_model")


def sample(problem, index, tokens, correct, truncated=False, text=None):
    return EvaluationSample(problem, index, text or f"p{problem}s{index}", tokens, truncated, None, correct)


def test_shortest_correct_for_sft_and_shortest_vs_longest_for_dpo():
    tokenizer = build_tiny_tokenizer()
    prompts = [[{"role": "user", "content": f"q{i}"}] for i in range(4)]
    samples = [
        sample(0, 0, 30, True), sample(0, 1, 10, True), sample(0, 2, 5, False), sample(0, 3, 50, True),
        sample(1, 0, 20, True), sample(1, 1, 20, True),  # equal lengths: SFT, but no preference pair
        sample(2, 0, 9, False), sample(2, 1, 4, True, truncated=True),  # nothing usable
        sample(3, 0, 7, True),
    ]  # fmt: skip
    sft, dpo, report = rejection_sampling_datasets(prompts, samples, tokenizer)
    assert sft["completion"] == ["p0s1<|endoftext|>", "p1s0<|endoftext|>", "p3s0<|endoftext|>"]
    assert sft["prompt"] == ["<|user|>q0<|assistant|>", "<|user|>q1<|assistant|>", "<|user|>q3<|assistant|>"]
    assert len(dpo) == 1 and dpo[0]["prompt"] == sft[0]["prompt"]
    assert (dpo[0]["chosen"], dpo[0]["rejected"]) == ("p0s1<|endoftext|>", "p0s3<|endoftext|>")
    assert report == {"problems": 4, "samples": 9, "problems_with_a_correct_sample": 3, "dpo_pairs": 1}
    with pytest.raises(ValueError, match="grade the samples"):
        rejection_sampling_datasets(prompts, [EvaluationSample(0, 0, "x", 3, False)], tokenizer)


def test_sft_and_dpo_train_on_the_sampled_prompt_and_the_whole_response_with_the_r1_template(
    tiny_r1_model_path, tmp_path
):
    # DeepSeek-R1-Distill's template deletes an assistant turn's reasoning and pre-fills "<think>\n": the rows must
    # make TRL's own tokenization give exactly the sampled ids (one BOS) + the whole response + EOS.
    tokenizer = AutoTokenizer.from_pretrained(tiny_r1_model_path)
    prompts = [[{"role": "user", "content": "1+1="}], [{"role": "user", "content": "2+3="}]]
    samples = [
        sample(0, 0, 30, True, text="1+1 is 2. Check: 2-1=1.\n</think>\n\nThe answer is \\boxed{2}."),
        sample(0, 1, 20, True, text="1+1=2.\n</think>\n\n\\boxed{2}"),
        sample(1, 0, 12, True, text="2+3=5.\n</think>\n\n\\boxed{5}"),
    ]
    sft, dpo, _ = rejection_sampling_datasets(prompts, samples, tokenizer)

    def sampled_ids(problem: int, text: str) -> tuple[list[int], list[int]]:
        return prompt_token_ids(prompts[problem], tokenizer), tokenizer(text, add_special_tokens=False)["input_ids"]

    common = dict(use_cpu=True, bf16=False, max_steps=1, per_device_train_batch_size=2, report_to="none")
    common.update(save_strategy="no", learning_rate=1e-3)
    sft_trainer = SFTTrainer(
        model=tiny_r1_model_path, args=SFTConfig(output_dir=str(tmp_path / "sft"), **common), train_dataset=sft
    )
    for row, (problem, text) in zip(
        sft_trainer.train_dataset, [(0, samples[1].text), (1, samples[2].text)], strict=True
    ):
        prompt_ids, response_ids = sampled_ids(problem, text)
        assert row["input_ids"] == prompt_ids + response_ids + [tokenizer.eos_token_id]
        assert row["input_ids"].count(tokenizer.bos_token_id) == 1
        # the loss covers the whole response, reasoning included, and its EOS
        assert row["labels"] == [-100] * len(prompt_ids) + response_ids + [tokenizer.eos_token_id]
        assert tokenizer.decode(response_ids) == text and "</think>" in text
    sft_trainer.train()
    assert sft_trainer.state.global_step == 1

    dpo_trainer = DPOTrainer(
        model=tiny_r1_model_path, args=DPOConfig(output_dir=str(tmp_path / "dpo"), **common), train_dataset=dpo
    )
    (row,) = dpo_trainer.train_dataset
    prompt_ids, chosen_ids = sampled_ids(0, samples[1].text)
    assert row["prompt_ids"] == prompt_ids
    assert row["chosen_ids"] == chosen_ids + [tokenizer.eos_token_id]
    assert row["rejected_ids"] == sampled_ids(0, samples[0].text)[1] + [tokenizer.eos_token_id]
    dpo_trainer.train()
    assert dpo_trainer.state.global_step == 1


def test_text_prompt_that_would_gain_a_bos_is_refused(tiny_r1_model_path):
    tokenizer = AutoTokenizer.from_pretrained(tiny_r1_model_path)
    with pytest.raises(ValueError, match="Give prompts as chat turns"):
        rejection_sampling_datasets(["1+1="], [sample(0, 0, 3, True, text="\\boxed{2}")], tokenizer)


@pytest.mark.parametrize("recipe", sorted((ROOT / "recipes").glob("*/[sd][fp][to]_lr_*.yaml")), ids=lambda p: p.stem)
def test_baseline_recipes_parse(recipe):
    config_class = SFTConfig if recipe.stem.startswith("sft") else DPOConfig
    parser = TrlParser((BaselineScriptArguments, config_class, ModelConfig))
    script_args, args, model_args = parser.parse_args_and_config(
        args=["--config", str(recipe), "--bf16", "false", "--use_cpu", "true"]
    )
    assert args.learning_rate == float(recipe.stem.split("_lr_")[1])
    assert script_args.dataset_path.endswith(recipe.stem.split("_")[0])


@pytest.mark.slow
def test_rejection_sampling_then_sft_and_dpo_end_to_end(tmp_path):
    problems = tmp_path / "problems.jsonl"
    sums = ["1+2+3+4", "9+9+9+9", "5+1+7+2", "3+3+8+6"]
    problems.write_text("".join(json.dumps({"problem": p, "answer": str(eval(p))}) + "\n" for p in sums))
    command = [sys.executable, str(ROOT / "recipes" / "rejection_sampling.py"), "--model", DEMO_MODEL]
    command += ["--dataset", str(problems), "--num_samples", "4", "--max_new_tokens", "160"]
    command += ["--temperature", "1.0", "--output_dir", str(tmp_path / "rs"), "--prompt_template", "{problem}"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads((tmp_path / "rs" / "report.json").read_text())
    assert report["problems"] == 4 and report["problems_with_a_correct_sample"] >= 3 and report["dpo_pairs"] >= 1
    sft = load_from_disk(str(tmp_path / "rs" / "sft"))
    for row in sft:  # the demo model's prompt is the bare problem in its template: "<|user|>1+2+3+4<|assistant|>"
        problem = row["prompt"].removeprefix("<|user|>").removesuffix("<|assistant|>")
        assert row["completion"].endswith(f"\\boxed{{{eval(problem)}}}<|endoftext|>")

    common = ["--model_name_or_path", DEMO_MODEL, "--use_cpu", "true", "--bf16", "false", "--max_steps", "2"]
    common += ["--per_device_train_batch_size", "2", "--report_to", "none", "--save_strategy", "no"]
    for kind in ("sft", "dpo"):
        arguments = [*common, "--dataset_path", str(tmp_path / "rs" / kind), "--output_dir", str(tmp_path / kind)]
        trainer = train_baseline(kind, arguments)
        assert trainer.state.global_step == 2
        assert (tmp_path / kind / "model.safetensors").exists()
        provenance = read_provenance(tmp_path / kind)  # written next to the weights: what the model is
        assert (provenance["trainer"], provenance["global_step"], provenance["length_reward"]) == (kind, 2, None)
        assert provenance["data"] == {"dataset": str(tmp_path / "rs" / kind), "num_problems": len(load_from_disk(
            str(tmp_path / "rs" / kind))), "prompt_template": None}  # fmt: skip


def test_rejection_sample_writes_a_resumable_evaluation_run(tmp_path):
    # The library function the recipe and the demo share: sampling goes through evaluate_problems' run directory.
    from efficient_trl.baselines import rejection_sample
    from efficient_trl.evaluation import load_samples
    from efficient_trl.sampling import SamplingSettings
    from efficient_trl.synthetic import sum_problems

    problems = sum_problems(4, seed=2)
    sampling = SamplingSettings(k=4, temperature=1.0, max_new_tokens=160, seed=0)
    run = tmp_path / "samples"
    options = dict(dataset="train sums", prompt_template="{problem}", backend="transformers", batch_size=8)
    sft, dpo, report = rejection_sample(DEMO_MODEL, problems, run, sampling, **options)
    assert report["problems"] == 4 and report["samples"] == 16 and len(sft) == report["problems_with_a_correct_sample"]
    assert len(sft) >= 3 and len(dpo) == report["dpo_pairs"] >= 1
    settings = json.loads((run / "settings.json").read_text())
    assert list(settings) == [
        "model", "model_fingerprint", "dataset", "num_problems", "k", "temperature", "max_new_tokens", "seed",
        "backend", "prompt_template",
    ]  # fmt: skip
    assert json.loads((run / "summary.json").read_text())["num_samples"] == 16
    # Interrupted after 10 samples: the same call samples only the other 6 and keeps the first 10 as they were.
    lines = (run / "samples.jsonl").read_text().splitlines()
    (run / "samples.jsonl").write_text("\n".join(lines[:10]) + "\n")
    resumed_sft, _, resumed_report = rejection_sample(DEMO_MODEL, problems, run, sampling, **options)
    assert (run / "samples.jsonl").read_text().splitlines()[:10] == lines[:10]
    assert len(load_samples(run)) == 16 and resumed_report["samples"] == 16
    assert resumed_report["problems"] == 4 and len(resumed_sft) == resumed_report["problems_with_a_correct_sample"]
