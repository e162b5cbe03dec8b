"""Seconds per RL optimizer step of the CPU demo: the training settings of before issue 25 ("today") against the
engine's ("now"), interleaved step by step in one process, on the same machine.

    OMP_NUM_THREADS=2 OMP_WAIT_POLICY=PASSIVE python benchmarks/step_time.py [--steps 10] [--warmup 2] [--task sums]
    python benchmarks/step_time.py --pair   # then also two 'now' runs at once, as the demo runs its jobs
    python benchmarks/step_time.py --now_threads 2 --try_fields '{"cache_implementation": "static"}'   # try a change

Both configurations train the demo's alpha = 0.2 model from the task's shipped starting model with the demo's
settings (`DemoSettings`: 8 prompts x 8 completions, up to 160 tokens, beta 1e-3, so a reference-model pass). Each
runs in its own thread; a baton lets one optimizer step run at a time, alternating, and each trainer's random state
is restored at each of its steps, so that both trainers do the same work at step k as they would alone and a load
change on the shared machine hits both alike. "today" differs from "now" by `TODAY_OVERRIDES` (TRL's default
activation checkpointing, TRL's log-probability passes) and `TODAY_THREADS` (the torch threads of a demo run before
issue 25). OpenMP's wait policy (OMP_WAIT_POLICY) applies to both; it matters for the 2-thread side, whose idle thread
spins between ops by default.

Prints, per configuration, the median of the warm steps' wall times (and their range) and their seconds of CPU
time per step, the median over steps of today / now step by step (wall and CPU time), and where each step's time
went (generation, reference pass, policy forward, the backward pass with the optimizer step and the rest, grading,
logging); then, per step, a digest of the completions, their number of tokens and the loss of each configuration,
and whether both did the same work. With --pair, then two "now" runs at once, each in a process of its own (the demo's
and the comparison's way of running jobs; after the interleaved runs, not interleaved with them): each run's median
seconds per step, and the pair's seconds per optimizer step (the slower run's, halved) against "today" alone.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import multiprocessing
import os
import random
import statistics
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import numpy as np  # noqa: E402
import torch  # noqa: E402
from transformers import TrainerCallback  # noqa: E402

from efficient_trl.experiments import engine  # noqa: E402
from efficient_trl.experiments.demo import DemoSettings  # noqa: E402
from efficient_trl.trainers import EfficientGRPOTrainer  # noqa: E402
from efficient_trl.training import CPU_RL_KWARGS  # noqa: E402

# What the CPU RL config changed since (everything else is the engine's config of today): TRL's activation
# checkpointing and its single log-probability pass padded to the batch's longest completion.
TODAY_OVERRIDES: dict[str, Any] = {"activation_checkpointing": True, "logprob_length_groups": 1}
TODAY_THREADS = 2  # torch's default on the 2-core machine: one intra-op thread per core
PHASES = {  # TRL method -> phase: the time spent inside it
    "_generate_single_turn": "generation",
    "_calculate_rewards": "grading and rewards",
    "log": "logging",
}


class Baton:
    """Lets the steps of several trainers run one at a time, in turn."""

    def __init__(self, names: list[str]):
        self.names, self.turn, self.done, self.started = names, 0, set(), False
        self.condition = threading.Condition()

    def start(self) -> None:
        """Let the first step run: called once every trainer waits at its first step, since setting a trainer up
        (its `train()` seeds torch) while another steps would change that step's samples."""
        with self.condition:
            self.started = True
            self.condition.notify_all()

    def wait_for(self, name: str) -> None:
        with self.condition:
            self.condition.wait_for(lambda: self.started and self.names[self.turn] == name)

    def pass_on(self, finished: bool = False, name: str | None = None) -> None:
        with self.condition:
            if finished:
                self.done.add(name)
            if len(self.done) < len(self.names):
                self.turn = (self.turn + 1) % len(self.names)
                while self.names[self.turn] in self.done:
                    self.turn = (self.turn + 1) % len(self.names)
            self.condition.notify_all()


def random_state() -> tuple:
    return torch.get_rng_state(), random.getstate(), np.random.get_state()


def set_random_state(state: tuple) -> None:
    torch.set_rng_state(state[0])
    random.setstate(state[1])
    np.random.set_state(state[2])


class StepTimer(TrainerCallback):
    """Wall and CPU seconds of each optimizer step."""

    def __init__(self):
        self.wall: list[float] = []
        self.cpu: list[float] = []

    def on_step_begin(self, args, state, control, **kwargs):
        self._wall, self._cpu = time.perf_counter(), time.process_time()

    def on_step_end(self, args, state, control, **kwargs):
        self.wall.append(time.perf_counter() - self._wall)
        self.cpu.append(time.process_time() - self._cpu)


class InTurns(StepTimer):
    """Runs a trainer's steps when the baton says, with its own random state and thread count; times them."""

    def __init__(self, name: str, baton: Baton, threads: int, phases: dict[str, float]):
        super().__init__()
        self.name, self.baton, self.threads, self.phases = name, baton, threads, phases
        self.by_phase: list[dict[str, float]] = []
        self.state: tuple | None = None

    def on_step_begin(self, args, state, control, **kwargs):
        if self.state is None:
            self.state = random_state()  # as the trainer set it up, before the other trainer runs
        self.baton.wait_for(self.name)
        set_random_state(self.state)
        torch.set_num_threads(self.threads)
        self.phases.clear()
        super().on_step_begin(args, state, control, **kwargs)  # the clocks start once the step may run

    def on_step_end(self, args, state, control, **kwargs):
        super().on_step_end(args, state, control, **kwargs)
        self.by_phase.append(dict(self.phases))
        self.state = random_state()
        self.baton.pass_on()

    def on_train_end(self, args, state, control, **kwargs):
        self.baton.pass_on(finished=True, name=self.name)


def timed(method: Callable, phases: dict[str, float], phase: Callable[..., str]) -> Callable:
    """`method`, adding its wall time to phases[name] and its CPU time to phases[name + " (CPU)"]."""

    def wrapper(*args, **kwargs):
        wall, cpu = time.perf_counter(), time.process_time()
        try:
            return method(*args, **kwargs)
        finally:
            name = phase(*args, **kwargs)
            phases[name] += time.perf_counter() - wall
            phases[name + " (CPU)"] += time.process_time() - cpu

    return wrapper


def instrument(trainer: EfficientGRPOTrainer, phases: dict[str, float]) -> None:
    """Timers around TRL's methods (on this trainer only): generation, grading, logging, the reference and policy
    passes, and the backward pass with the optimizer step as the rest of the step."""
    for method, phase in PHASES.items():
        setattr(trainer, method, timed(getattr(trainer, method), phases, lambda *a, _phase=phase, **k: _phase))

    def logps_phase(model, *args, **kwargs) -> str:
        if model is trainer.ref_model:
            return "reference pass"
        return "policy forward" if torch.is_grad_enabled() else "policy forward (no grad)"

    trainer._get_per_token_logps_and_entropies = timed(trainer._get_per_token_logps_and_entropies, phases, logps_phase)


def build(overrides: dict[str, Any], settings: DemoSettings, output_dir: str) -> EfficientGRPOTrainer:
    spec = engine.alpha_spec(0.2)
    args = engine.rl_config(spec, settings, output_dir, disable_tqdm=True, **overrides)
    data, _ = engine.rl_data(spec, settings.task, settings)
    return EfficientGRPOTrainer(model=str(engine.start_model(settings.task)), args=args, train_dataset=data)


def record_work(trainer: EfficientGRPOTrainer, work: list[list]) -> None:
    """Append to `work`, per step, a digest of the generated completions and the loss, to check that both
    configurations did the same work."""
    generate, compute_loss = trainer._generate_single_turn, trainer.compute_loss

    def generated(*args, **kwargs):
        completion_ids, logprobs = generate(*args, **kwargs)
        work.append([hashlib.sha1(repr(completion_ids).encode()).hexdigest()[:12], sum(map(len, completion_ids))])
        return completion_ids, logprobs

    def loss(*args, **kwargs):
        value = compute_loss(*args, **kwargs)
        work[-1].append(float(value.detach()))
        return value

    trainer._generate_single_turn, trainer.compute_loss = generated, loss


def run(settings: DemoSettings, configurations: dict[str, tuple[dict[str, Any], int]]) -> dict[str, Any]:
    names = list(configurations)
    baton = Baton(names)
    results, threads = {}, []
    for name, (overrides, thread_count) in configurations.items():
        phases: dict[str, float] = defaultdict(float)
        trainer = build(overrides, settings, tempfile.mkdtemp(prefix=f"step_time_{name}_"))
        work: list[list] = []
        record_work(trainer, work)
        instrument(trainer, phases)
        turns = InTurns(name, baton, thread_count, phases)
        trainer.add_callback(turns)
        results[name] = (trainer, turns, work)
        threads.append(threading.Thread(target=trainer.train, name=name))
    start_state = random_state()  # after the last trainer's __init__, which seeds torch as a run's trainer does
    for thread in threads:  # one at a time: each reaches its first step (and waits there) before the next starts
        set_random_state(start_state)  # so that each trainer's setup draws what it would draw in a run of its own
        thread.start()
        while results[thread.name][1].state is None and thread.is_alive():
            time.sleep(0.05)
    baton.start()
    for thread in threads:
        thread.join()
    return results


def train_alone(settings: DemoSettings, threads: int, start: Any, results: Any) -> None:
    """One 'now' run in a process of its own on `threads` torch threads: waits at `start`, then puts its steps' wall
    times on `results`."""
    torch.set_num_threads(threads)
    trainer = build({}, settings, tempfile.mkdtemp(prefix="step_time_pair_"))
    timer = StepTimer()
    trainer.add_callback(timer)
    start.wait()  # both set up: their steps overlap from the first
    trainer.train()
    results.put(timer.wall)


def concurrent_runs(settings: DemoSettings, threads: int, count: int = 2) -> list[list[float]]:
    """The steps' wall times of `count` 'now' runs at once, each in its own process, as the demo and the comparison
    run their jobs (`engine.run_jobs`)."""
    context = multiprocessing.get_context("spawn")
    start, results = context.Barrier(count), context.Queue()
    processes = [context.Process(target=train_alone, args=(settings, threads, start, results)) for _ in range(count)]
    for process in processes:
        process.start()
    walls = [results.get() for _ in processes]
    for process in processes:
        process.join()
    return walls


def breakdown(turns: InTurns, warm: slice) -> dict[str, tuple[float, float]]:
    """Median (wall, CPU) seconds per warm step of each phase; the rest of the step is mostly the backward pass."""
    steps = turns.by_phase[warm]
    phases = sorted({phase for step in steps for phase in step if not phase.endswith(" (CPU)")})
    medians = {}
    for phase in phases:
        medians[phase] = tuple(
            statistics.median(step.get(key, 0.0) for step in steps) for key in (phase, phase + " (CPU)")
        )
    rest = [
        [total - sum(value for key, value in step.items() if key.endswith(" (CPU)") == cpu)
         for total, step in zip(totals, steps, strict=True)]
        for cpu, totals in ((False, turns.wall[warm]), (True, turns.cpu[warm]))
    ]  # fmt: skip
    medians["backward pass, optimizer step and the rest"] = tuple(statistics.median(values) for values in rest)
    return medians


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=10, help="optimizer steps per configuration")
    parser.add_argument("--warmup", type=int, default=2, help="first steps left out of the medians")
    parser.add_argument("--task", default="sums")
    parser.add_argument("--now_threads", type=int, default=None, help="torch threads of 'now' (default: the engine's)")
    parser.add_argument("--try_fields", type=json.loads, default={}, help="config fields to add to 'now' (JSON)")
    parser.add_argument(
        "--pair", action="store_true", help="then also time two 'now' runs at once, in two processes (the demo's way)"
    )
    args = parser.parse_args()
    settings = DemoSettings(task=args.task, steps=args.steps)
    now_threads = args.now_threads or engine.THREADS
    configurations = {"today": (TODAY_OVERRIDES, TODAY_THREADS), "now": (args.try_fields, now_threads)}
    print(f"load before: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f} (1, 5, 15 min)")
    print(f"now: {CPU_RL_KWARGS}, {args.try_fields or ''} {now_threads} thread(s)")
    print(f"today: the same with {TODAY_OVERRIDES}, {TODAY_THREADS} threads")
    started = time.perf_counter()
    results = run(settings, configurations)
    load = os.getloadavg()
    print(f"load after: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; wall {time.perf_counter() - started:.0f}s")
    warm = slice(args.warmup, None)
    print(f"\n| configuration | s/step (median of {args.steps - args.warmup} warm steps) | range | CPU s/step |")
    print("|---|---:|---:|---:|")
    for name, (_, turns, _) in results.items():
        wall = turns.wall[warm]
        print(
            f"| {name} | {statistics.median(wall):.2f} | {min(wall):.2f}-{max(wall):.2f} | "
            f"{statistics.median(turns.cpu[warm]):.2f} |"
        )
    today, now = results["today"][1], results["now"][1]
    for measure in ("wall", "cpu"):
        ratios = [t / n for t, n in zip(getattr(today, measure)[warm], getattr(now, measure)[warm], strict=True)]
        print(
            f"today / now ({'wall' if measure == 'wall' else 'CPU'} time), step by step: median "
            f"{statistics.median(ratios):.2f} (range {min(ratios):.2f}-{max(ratios):.2f})"
        )
    print("\n| phase: median s per warm step, wall (CPU) | " + " | ".join(results) + " |")
    print("|---|" + "---:|" * len(results))
    phases = {name: breakdown(turns, warm) for name, (_, turns, _) in results.items()}
    for phase in sorted({p for by_phase in phases.values() for p in by_phase}):
        cells = [phases[name].get(phase, (0.0, 0.0)) for name in results]
        print(f"| {phase} | " + " | ".join(f"{wall:.2f} ({cpu:.2f})" for wall, cpu in cells) + " |")
    work = {name: steps for name, (_, _, steps) in results.items()}
    print("\nper step (completions digest, completion tokens, loss):")
    for name, steps in work.items():
        print(f"  {name}: {steps}")
    same_completions = len({str([step[:2] for step in steps]) for steps in work.values()}) == 1
    loss_gap = max(abs(a[2] - b[2]) for a, b in zip(work["today"], work["now"], strict=True))
    answer = "yes" if same_completions else "NO"
    print(f"same completions at every step: {answer}; largest loss difference {loss_gap:.3g}")
    if args.pair:
        started = time.perf_counter()
        pair = [statistics.median(wall[warm]) for wall in concurrent_runs(settings, now_threads)]
        today_wall = statistics.median(results["today"][1].wall[warm])
        took = time.perf_counter() - started
        print(
            f"\ntwo 'now' runs at once (two processes, {now_threads} thread(s) each, {took:.0f}s wall): median s/step "
            f"of each {pair[0]:.2f} and {pair[1]:.2f}, so {max(pair) / 2:.2f} s per optimizer step of the pair; "
            f"'today' alone (above): {today_wall:.2f} s/step; today / pair: {today_wall / (max(pair) / 2):.2f}"
        )


if __name__ == "__main__":
    main()
