"""Stage lines of the long CPU commands, on stderr (stdout keeps the results table, printed last, after the log
lines TRL prints there):

    [  0:00] training alpha=0.2 on sums: 60 steps of 8 prompts x 8 completions
    [  2:21] evaluating alpha=0.2 on 1000 held-out sums problems
    done in 4:12

A command times its work with `timed()`; `stage(message)` prints one line with the time since the command started.
The clock lives in the environment, so the jobs a command spawns (`engine.run_jobs`) print on the command's clock;
outside any command (the Python API) the clock starts at the process's first stage line.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["format_elapsed", "stage", "timed"]

CLOCK_VARIABLE = "EFFICIENT_TRL_STARTED"  # the command's start, in time.time() seconds
_process_start: float | None = None  # the clock outside any command


def format_elapsed(seconds: float) -> str:
    """Elapsed time as minutes:seconds, or hours:minutes:seconds from an hour on: 83 -> '1:23', 3725 -> '1:02:05'."""
    minutes, seconds = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{seconds:02d}" if hours else f"{minutes}:{seconds:02d}"


def _started() -> float:
    global _process_start
    if CLOCK_VARIABLE in os.environ:
        return float(os.environ[CLOCK_VARIABLE])
    if _process_start is None:
        _process_start = time.time()
    return _process_start


def _line(text: str) -> None:
    # One write per line, newline included: print() writes the text and its newline separately, and on stderr (which
    # writes through) the jobs' processes, printing at once, interleaved there ("[1:00:03] a[1:00:03] b").
    sys.stderr.write(text + "\n")
    sys.stderr.flush()


def stage(message: str) -> None:
    """Print `[  m:ss] message` on stderr: the time since the command started and the stage it begins."""
    _line(f"[{format_elapsed(time.time() - _started()):>6}] {message}")


@contextmanager
def timed() -> Iterator[None]:
    """Time a command: stage lines inside (and in the processes it spawns) count from the block's start, and a block
    that ends without an error prints `done in m:ss`. A block inside another keeps the outer clock and prints
    nothing."""
    if CLOCK_VARIABLE in os.environ:
        yield
        return
    started = time.time()
    os.environ[CLOCK_VARIABLE] = repr(started)
    try:
        yield
        _line(f"done in {format_elapsed(time.time() - started)}")
    finally:
        del os.environ[CLOCK_VARIABLE]
