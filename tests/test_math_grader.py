import threading
import time

import pytest

from efficient_trl.math_grader import MathGrader, final_answer, gold_answer, last_boxed, math_accuracy_reward


def score(response: str, gold: str) -> float:
    return math_accuracy_reward([response], answer=[gold])[0]


@pytest.mark.parametrize(
    "gold, response",
    [
        ("\\frac{1}{2}", "\\boxed{0.5}"),
        ("\\frac{1}{2}", "\\boxed{\\dfrac{1}{2}}"),
        ("\\frac12", "\\boxed{1/2}"),
        ("5\\text{ cm}", "\\boxed{5}"),
        ("30^\\circ", "\\boxed{30}"),
        ("\\left( 3, \\frac{\\pi}{2} \\right)", "\\boxed{(3, \\frac{\\pi}{2})}"),
        ("\\text{(C)}", "\\boxed{C}"),
        ("1,000", "\\boxed{1000}"),
        ("1000", "\\boxed{1,000}"),
        ("025", "\\boxed{25}"),
        ("3", "\\boxed{3.0}"),
        ("x^2+1", "\\boxed{1+x^2}"),
        ("18", "<think>maybe \\boxed{17}</think> The answer is \\boxed{18}."),
        ("18", "first \\boxed{17}, no wait: \\boxed{18}"),
    ],
)
def test_equivalent_answers_score_one(gold, response):
    assert score(response, gold) == 1.0


@pytest.mark.parametrize(
    "gold, response",
    [
        ("50", "\\boxed{5000}"),  # 100 times the gold
        ("0.5", "\\boxed{50}"),
        ("2", "\\boxed{3}"),
        ("18", "\\boxed{}"),  # empty box
        ("18", "The answer is 18."),  # no box
        ("18", "\\boxed{18} </think> so the answer is \\boxed{17}"),  # the last box after </think> decides
        ("18", "</think> I am not sure"),  # a box only inside the thoughts does not count
        ("18", "\\boxed{18"),  # never closed
    ],
)
def test_wrong_answers_score_zero(gold, response):
    assert score(response, gold) == 0.0


def test_answer_extraction():
    assert last_boxed("a \\boxed{\\frac{1}{2}} b \\fbox{3}") == "3"
    assert last_boxed("\\boxed{{x}+{y}}") == "{x}+{y}"
    assert last_boxed("nothing") is None
    assert final_answer("<think>\\boxed{1}</think>\\boxed{2}") == "2"
    assert final_answer("<think>\\boxed{1}</think>none") is None
    assert gold_answer("Natalia sold 48 clips ... #### 72") == "72"
    assert gold_answer(None, "so it is $\\boxed{\\frac{3}{4}}$.") == "\\frac{3}{4}"
    with pytest.raises(ValueError, match="no \\\\boxed"):
        gold_answer(None, "no box here")


def test_gold_from_solution_and_conversational_completions():
    completions = [[{"role": "assistant", "content": "\\boxed{4}"}], [{"role": "assistant", "content": "\\boxed{5}"}]]
    solutions = ["2+2 = $\\boxed{4}$", "2+2 = $\\boxed{4}$"]
    assert math_accuracy_reward(completions, solution=solutions, prompts=["x", "y"], trainer_state=None) == [1.0, 0.0]


def test_missing_gold_column_is_a_clear_error():
    with pytest.raises(ValueError, match="'answer' column"):
        math_accuracy_reward(["\\boxed{1}"])


def test_pathological_latex_times_out_quickly_and_scores_zero():
    grader = MathGrader(timeout_seconds=1.0, num_workers=1)
    try:
        grader.verify(["1"], ["1"])  # start the worker outside the timed part
        start = time.monotonic()
        verdicts = grader.verify(["9^{9^{9^{9}}}", "\\frac{1}{2}"], ["5", "0.5"])
        elapsed = time.monotonic() - start
    finally:
        grader.close()
    assert verdicts == [False, True]
    assert elapsed < 4.0


def test_works_from_a_worker_thread():
    results = []
    thread = threading.Thread(target=lambda: results.append(score("</think> \\boxed{\\dfrac{1}{2}}", "0.5")))
    thread.start()
    thread.join(timeout=120)
    assert results == [1.0]


def test_hung_worker_is_killed_and_only_its_answer_scores_zero():
    # A worker blocked beyond the soft deadline (here: stopped with SIGSTOP, as if stuck in C code) is killed at the
    # hard deadline; the other answers of its chunk are regraded one by one.
    import os
    import signal

    grader = MathGrader(timeout_seconds=0.5, num_workers=1, chunk_size=8)
    try:
        grader.verify(["1"], ["1"])
        worker = grader._workers[0].process
        os.kill(worker.pid, signal.SIGSTOP)
        start = time.monotonic()
        with pytest.warns(RuntimeWarning, match="hard deadline"):
            verdicts = grader.verify(["2", "\\frac{1}{2}", "7"], ["2", "0.5", "8"])
        elapsed = time.monotonic() - start
        assert verdicts == [True, True, False]
        assert grader._workers[0].process.pid != worker.pid
        assert elapsed < 15
    finally:
        grader.close()


NUMBER_PAIRS = [
    ("18", "18"),
    ("18", "17"),
    ("025", "25"),
    ("25", "025"),
    ("1,000", "1000"),
    ("1000", "1,000"),
    ("-3", "3"),
    ("-3", "-3"),
    ("+4", "4"),
    ("3", "3.0"),
    ("3.50", "3.5"),
    ("0.5", "0.50"),
    ("100", "1"),
    ("50", "5000"),
    ("1,000,000", "1000000"),
    ("12", "1,2"),
    ("0", "-0"),
    ("7", "70"),
    ("2.5", "2.50000"),
    ("999", "1000"),
]


@pytest.mark.parametrize("gold, prediction", NUMBER_PAIRS)
def test_plain_number_shortcut_agrees_with_math_verify(gold, prediction):
    from efficient_trl.math_grader import _equivalent, _shortcut

    verdict = _shortcut(prediction, gold)
    if verdict is not None:
        assert verdict == _equivalent(prediction, gold)


def test_worker_that_cannot_start_is_a_clear_error(monkeypatch):
    import sys

    monkeypatch.setattr(sys, "executable", "/bin/false")
    grader = MathGrader(timeout_seconds=1.0, num_workers=1)
    with pytest.raises(RuntimeError, match="failed to start"):
        grader.verify(["1"], ["1"])


def test_interrupted_call_leaves_the_grader_in_step():
    # Ctrl-C while the grader waits for a worker: the reply of the interrupted call must not be read as the next
    # call's (it used to be: the next call got one stale verdict for three answers, the one after it this one's).
    import _thread
    import signal

    # A job started in the background by a shell inherits SIGINT ignored, and then interrupt_main does nothing: give
    # the test Python's own Ctrl-C handler, whatever launched it.
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    grader = MathGrader(timeout_seconds=2.0, num_workers=1)
    try:
        grader.verify(["1"], ["1"])  # a started worker
        timer = threading.Timer(0.3, _thread.interrupt_main)  # a pathological answer keeps the worker busy ~2 s
        timer.start()
        with pytest.raises(KeyboardInterrupt):
            grader.verify(["9^{9^{9^{9}}}"], ["5"])
        timer.join()
        assert grader.verify(["1", "2", "3"], ["1", "2", "4"]) == [True, True, False]
        assert grader.verify(["\\frac{1}{2}", "7"], ["0.5", "8"]) == [True, False]
    finally:
        grader.close()
        signal.signal(signal.SIGINT, previous)


def test_bad_grader_input_names_the_fix():
    with pytest.raises(TypeError, match="completion 1 is None.*replace missing completions"):
        math_accuracy_reward(["\\boxed{1}", None], answer=["1", "2"])
    with pytest.raises(TypeError, match="completion 0 is b.*decode bytes"):
        math_accuracy_reward([b"\\boxed{1}"], answer=["1"])
    with pytest.raises(ValueError, match="2 completions but 1 values of 'answer': pass one gold answer per"):
        math_accuracy_reward(["\\boxed{1}", "\\boxed{2}"], answer=["1"])
    with pytest.raises(TypeError, match="prediction 0 is a bytes.*decode or convert"):
        MathGrader(num_workers=1).verify([b"1"], ["1"])
    with pytest.raises(ValueError, match="one gold answer per prediction"):
        MathGrader(num_workers=1).verify(["1", "2"], ["1"])
