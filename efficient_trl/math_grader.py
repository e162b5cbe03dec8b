"""Is a math answer correct? The last `\\boxed{}` of the final answer, compared with the gold answer by math-verify.

math-verify bounds its work with `signal.alarm`, which only works in a process's main thread and cannot interrupt
code stuck in C. Grading therefore runs in a few worker processes: each answer gets a soft deadline inside its
worker (a repeating interval timer, so math-verify's own exception handlers cannot swallow it), and each chunk of
answers a hard deadline in the caller, past which that worker is killed and replaced. Callers may be on any thread;
a pathological answer costs about `timeout_seconds` and scores 0.
"""

from __future__ import annotations

import functools
import logging
import os
import pickle
import re
import select
import signal
import struct
import subprocess
import sys
import threading
import time
import warnings
import weakref
from collections.abc import Sequence
from decimal import Decimal
from typing import IO, Any

from .thinking import after_thinking
from .thinking import think_end_ids as think_end_ids  # its home before thinking.py; kept importable

__all__ = [
    "MathAccuracyReward",
    "MathGrader",
    "final_answer",
    "gold_answer",
    "last_boxed",
    "math_accuracy_reward",
    "parse_boxed",
    "plain_number",
]

_BOX_COMMANDS = ("\\boxed", "\\fbox")


def last_boxed(text: str) -> str | None:
    """Content of the last `\\boxed{...}` (or `\\fbox{...}`) in `text`, braces matched; None if there is none.

    Linear in the length of `text`, so a long or adversarial completion cannot stall extraction.
    """
    start = max(text.rfind(command + "{") for command in _BOX_COMMANDS)
    if start < 0:
        return None
    open_brace = text.index("{", start)
    depth = 0
    for position in range(open_brace, len(text)):
        char = text[position]
        if char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
            if depth == 0:
                return text[open_brace + 1 : position]
    return None  # unbalanced: the box was never closed (e.g. a truncated completion)


def final_answer(completion: str) -> str | None:
    """The answer a completion commits to: the last box after `</think>` if the model closed its thoughts, else the
    last box of the whole text."""
    return last_boxed(after_thinking(completion))


def gold_answer(answer: str | float | int | None = None, solution: str | None = None) -> str:
    """The gold answer from a dataset row: the `answer` column (GSM8K's `... #### 18` is cut to `18`), else the last
    box of the `solution` column."""
    if answer is not None:
        text = str(answer)
        return text.rpartition("####")[2].strip() if "####" in text else text.strip()
    if solution is not None:
        boxed = last_boxed(solution)
        if boxed is not None:
            return boxed.strip()
        raise ValueError(f"the solution has no \\boxed{{}} answer to grade against: {solution[-200:]!r}")
    raise ValueError(
        "no gold answer: the dataset needs an 'answer' column (or a 'solution' column whose last \\boxed{} holds "
        "the answer)."
    )


# --------------------------------------------------------------------------------------------- worker process side
# Workers are plain subprocesses (`python -m efficient_trl.math_grader`) speaking length-prefixed pickles over their
# stdin and stdout: unlike multiprocessing's spawn, they never re-import the caller's __main__, and each one can be
# killed alone when it hangs.


class _SoftTimeout(BaseException):
    """Raised by the interval timer; a BaseException so that math-verify's `except Exception` does not swallow it."""


def _raise_soft_timeout(signum: int, frame: Any) -> None:
    raise _SoftTimeout


@functools.lru_cache(maxsize=1)
def _extraction_config() -> list:
    from math_verify import ExprExtractionConfig, LatexExtractionConfig

    return [LatexExtractionConfig(boxed_match_priority=0), ExprExtractionConfig()]


@functools.lru_cache(maxsize=65536)
def parse_boxed(answer: str, parsing_timeout: int | None = None) -> list:
    """math-verify's reading of `answer` as the content of a box ([] if it cannot read it).

    With `parsing_timeout=None` it sets no deadline of its own (the grader's workers impose theirs); an integer uses
    math-verify's signal-based timeout, which only works in the main thread.
    """
    from math_verify import parse

    return parse("\\boxed{" + answer + "}", extraction_config=_extraction_config(), parsing_timeout=parsing_timeout)


def _equivalent(prediction: str, gold: str) -> bool:
    from math_verify import verify

    gold_parsed = parse_boxed(gold)
    predicted_parsed = parse_boxed(prediction)
    return bool(gold_parsed and predicted_parsed and verify(gold_parsed, predicted_parsed, timeout_seconds=None))


_PLAIN_NUMBER = re.compile(r"[+-]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?")


def plain_number(text: str) -> Decimal | None:
    """`text` as a number if it is written as a plain decimal number (thousands commas allowed), else None."""
    return Decimal(text.replace(",", "")) if _PLAIN_NUMBER.fullmatch(text) else None


def _shortcut(prediction: str, gold: str) -> bool | None:
    """The verdict math-verify would reach, for the cases decidable without parsing LaTeX; None for the rest.

    Most answers in math RL are identical to the gold or are plain numbers, and parsing LaTeX costs milliseconds.
    """
    prediction, gold = "".join(prediction.split()), "".join(gold.split())
    if prediction == gold:
        return True  # identical: equivalent, whether or not math-verify could parse it
    predicted_number, gold_number = plain_number(prediction), plain_number(gold)
    if predicted_number is None or gold_number is None:
        return None
    if predicted_number == gold_number:
        return True
    if "." not in prediction and "." not in gold:
        return False  # distinct integers; decimals may still match within math-verify's rounding
    return None


def _grade_one(prediction: str | None, gold: str, timeout_seconds: float) -> bool:
    if prediction is None or not prediction.strip():
        return False
    verdict = _shortcut(prediction, gold)
    if verdict is not None:
        return verdict
    deadline = time.monotonic() + timeout_seconds
    signal.setitimer(signal.ITIMER_REAL, timeout_seconds, 0.05)  # keeps firing until cancelled
    try:
        verdict = _equivalent(prediction, gold)
    except (_SoftTimeout, Exception):
        verdict = False  # out of time, or unparseable: not verifiably equal
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
    # A timer tick that math-verify's own handlers swallowed still means the answer ran out of time.
    return verdict and time.monotonic() <= deadline


def _write_message(stream: IO[bytes], message: Any) -> None:
    payload = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(struct.pack("<I", len(payload)) + payload)
    stream.flush()


def _read_message(stream: IO[bytes]) -> Any:
    header = stream.read(4)
    if len(header) < 4:
        raise EOFError
    (size,) = struct.unpack("<I", header)
    return pickle.loads(stream.read(size))


def _serve() -> None:
    """Worker loop: grade (pairs, timeout) requests from stdin until it closes."""
    # We disable math-verify's own signal timeouts (they would reset our timer); it warns about that once.
    logging.getLogger("math_verify").setLevel(logging.CRITICAL)
    logging.getLogger("latex2sympy2_extended").setLevel(logging.CRITICAL)
    signal.signal(signal.SIGALRM, _raise_soft_timeout)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the caller's to handle
    parse_boxed("1")  # import math-verify and build its grammar before reporting ready
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    _write_message(stdout, "ready")
    while True:
        try:
            pairs, timeout_seconds = _read_message(stdin)
        except EOFError:
            return
        _write_message(stdout, [_grade_one(prediction, gold, timeout_seconds) for prediction, gold in pairs])


# ---------------------------------------------------------------------------------------------------- caller side


class _Worker:
    def __init__(self, startup_timeout: float):
        package_root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([package_root, os.environ.get("PYTHONPATH", "")])}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "efficient_trl.math_grader"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
        )
        try:
            started = self.wait_readable(startup_timeout) and self.receive() == "ready"
        except BaseException:  # interrupted while starting: leave no stray process behind
            self.kill()
            raise
        if not started:
            self.process.kill()
            self.process.wait()
            error = self.process.stderr.read().decode(errors="replace")[-2000:]
            self.kill()
            raise RuntimeError(
                f"the math grader's worker process ({sys.executable} -m efficient_trl.math_grader) failed to start "
                f"within {startup_timeout:g}s; its error output:\n{error}"
            )

    def wait_readable(self, timeout: float) -> bool:
        return bool(select.select([self.process.stdout], [], [], max(0.0, timeout))[0])

    def send(self, pairs: list[tuple[str | None, str]], timeout_seconds: float) -> None:
        _write_message(self.process.stdin, (pairs, timeout_seconds))

    def receive(self) -> Any:
        try:
            return _read_message(self.process.stdout)
        except EOFError:
            return None

    def kill(self) -> None:
        self.process.kill()
        self.process.wait()
        for stream in (self.process.stdin, self.process.stdout, self.process.stderr):
            stream.close()


def _stop_workers(workers: list[_Worker]) -> None:
    for worker in workers:
        worker.kill()
    workers.clear()  # the same list stays the grader's, so its finalizer always sees the live workers


class MathGrader:
    """Decides answer equivalence with math-verify in worker processes; safe to call from any thread.

    Args:
        timeout_seconds: time allowed to grade one answer; past it the answer scores 0.
        num_workers: worker processes (default: this process's share of the node's CPUs, at most 8).
        chunk_size: answers sent to a worker at once; larger chunks cost less overhead per answer.
    """

    startup_timeout = 300.0  # seconds for a worker to import math-verify, even on a crowded machine

    def __init__(self, timeout_seconds: float = 3.0, num_workers: int | None = None, chunk_size: int = 32):
        if not timeout_seconds > 0:
            raise ValueError(f"timeout_seconds must be > 0, got {timeout_seconds!r}.")
        if num_workers is not None and num_workers < 1:
            raise ValueError(f"num_workers must be >= 1, got {num_workers!r}.")
        if chunk_size < 1:
            raise ValueError(f"chunk_size must be >= 1, got {chunk_size!r}.")
        self.timeout_seconds = float(timeout_seconds)
        # Under `accelerate launch` every process of a node starts its own workers: share the node's CPUs.
        processes_per_node = int(os.environ.get("LOCAL_WORLD_SIZE", "1"))
        self.num_workers = num_workers or max(1, min(8, (os.cpu_count() or 1) // processes_per_node))
        self.chunk_size = chunk_size
        self._workers: list[_Worker] = []
        self._lock = threading.Lock()
        # Stop the workers when the grader is collected or the interpreter exits, whichever comes first.
        self._finalizer = weakref.finalize(self, _stop_workers, self._workers)

    def close(self) -> None:
        """Stop the worker processes (they are started again on the next call)."""
        with self._lock:
            _stop_workers(self._workers)

    def verify(self, predictions: Sequence[str | None], golds: Sequence[str]) -> list[bool]:
        """Whether each prediction (a box's content, or None) is equivalent to its gold answer."""
        if len(predictions) != len(golds):
            raise ValueError(
                f"got {len(predictions)} predictions but {len(golds)} gold answers: give one gold answer per "
                "prediction."
            )
        for name, values, allowed in (("prediction", predictions, (str, type(None))), ("gold answer", golds, (str,))):
            wrong = next((i for i, value in enumerate(values) if not isinstance(value, allowed)), None)
            if wrong is not None:
                raise TypeError(
                    f"{name} {wrong} is a {type(values[wrong]).__name__} ({values[wrong]!r:.80}); the grader takes "
                    f"text{' (or None for no answer)' if name == 'prediction' else ''}: decode or convert it first."
                )
        pairs = list(zip(predictions, golds, strict=True))
        chunks = [pairs[i : i + self.chunk_size] for i in range(0, len(pairs), self.chunk_size)]
        with self._lock:  # one batch at a time: the workers are shared by every thread of this process
            results = self._run(chunks)
            # A chunk that ran past its deadline had its worker killed: grade its answers one by one, so that only
            # the answers that really hang score 0.
            hung = [index for index, result in enumerate(results) if result is None]
            if hung:
                warnings.warn(
                    f"math grading ran past its hard deadline ({self.timeout_seconds:g}s per answer), probably stuck "
                    "in C code; its worker process was killed, and answers that hang again score 0.",
                    RuntimeWarning,
                    stacklevel=2,
                )
            for index in hung:
                singles = self._run([[pair] for pair in chunks[index]])
                results[index] = [bool(single and single[0]) for single in singles]
        return [verdict for chunk_results in results for verdict in chunk_results]

    def _run(self, chunks: list[list[tuple[str | None, str]]]) -> list[list[bool] | None]:
        """Grade chunks on the workers; a chunk still running at its deadline gives None and its worker is replaced."""
        while len(self._workers) < min(self.num_workers, len(chunks)):
            self._workers.append(_Worker(self.startup_timeout))
        results: list[list[bool] | None] = [None] * len(chunks)
        todo = list(range(len(chunks)))[::-1]
        busy: dict[int, tuple[int, float]] = {}  # worker index -> (chunk index, deadline)
        idle = list(range(len(self._workers)))
        try:
            while todo or busy:
                while todo and idle:
                    worker, chunk = idle.pop(), todo.pop()
                    # Busy from before the send: a send cut short leaves a torn request in the worker's input.
                    busy[worker] = (chunk, time.monotonic() + len(chunks[chunk]) * self.timeout_seconds + 1.0)
                    self._workers[worker].send(chunks[chunk], self.timeout_seconds)
                streams = {self._workers[worker].process.stdout: worker for worker in busy}
                next_deadline = min(deadline for _, deadline in busy.values())
                ready, _, _ = select.select(list(streams), [], [], max(0.0, next_deadline - time.monotonic()))
                for stream in ready:
                    worker = streams[stream]
                    chunk, _ = busy[worker]
                    results[chunk] = self._workers[worker].receive()
                    del busy[worker]
                    if results[chunk] is None:  # the worker died (e.g. killed by the OS): restart it, retry alone
                        self._workers[worker].kill()
                        self._workers[worker] = _Worker(self.startup_timeout)
                    idle.append(worker)
                now = time.monotonic()
                for worker, (_, deadline) in list(busy.items()):
                    if now > deadline:
                        self._workers[worker].kill()
                        self._workers[worker] = _Worker(self.startup_timeout)
                        del busy[worker]
                        idle.append(worker)
        except BaseException:
            # Interrupted (Ctrl-C, an error): a worker still grading would answer the next call with this call's
            # verdicts. Stop every such worker; fresh ones start when next needed.
            for worker in sorted(busy, reverse=True):
                self._workers.pop(worker).kill()
            raise
        return results


class MathAccuracyReward:
    """TRL reward function: 1.0 when the completion's final boxed answer equals the gold answer, else 0.0.

    Reads the gold from the dataset's `answer` column, or else from the last box of its `solution` column. Accepts
    plain-text or conversational completions and ignores TRL's other keyword arguments.
    """

    gold_columns = ("answer", "solution")  # the trainers check at construction that the dataset has one of these

    def __init__(self, timeout_seconds: float = 3.0, num_workers: int | None = None):
        self.grader = MathGrader(timeout_seconds=timeout_seconds, num_workers=num_workers)
        self.__name__ = "math_accuracy_reward"  # TRL names reward functions (and their logged metrics) by __name__

    def __call__(
        self,
        completions: Sequence[str] | Sequence[list[dict[str, str]]],
        answer: Sequence[Any] | None = None,
        solution: Sequence[str | None] | None = None,
        **kwargs: Any,
    ) -> list[float]:
        if answer is None and solution is None:
            raise ValueError(
                "math_accuracy_reward needs the gold answers: give the dataset an 'answer' column (or a 'solution' "
                "column whose last \\boxed{} holds the answer)."
            )
        answers = answer if answer is not None else [None] * len(completions)
        solutions = solution if solution is not None else [None] * len(completions)
        for name, column in (("answer", answers), ("solution", solutions)):
            if len(column) != len(completions):
                raise ValueError(
                    f"got {len(completions)} completions but {len(column)} values of {name!r}: pass one gold "
                    "answer per completion (repeat a prompt's answer for each of its completions)."
                )
        golds = [gold_answer(a, s) for a, s in zip(answers, solutions, strict=True)]
        texts = [_completion_text(completion, index) for index, completion in enumerate(completions)]
        verdicts = self.grader.verify([final_answer(text) for text in texts], golds)
        return [1.0 if verdict else 0.0 for verdict in verdicts]


def _completion_text(completion: Any, index: int) -> str:
    """The text of a plain-text or conversational completion; anything else is an error naming the completion."""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, list) and completion and isinstance(completion[-1], dict):
        content = completion[-1].get("content")
        if isinstance(content, str):
            return content
    raise TypeError(
        f"completion {index} is {completion!r:.80} ({type(completion).__name__}): math_accuracy_reward takes text "
        "or chat turns ending in a message with string 'content'; decode bytes and replace missing completions with "
        "'' first."
    )


math_accuracy_reward = MathAccuracyReward()


if __name__ == "__main__":
    _serve()
