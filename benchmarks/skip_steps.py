"""Does the multi_sums starting model need its steps? Accuracy when it must answer after skipping some of them.

    python benchmarks/skip_steps.py                       # 300 held-out problems per number of terms, about a minute

For each held-out problem the model is given the reference solution's first steps and then forced to answer
("...</think>\\boxed{"), greedily: with no step skipped it only copies the last running total; every skipped step
is a digit it must add in its head. The table (accuracy by terms and steps skipped) goes to stdout.
"""

from __future__ import annotations

import argparse
import os
import re
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch  # noqa: E402
from transformers import AutoModelForCausalLM, AutoTokenizer  # noqa: E402

from efficient_trl.experiments.engine import START_MODELS  # noqa: E402
from efficient_trl.synthetic import solve_with_checks  # noqa: E402


def forced_answer_accuracy(model_dir: str | Path, problems: list[list[int]], skipped: int) -> float:
    """Greedy accuracy on `problems` (their terms) when the model must box the sum after the reference solution's
    steps but the last `skipped` (clipped to the steps a problem has)."""
    tokenizer = AutoTokenizer.from_pretrained(str(model_dir), padding_side="left")
    model = AutoModelForCausalLM.from_pretrained(str(model_dir))
    texts = []
    for terms in problems:
        steps = re.findall(r"[^.]+\.", solve_with_checks(terms, 0).removeprefix("<think>").split("</think>")[0])
        shown = steps[: max(len(steps) - skipped, 0)]
        prompt = tokenizer.apply_chat_template(
            [{"role": "user", "content": "+".join(map(str, terms))}], add_generation_prompt=True, tokenize=False
        )
        texts.append(prompt + "<think>" + "".join(shown) + "</think>\\boxed{")
    batch = tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False)
    with torch.no_grad():
        output = model.generate(**batch, max_new_tokens=4, do_sample=False, pad_token_id=tokenizer.pad_token_id)
    answers = tokenizer.batch_decode(output[:, batch["input_ids"].shape[1] :], skip_special_tokens=True)
    right = [answer.split("}")[0] == str(sum(terms)) for answer, terms in zip(answers, problems, strict=True)]
    return sum(right) / len(right)


def main() -> None:
    from efficient_trl.synthetic import multi_sum_problems

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=str(START_MODELS["multi_sums"]))
    parser.add_argument("--problems", type=int, default=300, help="held-out problems per number of terms")
    args = parser.parse_args()
    held_out = multi_sum_problems(20 * args.problems, seed=3, split="held_out")["problem"]
    by_terms: dict[int, list[list[int]]] = {}
    for problem in held_out:
        terms = [int(term) for term in problem.split("+")]
        by_terms.setdefault(len(terms), []).append(terms)
    print("| terms | " + " | ".join(f"{s} skipped" for s in range(4)) + " | all skipped |")
    print("|---:|" + "---:|" * 5)
    for n in sorted(by_terms):
        problems = by_terms[n][: args.problems]
        accuracies = [forced_answer_accuracy(args.model, problems, s) for s in (0, 1, 2, 3, n - 1)]
        print(f"| {n} | " + " | ".join(f"{100 * a:.0f}%" for a in accuracies) + " |")


if __name__ == "__main__":
    main()
