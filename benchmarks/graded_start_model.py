"""What the graded task's starting model does, tier by tier: accuracy, the shortcut, the checks, and thinking budgets.

    python benchmarks/graded_start_model.py       # 300 held-out problems per tier, 8 samplings; minutes on 2 cores

All sampling is at temperature 0.6 with fixed seeds, on the held-out split (the demo's evaluation seed), so the
numbers repeat exactly. Four tables go to stdout, each per tier:

1. accuracy (± one standard error), mean tokens, truncation, and the shortcut: the share of completions that answer
   without thinking (`<think></think>\\boxed{10}`), and their accuracy against the reasoned ones;
2. the passes: how many reasoned completions verify their guess with 1, 2, 3+ step-by-step passes (all but the
   first are needless re-checks), and the accuracy at each, on the problems of digits only;
3. what each line is worth, on the same reasoned completions: the result of the quick guess, of the first pass,
   and the boxed answer;
4. budget forcing (s1): accuracy and mean tokens with the thinking cut at each budget, then `</think>\\boxed{`.
"""

from __future__ import annotations

import argparse
import os
import re

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch  # noqa: E402
from transformers import AutoModelForCausalLM, AutoTokenizer  # noqa: E402

from efficient_trl.data import TASK_EVAL_SEED  # noqa: E402
from efficient_trl.evaluation import grade_samples, summarize  # noqa: E402
from efficient_trl.experiments.engine import START_MODELS  # noqa: E402
from efficient_trl.sampling import SamplingSettings, generate_samples  # noqa: E402
from efficient_trl.synthetic import GRADED_TIERS, graded_problems  # noqa: E402
from efficient_trl.thinking import without_thinking  # noqa: E402

BUDGETS = (16, 32, 48, 64, 96, 128, 160)
ANSWER_CUE = "\\boxed{"  # what follows `</think>` in the task's solutions


def thinking(text: str) -> str:
    return text.split("</think>")[0].removeprefix("<think>")


def is_shortcut(text: str) -> bool:
    """The shortcut: an answer given without thinking, `<think></think>\\boxed{10}`."""
    return without_thinking(text)


def line_results(text: str) -> list[str | None]:
    """The result of each line of the thinking: the quick guess, then each pass's last running total."""
    return [(re.findall(r"=(\d+)\.", part) or [None])[-1] for part in thinking(text).split("Check:")]


def percent(hits: int, total: int) -> str:
    return f"{100 * hits / total:.1f}% (n={total})" if total else "-"


def header(columns: list[str]) -> None:
    print("| tier | " + " | ".join(columns) + " |\n|---|" + "---:|" * len(columns))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=str(START_MODELS["graded"]))
    parser.add_argument("--problems", type=int, default=300, help="held-out problems per tier")
    parser.add_argument("--budgets", type=int, nargs="*", default=list(BUDGETS), help="thinking budgets (tokens)")
    parser.add_argument("--max_new_tokens", type=int, default=256)
    parser.add_argument("--seed", type=int, default=0, help="sampling seed")
    parser.add_argument("--batch_size", type=int, default=150)
    args = parser.parse_args()
    torch.set_num_threads(1)  # a ~1M model gains nothing from more; one thread keeps the numbers the same anywhere

    tiers = list(GRADED_TIERS)
    problems = graded_problems(len(tiers) * args.problems, seed=TASK_EVAL_SEED, split="held_out")
    tokenizer = AutoTokenizer.from_pretrained(args.model)
    model = AutoModelForCausalLM.from_pretrained(args.model)

    def sample(budget: int | None) -> list:
        settings = SamplingSettings(
            k=1, temperature=0.6, max_new_tokens=args.max_new_tokens, seed=args.seed, thinking_budget=budget,
            answer_cue=ANSWER_CUE,
        )  # fmt: skip
        samples = generate_samples(model, tokenizer, problems["prompt"], settings, batch_size=args.batch_size)
        return grade_samples(samples, problems["answer"])

    def by_tier(samples: list) -> dict[str, list]:
        return {tier: [s for s in samples if problems["tier"][s.problem_index] == tier] for tier in tiers}

    free = by_tier(sample(None))
    print(f"model {args.model}: {args.problems} held-out problems per tier (seed {TASK_EVAL_SEED}), temperature 0.6, "
          f"sampling seed {args.seed}, at most {args.max_new_tokens} tokens")  # fmt: skip
    print()
    header(
        ["terms", "accuracy", "mean tokens", "truncated", "shortcut share", "shortcut accuracy", "reasoned accuracy"]
    )
    for tier, samples in free.items():
        summary = summarize(samples)
        short = [s for s in samples if is_shortcut(s.text)]
        reasoned = [s for s in samples if not is_shortcut(s.text)]
        low, high = GRADED_TIERS[tier]
        print(
            f"| {tier} | {low}-{high} | {100 * summary['accuracy']:.1f}% ± {100 * summary['accuracy_stderr']:.1f} "
            f"| {summary['mean_tokens']:.1f} ± {summary['mean_tokens_stderr']:.1f} "
            f"| {100 * summary['truncation_rate']:.1f}% | {100 * len(short) / len(samples):.1f}% "
            f"| {percent(sum(s.correct for s in short), len(short))} "
            f"| {percent(sum(s.correct for s in reasoned), len(reasoned))} |"
        )

    print(
        "\nPasses of the reasoned completions on problems of digits only (share of them, accuracy at that number of "
        "passes):\n"
    )
    header(["1 pass", "2 passes", "3+ passes"])
    for tier, samples in free.items():
        # A two-digit term makes every pass wrong alike, and those problems get fewer passes: pooled with them, passes
        # would seem to help.
        digits = [
            s for s in samples if all(len(term) == 1 for term in problems["problem"][s.problem_index].split("+"))
        ]
        reasoned = [s for s in digits if not is_shortcut(s.text)]
        cells = []
        for count in (1, 2, 3):
            group = [s for s in reasoned if min(s.text.count("Check:"), 3) == count]
            share = 100 * len(group) / len(reasoned)
            cells.append(f"{share:.0f}%, {percent(sum(s.correct for s in group), len(group))}")
        print(f"| {tier} | " + " | ".join(cells) + " |")

    print("\nWhat each line is worth: accuracy of the reasoned completions' result after each line\n")
    header(
        [
            "the quick guess",
            "the first pass",
            "boxed answer",
            "guess wrong, boxed right",
            "first pass right, boxed wrong",
        ]
    )
    for tier, samples in free.items():
        reasoned = [s for s in samples if not is_shortcut(s.text)]
        gold = [problems["answer"][s.problem_index] for s in reasoned]
        lines = [line_results(s.text) for s in reasoned]
        guess = [line[0] == g for line, g in zip(lines, gold, strict=True)]
        first = [line[1] == g for line, g in zip(lines, gold, strict=True)]
        boxed = [s.correct for s in reasoned]
        fixed = sum(b and not q for q, b in zip(guess, boxed, strict=True))
        broken = sum(f and not b for f, b in zip(first, boxed, strict=True))
        n = len(reasoned)
        print(
            f"| {tier} | {percent(sum(guess), n)} | {percent(sum(first), n)} | {percent(sum(boxed), n)} "
            f"| {100 * fixed / n:.1f}% | {100 * broken / n:.1f}% |"
        )

    print(f"\nBudget forcing: accuracy (mean tokens) with at most B thinking tokens, then `</think>{ANSWER_CUE}`\n")
    columns = [*args.budgets, None]
    header([f"B={b}" if b else "no budget" for b in columns])
    rows = {tier: [] for tier in tiers}
    for budget in columns:
        for tier, samples in (free if budget is None else by_tier(sample(budget))).items():
            summary = summarize(samples)
            rows[tier].append(f"{100 * summary['accuracy']:.1f}% ({summary['mean_tokens']:.0f})")
    for tier in tiers:
        print(f"| {tier} | " + " | ".join(rows[tier]) + " |")


if __name__ == "__main__":
    main()
