import json

import pytest
import yaml
from datasets import Dataset
from transformers import AutoTokenizer

from efficient_trl.budgets import sample_budgets, with_budgets
from efficient_trl.data import to_prompts
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


def test_budget_sampling_is_uniform_over_the_range_and_seeded():
    drawn = sample_budgets(4000, (100, 4000), seed=3)
    assert drawn == sample_budgets(4000, (100, 4000), seed=3) != sample_budgets(4000, (100, 4000), seed=4)
    assert min(drawn) >= 100 and max(drawn) <= 4000 and min(drawn) < 200 and max(drawn) > 3900
    assert sample_budgets(3, [7, 7]) == [7, 7, 7]


def test_bad_budget_input_names_the_fix():
    problems = Dataset.from_dict({"prompt": ["a", "b"]})
    with pytest.raises(ValueError, match="neither one of"):
        with_budgets(problems, 10, "Think briefly.")
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
