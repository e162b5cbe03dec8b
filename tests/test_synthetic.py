import inspect
from collections import Counter, defaultdict
from pathlib import Path

import pytest
import torch
from transformers import AutoTokenizer

from efficient_trl.experiments.demo import DemoSettings
from efficient_trl.experiments.engine import START_MODELS
from efficient_trl.math_grader import math_accuracy_reward
from efficient_trl.synthetic import (
    GRADED_RECHECKS,
    GRADED_TIERS,
    GRADED_TWO_DIGIT,
    TASKS,
    graded_problems,
    is_held_out,
    multi_sum_problems,
    solve_graded,
    solve_with_checks,
    sum_problems,
)
from efficient_trl.testing import build_tiny_model, build_tiny_tokenizer
from efficient_trl.thinking import without_thinking


def _terms(problem: str) -> list[int]:
    return [int(term) for term in problem.split("+")]


def test_multi_sums_need_one_to_five_steps_on_top_of_needless_checks():
    train = multi_sum_problems(400, seed=1, with_solutions=True)
    held_out = multi_sum_problems(200, seed=3, split="held_out")
    assert {len(_terms(p)) for p in train["problem"]} == set(range(2, 7))
    assert {len(_terms(p)) for p in held_out["problem"]} == set(range(2, 7))
    # distinct digits, so each step's next term is found by the previous one (what makes the task learnable)
    assert all(len(set(_terms(p))) == len(_terms(p)) for p in [*train["problem"], *held_out["problem"]])
    assert not set(train["problem"]) & set(held_out["problem"])
    assert all(is_held_out(p) for p in held_out["problem"]) and not any(is_held_out(p) for p in train["problem"])
    assert train["answer"] == [str(sum(_terms(p))) for p in train["problem"]]
    completions = [row[0]["content"] for row in train["completion"]]
    assert math_accuracy_reward(completions, answer=train["answer"]) == [1.0] * 400
    assert {c.count("Check:") for c in completions} == {0, 1, 2}
    for problem, completion in zip(train["problem"], completions, strict=True):
        terms = _terms(problem)
        floor = solve_with_checks(terms, 0)  # the shortest right solution: one step per term after the first
        assert floor.count("=") == len(terms) - 1
        # the checks are needless: dropping them leaves the floor solution, with the same boxed answer
        thought, boxed = completion.split("</think>")
        assert thought.split("Check:")[0] + "</think>" + boxed == floor
    # reproducible by seed, and the seed matters
    assert multi_sum_problems(50, seed=1, with_solutions=True).to_list() == train.select(range(50)).to_list()
    assert multi_sum_problems(50, seed=2)["problem"] != train["problem"][:50]


def test_tasks_are_picked_by_name_with_one_signature():
    assert TASKS == {"sums": sum_problems, "multi_sums": multi_sum_problems, "graded": graded_problems}
    # every task takes the same parameters (the defaults of max_checks differ; sum_problems has options of its own)
    common = [("num_problems", "POSITIONAL_OR_KEYWORD")] + [
        (name, "KEYWORD_ONLY") for name in ("seed", "split", "max_checks", "with_solutions")
    ]
    for task in TASKS.values():
        parameters = [(p.name, p.kind.name) for p in inspect.signature(task).parameters.values()]
        assert parameters[: len(common)] == common, task.__name__
    for name, problems in TASKS.items():
        rows = problems(3, seed=0, split="held_out", with_solutions=True)
        extra = ["tier"] if name == "graded" else []
        assert rows.column_names == ["prompt", "problem", "answer", "completion", *extra], name
    assert set(START_MODELS) == set(TASKS)
    assert DemoSettings().task == "graded" and DemoSettings(task="multi_sums").task == "multi_sums"
    with pytest.raises(ValueError, match=r"task must be one of \['sums', 'multi_sums', 'graded'\], got 'sum'"):
        DemoSettings(task="sum")


def _task_texts(tokenizer) -> list[str]:
    rows = multi_sum_problems(20, seed=0, with_solutions=True)
    chats = [tokenizer.apply_chat_template(r["prompt"] + r["completion"], tokenize=False) for r in rows]
    return [*chats, "free text: a b\n c <think> x</think>\\boxed{\\frac{1}{2}} <|system|>"]


def test_byte_level_tiny_tokenizer_reloads_as_built(tmp_path):
    # transformers 5 reloads any saved Qwen2 checkpoint's tokenizer as Qwen2Tokenizer rebuilt from its vocabulary;
    # the "tiny" tokenizer comes back splitting <think> into characters and dropping spaces.
    built = build_tiny_tokenizer("tiny-byte-level")
    reloaded = AutoTokenizer.from_pretrained(build_tiny_model(tmp_path / "m", tokenizer_style="tiny-byte-level"))
    tiny = build_tiny_tokenizer("tiny")
    for text in _task_texts(built):
        assert reloaded(text)["input_ids"] == built(text)["input_ids"] == tiny(text)["input_ids"], text
        assert reloaded.decode(reloaded(text)["input_ids"]) == text
    prompt = [{"role": "user", "content": "2+3"}]
    rendered = reloaded.apply_chat_template(prompt, add_generation_prompt=True)["input_ids"]
    assert rendered == tiny.apply_chat_template(prompt, add_generation_prompt=True)["input_ids"]
    assert reloaded.convert_ids_to_tokens(rendered)[-1] == "<|assistant|>"
    assert (reloaded.eos_token, reloaded.pad_token) == (tiny.eos_token, tiny.pad_token)


def test_shipped_multi_sums_model_tokenizer_reloads_as_built():
    shipped = AutoTokenizer.from_pretrained(str(START_MODELS["multi_sums"]))
    built = build_tiny_tokenizer("tiny-byte-level")
    for text in _task_texts(built):
        assert shipped(text)["input_ids"] == built(text)["input_ids"], text


@pytest.mark.slow
def test_shipped_multi_sums_model_solves_held_out_sums_and_needs_its_steps(monkeypatch):
    from transformers import AutoModelForCausalLM

    from efficient_trl.evaluation import grade_samples, summarize
    from efficient_trl.sampling import SamplingSettings, generate_samples

    model_dir = str(START_MODELS["multi_sums"])
    problems = multi_sum_problems(32, seed=3, split="held_out")
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    samples = generate_samples(
        AutoModelForCausalLM.from_pretrained(model_dir), tokenizer, problems["prompt"],
        SamplingSettings(k=1, temperature=0.6, max_new_tokens=160, seed=0), batch_size=32,
    )  # fmt: skip
    summary = summarize(grade_samples(samples, problems["answer"]))
    assert summary["accuracy"] >= 0.5
    # needless re-checks present: longer on average than the floor solutions of the same problems
    floor = [len(tokenizer(solve_with_checks(_terms(p), 0))["input_ids"]) for p in problems["problem"]]
    assert summary["mean_tokens"] > 1.3 * sum(floor) / len(floor)
    # forced to answer after the reference's steps it copies the running total; with steps skipped it must add
    # digits in one token, and fails
    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[1] / "benchmarks"))
    from skip_steps import forced_answer_accuracy

    held_out = map(_terms, multi_sum_problems(400, seed=3, split="held_out")["problem"])
    long = [terms for terms in held_out if len(terms) >= 5][:32]
    assert forced_answer_accuracy(model_dir, long, skipped=0) >= 0.9
    assert forced_answer_accuracy(model_dir, long, skipped=3) <= 0.2


@pytest.mark.slow
def test_build_demo_model_trains_an_earlier_build_further(tmp_path, monkeypatch):
    import runpy
    import sys

    from transformers import AutoModelForCausalLM

    def weights(model_dir) -> torch.Tensor:
        model = AutoModelForCausalLM.from_pretrained(str(model_dir))
        return torch.cat([p.detach().flatten() for p in model.parameters()])

    earlier = START_MODELS["multi_sums"]
    argv = ["build_demo_model.py", "--task", "multi_sums", "--num_problems", "16", "--init_model", str(earlier)]
    monkeypatch.setattr(sys, "argv", [*argv, "--output_dir", str(tmp_path / "further")])
    runpy.run_path(str(Path(__file__).resolve().parents[1] / "recipes" / "build_demo_model.py"), run_name="__main__")
    further = weights(tmp_path / "further")
    # one step from the earlier build, not from the recipe's start (the sums model)
    assert (further - weights(earlier)).norm() < 0.1 * (further - weights(START_MODELS["sums"])).norm()
    assert AutoTokenizer.from_pretrained(str(tmp_path / "further"))("1+2")["input_ids"] == [29, 23, 30]


def test_graded_reference_solution_guesses_then_verifies():
    # the shortcut: no thinking, the one-line sum as the answer (so that it reads as AdaptThink's NoThinking mode)
    assert solve_graded([3, 5, 2, 8], 0) == "<think></think>3+5+2+8=18.\\boxed{18}"
    assert solve_graded([3, 5, 2, 8], 0, guess=17) == "<think></think>3+5+2+8=17.\\boxed{17}"
    assert without_thinking(solve_graded([3, 5, 2, 8], 0)) and not without_thinking(solve_graded([3, 5], 1))
    # a pass verifies the guess and corrects it; the box holds the pass's result
    assert solve_graded([3, 5, 2, 8], 1, guess=17) == (
        "<think>Quick:3+5+2+8=17.Check:3+5=8.8+2=10.10+8=18.</think>\\boxed{18}"
    )
    assert solve_graded([3, 5], 2) == "<think>Quick:3+5=8.Check:3+5=8.Check:3+5=8.</think>\\boxed{8}"


def test_graded_tiers_splits_answers_shortcuts_and_checks():
    train = graded_problems(1200, seed=1, with_solutions=True)
    held_out = graded_problems(300, seed=3, split="held_out")
    for rows in (train, held_out):
        # the tiers take turns: equally represented, in every split
        assert rows["tier"][:6] == ["easy", "medium", "hard"] * 2
        assert Counter(rows["tier"]) == {tier: len(rows) // 3 for tier in GRADED_TIERS}
        for tier, (low, high) in GRADED_TIERS.items():
            sizes = {len(_terms(p)) for p, t in zip(rows["problem"], rows["tier"], strict=True) if t == tier}
            assert sizes == set(range(low, high + 1)), tier
        two_digit = Counter()
        for problem, tier in zip(rows["problem"], rows["tier"], strict=True):
            digits = [term for term in _terms(problem) if term < 10]  # distinct digits, and on hard maybe one 10-99
            assert len(set(digits)) == len(digits) >= len(_terms(problem)) - 1, problem
            two_digit[tier] += len(digits) < len(_terms(problem))
        assert set(two_digit) == set(GRADED_TIERS) and two_digit["easy"] == 0
        for tier in ("medium", "hard"):
            assert abs(two_digit[tier] / (len(rows) // 3) - GRADED_TWO_DIGIT[tier]) < 0.1, tier
        assert rows["answer"] == [str(sum(_terms(p))) for p in rows["problem"]]
    assert not set(train["problem"]) & set(held_out["problem"])
    assert all(is_held_out(p) for p in held_out["problem"]) and not any(is_held_out(p) for p in train["problem"])
    completions = [row[0]["content"] for row in train["completion"]]
    assert math_accuracy_reward(completions, answer=train["answer"]) == [1.0] * len(train)
    shortcut, wrong_guess, shortcut_by_terms, recheck = Counter(), Counter(), Counter(), defaultdict(list)
    for problem, tier, completion in zip(train["problem"], train["tier"], completions, strict=True):
        terms, answer = _terms(problem), sum(_terms(problem))
        if without_thinking(completion):
            assert completion == solve_graded(terms, 0)  # the shortcut: a right guess, boxed without thinking
            shortcut[tier] += 1
            shortcut_by_terms[len(terms)] += 1
            continue
        guess, *passes = completion.split("</think>")[0].removeprefix("<think>").split("Check:")
        assert guess.startswith(f"Quick:{problem}=") and passes
        wrong_guess[tier] += guess != f"Quick:{problem}={answer}."
        assert 1 <= len(passes) <= 1 + GRADED_RECHECKS[tier]
        assert set(passes) == {solve_graded(terms, 1).split("Check:")[1].split("<")[0]}
        recheck[tier].append(len(passes) - 1)
    # the shortcut is taken most on two terms (half of them), 10% from four terms on
    assert 0.4 < shortcut_by_terms[2] / sum(len(_terms(p)) == 2 for p in train["problem"]) < 0.6
    assert 0.25 < shortcut["easy"] / 400 < 0.4
    assert all(0.04 < shortcut[tier] / 400 < 0.16 for tier in ("medium", "hard"))
    # the easy tier carries the most needless re-checks, the hard tier the fewest; each count up to the tier's most
    assert {tier: set(counts) for tier, counts in recheck.items()} == {
        tier: set(range(most + 1)) for tier, most in GRADED_RECHECKS.items()
    }
    # wrong guesses grow with the digits: none for two, so the easy tier rarely has one; the hard tier often
    assert wrong_guess["easy"] < wrong_guess["medium"] < wrong_guess["hard"] and wrong_guess["hard"] > 0.2 * 400
    # reproducible by seed, and the seed matters; a selection of tiers
    assert graded_problems(50, seed=1, with_solutions=True).to_list() == train.select(range(50)).to_list()
    assert graded_problems(50, seed=2)["problem"] != train["problem"][:50]
    assert set(graded_problems(10, seed=1, tiers=("hard",))["tier"]) == {"hard"}
    with pytest.raises(ValueError, match=r"tiers must be a non-empty selection of \['easy', 'medium', 'hard'\]"):
        graded_problems(10, seed=1, tiers=("expert",))
    with pytest.raises(ValueError, match="split must be 'train' or 'held_out'"):
        graded_problems(10, seed=1, split="all")


def test_shipped_graded_model_tokenizer_reloads_as_built():
    shipped = AutoTokenizer.from_pretrained(str(START_MODELS["graded"]))
    built = build_tiny_tokenizer("tiny-byte-level")
    rows = graded_problems(12, seed=0, with_solutions=True)
    chats = [built.apply_chat_template(r["prompt"] + r["completion"], tokenize=False) for r in rows]
    for text in [*chats, "a b  c\n<think> 1+2=3.</think>\\boxed{3}"]:
        assert shipped(text)["input_ids"] == built(text)["input_ids"], text
        assert shipped.decode(shipped(text)["input_ids"]) == text
    assert shipped.convert_ids_to_tokens(shipped("<think></think>")["input_ids"]) == ["<think>", "</think>"]


@pytest.mark.slow
def test_shipped_graded_model_answers_held_out_problems_by_tier():
    from transformers import AutoModelForCausalLM

    from efficient_trl.evaluation import grade_samples
    from efficient_trl.sampling import SamplingSettings, generate_samples

    model_dir = str(START_MODELS["graded"])
    problems = graded_problems(3 * 40, seed=3, split="held_out")
    samples = generate_samples(
        AutoModelForCausalLM.from_pretrained(model_dir), AutoTokenizer.from_pretrained(model_dir), problems["prompt"],
        SamplingSettings(k=1, temperature=0.6, max_new_tokens=256, seed=0), batch_size=120,
    )  # fmt: skip
    samples = grade_samples(samples, problems["answer"])
    accuracy = {
        tier: sum(s.correct for s in samples if problems["tier"][s.problem_index] == tier) / 40
        for tier in GRADED_TIERS
    }
    assert accuracy["easy"] >= 0.85 and accuracy["easy"] > accuracy["medium"] > accuracy["hard"] >= 0.3, accuracy
    assert not any(s.truncated for s in samples)
