import json
import re
import warnings

import pytest
from datasets import Dataset

from efficient_trl.configs import EfficientGRPOConfig
from efficient_trl.data import (
    LOCAL_DATASETS,
    PAPER_PROMPT,
    check_gold_answers,
    figure_reference,
    load_problems,
    numeric_answer,
    prepare_training_set,
    save_prepared,
    to_prompts,
    to_raw_prompts,
    unreadable_answer,
)


def test_shipped_set_has_problem_and_answer():
    math500 = load_problems("math500")
    assert len(math500) == 500
    assert math500[0]["answer"] == "\\left( 3, \\frac{\\pi}{2} \\right)"


def test_jsonl_files_in_gsm8k_and_solution_shapes(tmp_path):
    gsm8k = tmp_path / "gsm8k.jsonl"
    gsm8k.write_text(json.dumps({"question": "2+2?", "answer": "2+2=<<2+2=4>>4\n#### 4"}) + "\n")
    assert load_problems(str(gsm8k))[0] == {"problem": "2+2?", "answer": "4"}
    boxed = tmp_path / "boxed.jsonl"
    boxed.write_text(json.dumps({"problem": "x?", "solution": "so $\\boxed{\\frac{1}{2}}$"}) + "\n")
    assert load_problems(str(boxed))[0]["answer"] == "\\frac{1}{2}"


def test_bad_dataset_names_and_columns(tmp_path):
    with pytest.raises(ValueError, match="unknown dataset 'mathh'.*math_train"):
        load_problems("mathh")
    no_gold = tmp_path / "no_gold.jsonl"
    no_gold.write_text(json.dumps({"problem": "x?", "hint": "y"}) + "\n")
    with pytest.raises(ValueError, match="no 'answer' or 'solution' column"):
        load_problems(str(no_gold))


def test_prompts_use_the_paper_template():
    prompts = to_prompts(load_problems("math500").select(range(2)))
    assert prompts[0]["prompt"] == [{"role": "user", "content": PAPER_PROMPT.format(problem=prompts[0]["problem"])}]
    assert prompts[0]["prompt"][0]["content"].startswith(
        "Please reason step by step, and put your final answer within \\boxed{}."
    )
    with pytest.raises(ValueError, match="must contain"):
        to_prompts(load_problems("math500"), "no placeholder")


# The authors' training prompt (Zanette-Labs/efficient-reasoning run_rloo_1.5B.sh, --input_template, as OpenRLHF's
# str.format leaves it): raw text, BOS included, no `<think>` after `<｜Assistant｜>`.
AUTHORS_INPUT_TEMPLATE = (
    "<｜begin▁of▁sentence｜><｜User｜>Please reason step by step, and put your final answer within \\boxed{{}}. "
    "Question: {}<｜Assistant｜>"
)


def test_raw_prompts_are_the_authors_training_prompt_without_the_think_prefill():
    from efficient_trl.testing import R1_BOS, build_tiny_tokenizer

    tokenizer = build_tiny_tokenizer("r1-distill")  # DeepSeek-R1-Distill's chat template (TRL's copy) and BOS
    chat = to_prompts(Dataset.from_dict({"problem": ["What is 1+1?"], "answer": ["2"]}))
    rendered = tokenizer.apply_chat_template(chat[0]["prompt"], tokenize=False, add_generation_prompt=True)
    assert rendered.endswith("<｜Assistant｜><think>\n")  # the chat rendering pre-fills the thinking
    raw = to_raw_prompts(chat, tokenizer)[0]["prompt"]
    authors = AUTHORS_INPUT_TEMPLATE.format("What is 1+1?")
    assert raw == authors.removeprefix(R1_BOS)
    # As TRL tokenizes a string prompt (with special tokens): the authors' ids, with BOS once, not twice.
    assert tokenizer(raw)["input_ids"] == tokenizer(authors, add_special_tokens=False)["input_ids"]
    assert tokenizer(raw)["input_ids"].count(tokenizer.bos_token_id) == 1
    with pytest.raises(ValueError, match="already text"):
        to_raw_prompts(to_raw_prompts(chat, tokenizer), tokenizer)


def test_raw_prompts_keep_a_template_without_prefill_and_the_budget_sentence():
    from transformers import AutoTokenizer

    from efficient_trl.budgets import with_budgets
    from efficient_trl.experiments.engine import START_MODELS

    tokenizer = AutoTokenizer.from_pretrained(START_MODELS["sums"])  # the demo model's shipped chat_template.jinja
    chat = to_prompts(Dataset.from_dict({"problem": ["12+30="], "answer": ["42"]}), "{problem}")
    rendered = tokenizer.apply_chat_template(chat[0]["prompt"], tokenize=False, add_generation_prompt=True)
    assert to_raw_prompts(chat, tokenizer)[0]["prompt"] == rendered == "<|user|>12+30=<|assistant|>"
    # A budget sentence is written into the user turn before the rendering, so it stays there.
    budgeted = to_raw_prompts(with_budgets(chat, 40), tokenizer)[0]["prompt"]
    assert budgeted == "<|user|>12+30= Think for 40 tokens.<|assistant|>"


def test_a_trainer_samples_from_the_authors_raw_prompt(tiny_r1_model_path, tmp_path):
    from transformers import AutoTokenizer

    from efficient_trl import EfficientGRPOTrainer

    from .recording import recorded_run
    from .test_trainers import make_args

    tokenizer = AutoTokenizer.from_pretrained(tiny_r1_model_path)
    problems = ["1+1", "2+3", "4+4", "5+6"]
    dataset = to_raw_prompts(to_prompts(Dataset.from_dict({"problem": problems, "answer": ["2", "5", "8", "11"]})),
                             tokenizer)  # fmt: skip
    args = make_args(EfficientGRPOConfig, tmp_path, beta=0.0, max_steps=1, generation_kwargs=None)
    trainer, _ = recorded_run(EfficientGRPOTrainer, tiny_r1_model_path, args, dataset)
    expected = {
        tuple(tokenizer(AUTHORS_INPUT_TEMPLATE.format(p), add_special_tokens=False)["input_ids"]) for p in problems
    }
    sampled = {tuple(ids) for ids in trainer.records[0]["prompt_ids"]}
    assert sampled and sampled <= expected


def test_think_prefill_false_trains_on_the_raw_prompt_and_records_it(tiny_r1_model_path, tmp_path):
    from efficient_trl.provenance import read_provenance
    from efficient_trl.training import parse_training_arguments, train

    from .test_recipes import write_tiny_recipe

    recipe = write_tiny_recipe(tmp_path, tiny_r1_model_path, tmp_path / "raw")
    short = ["--max_steps", "1", "--save_strategy", "no", "--max_completion_length", "8"]
    assert parse_training_arguments(["--config", str(recipe), *short])[0].think_prefill  # the default: chat turns
    trainer = train(*parse_training_arguments(["--config", str(recipe), *short, "--think_prefill", "false"]))
    prompt = trainer.train_dataset[0]["prompt"]
    assert prompt == AUTHORS_INPUT_TEMPLATE.format("0+0=").removeprefix("<｜begin▁of▁sentence｜>")
    assert read_provenance(tmp_path / "raw")["data"]["think_prefill"] is False


def test_numeric_answers():
    assert numeric_answer("42") and numeric_answer("\\frac{3}{4}") and numeric_answer("0.25")
    assert not numeric_answer("\\sqrt{2}") and not numeric_answer("x+1") and not numeric_answer("")
    assert not numeric_answer("080 or 081 (both were accepted)")


def test_prepared_set_is_deterministic_and_reported(tmp_path):
    sample, report = prepare_training_set(["aime_1983_2023"], num_samples=100, seed=0)
    again, _ = prepare_training_set(["aime_1983_2023"], num_samples=100, seed=0)
    other, _ = prepare_training_set(["aime_1983_2023"], num_samples=100, seed=1)
    assert len(sample) == 100 and sample["problem"] == again["problem"] and sample["problem"] != other["problem"]
    assert report.kept["aime_1983_2023"] == 861  # of 919
    assert dict(report.dropped["aime_1983_2023"]) == {
        "answer not a number": 1, "figure as an image file": 16, "figure in Asymptote code ([asy])": 41,
    }  # fmt: skip
    assert "sampled 100 of 861" in report.table()
    with pytest.raises(ValueError, match="only 861 are eligible"):
        prepare_training_set(["aime_1983_2023"], num_samples=5000)

    saved = save_prepared(sample, report, tmp_path / "prepared")
    assert json.loads((saved / "preparation_report.json").read_text())["sampled"] == 100
    assert load_problems(str(saved))["answer"] == sample["answer"]
    with pytest.raises(FileExistsError, match="already holds data"):
        save_prepared(sample, report, saved)


def test_authors_training_split_columns(tmp_path, monkeypatch):
    # daman1209arora/compression_dataset is a save_to_disk directory with columns problem, solution, year,
    # extracted (the answer); it cannot be downloaded here, so a local one with the same columns stands in.
    import huggingface_hub
    from datasets import Dataset

    from efficient_trl.data import AUTHORS_TRAINING_SET

    rows = [
        {"problem": "What is 1+1?", "solution": "1+1 equals 2.", "year": 2024, "extracted": "2"},  # no box
        {"problem": "Half of 1?", "solution": "$\\boxed{\\frac{1}{2}}$", "year": 2023, "extracted": "\\frac{1}{2}"},
        {"problem": "Name it.", "solution": "$\\boxed{x+1}$", "year": 2022, "extracted": "x+1"},
    ]
    local_copy = tmp_path / "compression_dataset"
    Dataset.from_list(rows).save_to_disk(str(local_copy))  # what `huggingface-cli download` puts on disk
    problems = load_problems(str(local_copy))
    assert [(row["problem"], row["answer"]) for row in problems] == [
        ("What is 1+1?", "2"), ("Half of 1?", "\\frac{1}{2}"), ("Name it.", "x+1")
    ]  # fmt: skip
    # By hub name (`--authors_split`): fetched with snapshot_download, which is replaced here by the local copy.
    monkeypatch.setattr(huggingface_hub, "snapshot_download", lambda repo_id, repo_type: str(local_copy))
    sample, report = prepare_training_set([AUTHORS_TRAINING_SET], num_samples=2)
    assert sorted(sample["answer"]) == ["2", "\\frac{1}{2}"]  # x+1 is not a number
    assert report.dropped[AUTHORS_TRAINING_SET] == {"answer not a number": 1}


def test_prepare_data_refuses_a_taken_output_dir_before_preparing(tmp_path):
    # The check used to come after the whole preparation (minutes); now it comes first: a source that would fail to
    # load is never reached.
    import subprocess
    import sys
    from pathlib import Path

    taken = tmp_path / "taken"
    taken.mkdir()
    (taken / "data.arrow").write_text("an earlier set")
    script = Path(__file__).resolve().parents[1] / "recipes" / "prepare_data.py"
    command = [sys.executable, str(script), "--sources", "no-such-source", "--output_dir", str(taken)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert result.returncode != 0 and "taken already holds data; choose another output directory" in result.stderr


def test_figure_references_are_precise():
    # from the shipped training sets: each needs a figure the model never sees ...
    assert figure_reference("[asy]draw((0,0)--(1,1));[/asy] Find the area.") == "figure in Asymptote code ([asy])"
    assert figure_reference("Find the area of $ABC$ . AIME 1985 Problem 6.png") == "figure as an image file"
    for problem in (
        "In the diagram, $BP$ and $BQ$ trisect $\\angle ABC$.",
        "... by five segments as shown in the figure, where $XY = YB$",
        "... cut into two pieces, as shown in the first figure below, by joining the midpoints",
        "... label this point 3. (See figure.) Continue this process",
        "The diagram indicates the path of blocks around the garden.",
        "The complete graph of $y=f(x)$, which consists of five line segments, is shown in red below.",
    ):
        assert figure_reference(problem) == "refers to a figure it does not include", problem
    # ... while these describe everything they need
    for problem in (
        "A figure is created by connecting $A$ to $B,$ $B$ to $C.$ Find its area.",
        "When the figure is rotated clockwise $270^\\circ$ around point $M$, where is $N$?",
        "... asked them to figure out which trigonometric function produced the value.",
        "A 5-inch by 7-inch picture is placed on a rectangular piece of red paper.",
        "Two dice are tossed and the numbers shown on the top faces are added.",
        "The first six rows of Pascal's triangle are shown below, beginning with row zero.",
        "The graph of $y = x^2 + 1$ passes through which quadrants?",
    ):
        assert figure_reference(problem) is None, problem


def test_preparation_drops_figures_and_gives_the_same_set_in_parallel(tmp_path):
    problems = [
        ("In the diagram, $AB = 3$. Find $BC$.", "4"),
        ("[asy]draw((0,0)--(3,0));[/asy] Find the length.", "3"),
        ("Find $AB$. AIME 1985 Problem 4.png", "5"),
        ("A figure is created by connecting $(0,0)$, $(2,0)$ and $(0,2)$. Find its area.", "2"),
        ("They figure out that $x + 1 = 4$. Find $x$.", "\\frac{6}{2}"),
        ("A figure is created by connecting $(0,0)$, $(2,0)$ and $(0,2)$.   Find its area.", "2"),  # duplicate
        ("Simplify $x + x$.", "2x"),
    ] + [(f"What is ${a} + {a}$?", f"{2 * a}") for a in range(9)]
    path = tmp_path / "problems.jsonl"
    path.write_text("".join(json.dumps({"problem": p, "answer": a}) + "\n" for p, a in problems))
    serial, serial_report = prepare_training_set([str(path)], num_samples=11, num_proc=1)
    # two worker processes: math-verify's signal timeouts run in each worker's main thread
    parallel, parallel_report = prepare_training_set([str(path)], num_samples=11, num_proc=2)
    assert serial["problem"] == parallel["problem"] and serial_report.to_dict() == parallel_report.to_dict()
    assert serial["answer"][:2] == ["2", "\\frac{6}{2}"] and len(serial) == 11  # a number, read by math-verify
    assert dict(serial_report.dropped[str(path)]) == {
        "refers to a figure it does not include": 1, "figure in Asymptote code ([asy])": 1,
        "figure as an image file": 1, "duplicate problem": 1, "answer not a number": 1,
    }  # fmt: skip
    with pytest.raises(ValueError, match="num_proc must be >= 1"):
        prepare_training_set([str(path)], num_samples=1, num_proc=0)


# What a gold answer may be, and what stands for none (math-verify reads all of the latter as symbols)
READABLE = [
    "5", "-3/4", "1,000", "0.5", "\\frac{1}{2}", "\\dfrac{\\sqrt{3}}{2}", "x^2+1", "y = 3x + 1", "(0, 1]",
    "[-2,\\infty)", "\\{1, 2\\}", "(1, 2, 3)", "1, 2", "C", "(C)", "\\text{(C)}", "\\text{Evelyn}", "xy", "CD",
    "\\begin{pmatrix} 1 \\\\ 2 \\end{pmatrix}", "3\\sqrt{2}", "2\\pi", "\\infty", "\\emptyset", "\\sin x", "10\\%",
    "\\$12.50", "e^{i\\pi}", "3 and 5",
]  # fmt: skip
UNREADABLE = {
    "N/A": "placeholder", "none": "placeholder", "None": "placeholder", "see figure": "placeholder",
    "TODO": "placeholder", "\\text{N/A}": "placeholder", "?": "no number, letter", "...": "no number, letter",
    "\\frac{": "unbalanced braces", "\\frac{1}{2": "unbalanced braces", "}{": "unbalanced braces",
    "the answer is 5": "reads as words \\(the answer\\)",
}  # fmt: skip


def test_gold_answers_must_be_answers_a_completion_could_match():
    assert [answer for answer in READABLE if unreadable_answer(answer)] == []
    for answer, reason in UNREADABLE.items():
        assert re.search(reason, unreadable_answer(answer) or ""), answer
    junk = Dataset.from_dict({"answer": list(UNREADABLE)})
    with pytest.raises(ValueError, match=r"12 of its 12 gold answers cannot be read \(0 empty, 12 that") as refused:
        check_gold_answers(junk, "junk")
    assert "row 0 'N/A' (a placeholder, not an answer)" in str(refused.value) and "and 7 more" in str(refused.value)
    mixed = Dataset.from_dict({"answer": ["4", "?", "7", "12"]})
    with pytest.warns(UserWarning, match=r"1 of its 4 gold answers .*row 1 '\?' \(holds no number"):
        check_gold_answers(mixed, "mixed")


@pytest.mark.slow
def test_every_shipped_dataset_passes_the_gold_answer_check():
    # half a minute: math_train's 4,300 LaTeX answers are parsed
    unreadable = {}
    for name in LOCAL_DATASETS:
        answers = load_problems(name)["answer"]
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # no warning either: every set is under the warning's share
            check_gold_answers(load_problems(name), name)
        unreadable[name] = {index: answer for index, answer in enumerate(answers) if not answer.strip()}
        unreadable[name].update({i: answer for i, answer in enumerate(answers) if unreadable_answer(answer)})
    # the only unreadable rows: two MATH solutions without a box, and an AIME answer no completion can match (the
    # preparation drops it as not a number)
    assert unreadable == {
        "math_train": {5529: "", 5531: ""}, "aime_1983_2023": {882: "080 or 081 (both were accepted)"},
        "gsm8k": {}, "math500": {}, "aime24": {},
    }  # fmt: skip
