"""A synthetic "overthinking" task for the CPU demo: sums whose reference solutions re-verify needlessly.

A problem adds four digits. The reference solution adds them step by step, then re-checks the sum a random number
of times, alternating the order of the terms, the way R1-distilled models keep verifying answers they already have:

    <think>3+5=8.8+2=10.10+8=18.Check:8+2=10.10+5=15.15+3=18.</think>\\boxed{18}

The boxed answer is the result of the last pass, so a model that slips during a needless check loses the point:
extra checks cost tokens and, for an imperfect model, accuracy. A small model fine-tuned on these solutions
(`recipes/build_demo_model.py`) is the starting point of the demo. Problems are split into disjoint train and
held-out sets by a hash of their text, so no evaluation problem is ever trained on.

On that task the shortest answer (no check) is always right, so every length reward reaches the same floor at no
accuracy cost. The second task, `multi_sum_problems` ("multi_sums"), adds 2 to 6 distinct digits: the steps a
problem needs vary (one per term after the first) on top of the needless re-checks, so a model pushed below a
problem's floor, `solve_with_checks(terms, 0)`, has to add several digits in one token and loses accuracy. `TASKS`
maps each task's name to its problem function (same signature), for the demo and the model builder to pick by name.

The third task, `graded_problems` ("graded"), makes thinking matter: three tiers of 2-3, 4-5 and 6-7 terms (as
GSM8K, MATH500 and AIME stand to each other), distinct digits except for one two-digit term in about a third of the
hard problems; a solution either answers at once without thinking (the shortcut, the sum guessed in one go, which a
small model gets right on few digits only) or thinks: it guesses the sum in one line, verifies it with a
step-by-step pass that corrects it, then may add needless re-checks.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable

from datasets import Dataset

__all__ = ["TASKS", "graded_problems", "multi_sum_problems", "solve_graded", "solve_with_checks", "sum_problems"]

NUM_TERMS = 4
MULTI_SUM_TERMS = (2, 6)  # multi_sums: fewest and most digits a problem adds (distinct digits, so at most 9)
HELD_OUT_SHARE = 5  # one problem in five is held out for evaluation
SPLITS = ("train", "held_out", "all")  # "all": no held-out filtering (tests and benchmarks that only need sums)


def _passes(terms: list[int]) -> str:
    steps, total = [], terms[0]
    for term in terms[1:]:
        steps.append(f"{total}+{term}={total + term}.")
        total += term
    return "".join(steps)


def solve_with_checks(terms: list[int], checks: int) -> str:
    """The reference solution of `sum(terms)` with `checks` needless re-verifications (alternating term order)."""
    thought = _passes(terms)
    for check in range(checks):
        thought += "Check:" + _passes(terms[::-1] if check % 2 == 0 else terms)
    return f"<think>{thought}</think>\\boxed{{{sum(terms)}}}"


def is_held_out(problem: str) -> bool:
    return int(hashlib.sha1(problem.encode()).hexdigest(), 16) % HELD_OUT_SHARE == 0


def sum_problems(
    num_problems: int,
    *,
    seed: int,
    split: str = "train",
    max_checks: int = 3,
    with_solutions: bool = False,
    num_terms: int = NUM_TERMS,
    term_range: tuple[int, int] = (1, 9),
    prompt_suffix: str = "",
    conversational: bool = True,
) -> Dataset:
    """`prompt` (one user turn), `problem` and `answer` columns, from the `train` or `held_out` part of the problem
    space (or `all` of it); with `with_solutions`, an assistant `completion` with a uniform number of checks in
    [0, max_checks]. Problems repeat only when more are asked for than the split holds (the demo's four digits:
    train about 5,200, held out about 1,300).

    The defaults are the demo's task; the tests and benchmarks use `testing.TWO_TERM_SUMS` ("37+5=": two terms in
    0-99, a trailing '='). A problem is `num_terms` terms drawn uniformly from `term_range` (inclusive), prompted as
    the problem followed by `prompt_suffix`; `conversational=False` makes the prompt that text, not a user turn.
    """
    if split not in SPLITS:
        raise ValueError(f"split must be one of {list(SPLITS)}, got {split!r}.")
    if num_terms < 1 or term_range[0] > term_range[1]:
        raise ValueError(
            f"need num_terms >= 1 and term_range (low, high) with low <= high, got {num_terms}, {term_range}."
        )
    draw = lambda rng: [rng.randint(*term_range) for _ in range(num_terms)]  # noqa: E731
    return _problems(num_problems, seed, split, draw, max_checks, with_solutions, prompt_suffix, conversational)


def multi_sum_problems(
    num_problems: int,
    *,
    seed: int,
    split: str = "train",
    max_checks: int = 2,
    with_solutions: bool = False,
) -> Dataset:
    """The "multi_sums" task: like `sum_problems`, but each problem adds a uniform 2 to 6 distinct digits, so the steps
    it needs (one per term after the first) vary; `max_checks` defaults to 2 (the longest solutions, 6 digits and 2
    checks, are about 140 tokens). Same columns and train/held-out split.
    """
    if split not in ("train", "held_out"):
        raise ValueError(f"split must be 'train' or 'held_out', got {split!r}.")
    # distinct digits: each step's next term is the one after the previous step's term in the problem, a lookup a
    # ~1M model learns; with repeated digits it had to count positions and got 4% of held-out problems right
    draw = lambda rng: rng.sample(range(1, 10), rng.randint(*MULTI_SUM_TERMS))  # noqa: E731
    return _problems(num_problems, seed, split, draw, max_checks, with_solutions, "", True)


def _problems(
    num_problems: int,
    seed: int,
    split: str,
    draw_terms: Callable[[random.Random], list[int]],
    max_checks: int,
    with_solutions: bool,
    prompt_suffix: str,
    conversational: bool,
) -> Dataset:
    """The rows of a sum task: terms drawn by `draw_terms` until `num_problems` fall in `split`."""
    rng = random.Random(seed)
    rows = []
    while len(rows) < num_problems:
        terms = draw_terms(rng)
        problem = "+".join(map(str, terms))
        if split != "all" and is_held_out(problem) != (split == "held_out"):
            continue
        text = problem + prompt_suffix
        prompt = [{"role": "user", "content": text}] if conversational else text
        row = {"prompt": prompt, "problem": problem, "answer": str(sum(terms))}
        if with_solutions:
            solution = solve_with_checks(terms, rng.randint(0, max_checks))
            row["completion"] = [{"role": "assistant", "content": solution}] if conversational else solution
        rows.append(row)
    return Dataset.from_list(rows)


# graded: tier -> (fewest, most) terms, distinct digits; 8 or 9 distinct digits would give the shortcut away (45
# minus the missing digit), so the hard tier stops at 7
GRADED_TIERS = {"easy": (2, 3), "medium": (4, 5), "hard": (6, 7)}
# tier -> the chance that one of a problem's terms is a two-digit number (10-99): a ~1M model rarely adds one right
# (a step that carries over tens), while its digit-by-digit passes are nearly always right even on 6-7 digits
GRADED_TWO_DIGIT = {"medium": 0.15, "hard": 0.35}
# terms -> the share of reference solutions that answer without thinking (the shortcut,
# `<think></think>3+5=8.\\boxed{8}`), 0.1 beyond: the answer comes at once when the problem looks trivial, as a
# reasoning model's more often does on an easy question; a small model's one-line sum is right on 2 terms, rarely on
# more
GRADED_SHORTCUT_SHARE = {2: 0.5}
GRADED_SHORTCUT_SHARE_BEYOND = 0.1
# tier -> the most needless re-checks a reference solution adds after its verifying pass (each count equally
# likely): R1-style models re-solve easy problems most, relative to what the problem needs (Chen et al. 2024, "Do
# NOT Think That Much for 2+3=?"), so the easy tier carries the most redundancy and the hard tier the least
GRADED_RECHECKS = {"easy": 4, "medium": 2, "hard": 1}
GRADED_SHORTCUT = "Quick:"  # opens the guess line of a solution that thinks
# per digit beyond the second: the chance that a verified reference's guess is off (0 for 2 digits, 0.5 for 7)
GRADED_GUESS_ERROR = 0.1


def _graded_terms(rng: random.Random, tier: str) -> list[int]:
    count = rng.randint(*GRADED_TIERS[tier])
    if tier not in GRADED_TWO_DIGIT or rng.random() >= GRADED_TWO_DIGIT[tier]:
        return rng.sample(range(1, 10), count)
    terms = rng.sample(range(1, 10), count - 1)
    terms.insert(rng.randrange(count), rng.randint(10, 99))
    return terms


def solve_graded(terms: list[int], checks: int, *, guess: int | None = None) -> str:
    """A graded reference solution: a quick guess, all the digits added in one line (`guess`, the sum if not given),
    then `checks` step-by-step passes; the boxed answer is the last line's result:

        <think>Quick:3+5+2+8=17.Check:3+5=8.8+2=10.10+8=18.</think>\\boxed{18}

    With no check it is the shortcut: no thinking at all, the guess boxed at once (`<think></think>\\boxed{17}`), so
    that deciding to take it is the first token's choice, apart from deciding to re-check after a pass. The first
    pass verifies the guess (and corrects it when it is off); every pass after it agrees with the first and changes
    nothing.
    """
    answer = sum(terms)
    guess = answer if guess is None else guess
    guess_line = f"{'+'.join(map(str, terms))}={guess}."
    if not checks:  # the shortcut: no thinking, the guess line as the answer
        return f"<think></think>{guess_line}\\boxed{{{guess}}}"
    thought = GRADED_SHORTCUT + guess_line + ("Check:" + _passes(terms)) * checks
    return f"<think>{thought}</think>\\boxed{{{answer}}}"


def graded_problems(
    num_problems: int,
    *,
    seed: int,
    split: str = "train",
    max_checks: int | None = None,
    with_solutions: bool = False,
    tiers: tuple[str, ...] = tuple(GRADED_TIERS),
) -> Dataset:
    """The "graded" task: sums in three tiers of difficulty (`GRADED_TIERS`): 2-3 distinct digits (easy), 4-5
    (medium), 6-7 distinct digits where in 35% of the problems one of the terms is a two-digit number instead (hard,
    `GRADED_TWO_DIGIT`); the tiers take turns so that each holds a third of the rows. Same columns as the other
    tasks, plus `tier`.

    A reference solution (`with_solutions`, `solve_graded`): with a chance that falls with the terms
    (`GRADED_SHORTCUT_SHARE`: half of the two-term problems, 10% from four terms on) it answers at once without
    thinking (the shortcut, always right in the data; a small model gets it right on two terms only). Otherwise it
    guesses the sum in one line, verifies the guess with a step-by-step pass and boxes that pass's result; its guess
    is then off with a chance that grows with the digits (`GRADED_GUESS_ERROR`), so that the model learns to trust
    the pass, not the guess. Up to `GRADED_RECHECKS[tier]` more passes follow (4 on easy,
    2 on medium, 1 on hard; `max_checks` caps every tier instead), needless re-checks that agree.
    """
    if split not in ("train", "held_out"):
        raise ValueError(f"split must be 'train' or 'held_out', got {split!r}.")
    if not tiers or set(tiers) - set(GRADED_TIERS):
        raise ValueError(f"tiers must be a non-empty selection of {list(GRADED_TIERS)}, got {list(tiers)}.")
    rng = random.Random(seed)
    rows = []
    while len(rows) < num_problems:
        tier = tiers[len(rows) % len(tiers)]
        terms = _graded_terms(rng, tier)
        problem = "+".join(map(str, terms))
        if is_held_out(problem) != (split == "held_out"):
            continue
        row = {"prompt": [{"role": "user", "content": problem}], "problem": problem, "answer": str(sum(terms))}
        if with_solutions:
            shortcut = GRADED_SHORTCUT_SHARE.get(len(terms), GRADED_SHORTCUT_SHARE_BEYOND)
            most = GRADED_RECHECKS[tier] if max_checks is None else max_checks
            checks = 0 if rng.random() < shortcut else 1 + rng.randint(0, most)
            off = checks and rng.random() < GRADED_GUESS_ERROR * (len(terms) - 2)
            guess = sum(terms) + (rng.choice((-3, -2, -1, 1, 2, 3)) if off else 0)
            row["completion"] = [{"role": "assistant", "content": solve_graded(terms, checks, guess=guess)}]
        rows.append({**row, "tier": tier})
    return Dataset.from_list(rows)


# name -> problem function `(num_problems, *, seed, split, max_checks, with_solutions) -> Dataset`
TASKS = {"sums": sum_problems, "multi_sums": multi_sum_problems, "graded": graded_problems}
