import json
import subprocess
import sys
from pathlib import Path

import pytest
from datasets import load_from_disk
from trl import DPOConfig, ModelConfig, SFTConfig, TrlParser

from efficient_trl.baselines import rejection_sampling_datasets
from efficient_trl.evaluation import EvaluationSample
from efficient_trl.training import BaselineScriptArguments, train_baseline

ROOT = Path(__file__).resolve().parents[1]
DEMO_MODEL = str(ROOT / "efficient_trl" / "demo_model")


def sample(problem, index, tokens, correct, truncated=False, text=None):
    return EvaluationSample(problem, index, text or f"p{problem}s{index}", tokens, truncated, None, correct)


def test_shortest_correct_for_sft_and_shortest_vs_longest_for_dpo():
    prompts = [[{"role": "user", "content": f"q{i}"}] for i in range(4)]
    samples = [
        sample(0, 0, 30, True), sample(0, 1, 10, True), sample(0, 2, 5, False), sample(0, 3, 50, True),
        sample(1, 0, 20, True), sample(1, 1, 20, True),  # equal lengths: SFT, but no preference pair
        sample(2, 0, 9, False), sample(2, 1, 4, True, truncated=True),  # nothing usable
        sample(3, 0, 7, True),
    ]  # fmt: skip
    sft, dpo, report = rejection_sampling_datasets(prompts, samples)
    assert sft["completion"] == [
        [{"role": "assistant", "content": "p0s1"}],
        [{"role": "assistant", "content": "p1s0"}],
        [{"role": "assistant", "content": "p3s0"}],
    ]
    assert len(dpo) == 1 and dpo[0]["prompt"] == prompts[0]
    assert (dpo[0]["chosen"][0]["content"], dpo[0]["rejected"][0]["content"]) == ("p0s1", "p0s3")
    assert report == {"problems": 4, "samples": 9, "problems_with_a_correct_sample": 3, "dpo_pairs": 1}
    with pytest.raises(ValueError, match="grade the samples"):
        rejection_sampling_datasets(prompts, [EvaluationSample(0, 0, "x", 3, False)])


@pytest.mark.parametrize("recipe", sorted((ROOT / "recipes").glob("*/[sd][fp][to]_lr_*.yaml")), ids=lambda p: p.stem)
def test_baseline_recipes_parse(recipe):
    config_class = SFTConfig if recipe.stem.startswith("sft") else DPOConfig
    parser = TrlParser((BaselineScriptArguments, config_class, ModelConfig))
    script_args, args, model_args = parser.parse_args_and_config(
        args=["--config", str(recipe), "--bf16", "false", "--use_cpu", "true"]
    )
    assert args.learning_rate == float(recipe.stem.split("_lr_")[1])
    assert script_args.dataset_path.endswith(recipe.stem.split("_")[0])


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
    assert all(
        row["completion"][0]["content"].endswith(f"\\boxed{{{eval(row['prompt'][0]['content'])}}}") for row in sft
    )

    common = ["--model_name_or_path", DEMO_MODEL, "--use_cpu", "true", "--bf16", "false", "--max_steps", "2"]
    common += ["--per_device_train_batch_size", "2", "--report_to", "none", "--save_strategy", "no"]
    for kind in ("sft", "dpo"):
        arguments = [*common, "--dataset_path", str(tmp_path / "rs" / kind), "--output_dir", str(tmp_path / kind)]
        trainer = train_baseline(kind, arguments)
        assert trainer.state.global_step == 2
        assert (tmp_path / kind / "model.safetensors").exists()
