"""Step-time overhead of the efficient trainers over stock TRL, on the same tiny model, config and seed.

Runs stock `RLOOTrainer`/`GRPOTrainer` and `EfficientRLOOTrainer`/`EfficientGRPOTrainer` in turn, alternating their
order each round in one process, and prints the median optimizer-step time of each and the ratio efficient / stock
(target: <= 1.03). The learning rate is 0 so that every variant generates the same completions from the same model:
the ratio then measures the added reward and advantage work, not a drift in completion lengths. Each step's
time is the fastest of its runs, and the ratio is the median over steps of efficient / stock.

On a shared 2-core machine step times wander by 10-30% from run to run, more than the overhead itself, so the
script also times the added work directly: the time spent in the two overridden methods outside the TRL methods
they call, per step, as a share of the stock step time ("direct"). The "noise" column is the same paired ratio
between two halves of the stock runs, which would be 1.000 on a quiet machine.

    python benchmarks/overhead.py [--rounds 3] [--steps 12]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch  # noqa: E402
from timing import StepTimer, fastest_per_step, paired_ratio  # noqa: E402  (benchmarks/timing.py)
from transformers.trainer_callback import PrinterCallback  # noqa: E402
from trl import GRPOConfig, GRPOTrainer, RLOOConfig, RLOOTrainer  # noqa: E402

from efficient_trl import (  # noqa: E402
    EfficientGRPOConfig,
    EfficientGRPOTrainer,
    EfficientRLOOConfig,
    EfficientRLOOTrainer,
    math_accuracy_reward,
)
from efficient_trl.synthetic import sum_problems  # noqa: E402
from efficient_trl.testing import TWO_TERM_SUMS, build_tiny_model  # noqa: E402

PAIRS = {
    "RLOO": (
        (RLOOTrainer, RLOOConfig, {}),
        (EfficientRLOOTrainer, EfficientRLOOConfig, {"length_penalty_alpha": 0.2}),
    ),
    "GRPO": (
        (GRPOTrainer, GRPOConfig, {"scale_rewards": "none"}),
        (EfficientGRPOTrainer, EfficientGRPOConfig, {"length_penalty_alpha": 0.2}),
    ),
}


class AddedWork:
    """Accumulates the time spent in the efficient overrides outside the TRL methods they wrap."""

    METHODS = ("_calculate_rewards", "_generate_and_score_completions")

    def __init__(self):
        self.seconds = 0.0

    def __enter__(self):
        self._saved = []
        for stock in (RLOOTrainer, GRPOTrainer):
            for method in self.METHODS:
                self._wrap(stock, method, sign=-1.0)  # TRL's part, called through super()
        for efficient in (EfficientRLOOTrainer, EfficientGRPOTrainer):
            for method in self.METHODS:
                self._wrap(efficient.__mro__[1], method, sign=1.0)  # the mixin that holds both overrides
        return self

    def _wrap(self, owner: type, name: str, sign: float) -> None:
        original = owner.__dict__[name]
        if any(saved[:2] == (owner, name) for saved in self._saved):
            return

        def timed(trainer, *args, **kwargs):
            start = time.perf_counter()
            try:
                return original(trainer, *args, **kwargs)
            finally:
                self.seconds += sign * (time.perf_counter() - start)

        self._saved.append((owner, name, original))
        setattr(owner, name, timed)

    def __exit__(self, *exc):
        for owner, name, original in reversed(self._saved):
            setattr(owner, name, original)


def step_times(
    trainer_class, config_class, extra: dict, model_path: str, out_dir: str, steps: int
) -> tuple[list[float], list[float]]:
    """Step times after warm-up, and the mean completion length of every step (equal across variants)."""
    args = config_class(
        output_dir=out_dir,
        use_cpu=True,
        bf16=False,
        per_device_train_batch_size=16,
        num_generations=8,
        max_completion_length=64,
        max_steps=steps,
        learning_rate=0.0,
        beta=1e-3,
        logging_steps=1,
        log_level="error",
        save_strategy="no",
        report_to="none",
        seed=0,
        disable_tqdm=True,
        **extra,
    )
    timer = StepTimer()
    trainer = trainer_class(
        model=model_path,
        reward_funcs=math_accuracy_reward,
        args=args,
        train_dataset=sum_problems(steps * 2, seed=0, **TWO_TERM_SUMS),
        callbacks=[timer],
    )
    trainer.remove_callback(PrinterCallback)  # keep the per-step log dictionaries off the screen
    trainer.train()
    lengths = [entry["completions/mean_length"] for entry in trainer.state.log_history if "loss" in entry]
    return timer.times[2:], lengths  # the first steps warm up kernels and the grader


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=12)
    args = parser.parse_args()
    torch.set_num_threads(1)  # one compute thread: timings disturbed less by whatever else runs on the machine
    with tempfile.TemporaryDirectory() as tmp:
        model_path = build_tiny_model(f"{tmp}/model", hidden_size=128, num_layers=4)
        times: dict[str, list[list[float]]] = {}  # variant -> runs -> step times
        lengths: dict[str, list[float]] = {}
        added_per_step: dict[str, list[float]] = {}
        step_times(*PAIRS["GRPO"][0], model_path, f"{tmp}/out", 3)  # warm up the process (imports, grader, kernels)
        for round_index in range(args.rounds):
            for name, (stock, efficient) in PAIRS.items():
                order = [("stock", stock), ("efficient", efficient)]
                for label, (trainer_class, config_class, extra) in order[:: 1 if round_index % 2 == 0 else -1]:
                    with AddedWork() as added:
                        measured, run_lengths = step_times(
                            trainer_class, config_class, extra, model_path, f"{tmp}/out", args.steps
                        )
                    if label == "efficient":
                        added_per_step.setdefault(name, []).append(added.seconds / args.steps)
                    times.setdefault(f"{name} {label}", []).append(measured)
                    lengths.setdefault(name, []).append(run_lengths)
    print(f"{os.cpu_count()} CPUs, {args.rounds} rounds x {args.steps - 2} timed steps per variant")
    for name, runs in lengths.items():
        same = all(run == runs[0] for run in runs)
        print(f"{name}: every run generated {'the same' if same else 'DIFFERENT'} completion lengths")
    print(
        f"{'trainer':<8} {'stock s/step':>13} {'efficient s/step':>17} {'ratio':>6} {'noise':>6} "
        f"{'added ms/step':>14} {'direct':>7}"
    )
    for name in PAIRS:
        # Every run of a pair generates the same completions, so step k costs the same work in each: take each
        # step's fastest run (the least disturbed by the machine), then the median over steps of the paired ratios.
        stock_runs, efficient_runs = times[f"{name} stock"], times[f"{name} efficient"]
        stock, efficient = fastest_per_step(stock_runs), fastest_per_step(efficient_runs)
        ratio = paired_ratio(efficient, stock)
        half = len(stock_runs) // 2
        noise = paired_ratio(fastest_per_step(stock_runs[:half]), fastest_per_step(stock_runs[half:]))
        added = statistics.median(added_per_step[name])
        print(
            f"{name:<8} {statistics.median(stock):>13.4f} {statistics.median(efficient):>17.4f} {ratio:>6.3f} "
            f"{noise:>6.3f} {1000 * added:>14.2f} {1 + added / statistics.median(stock):>7.4f}"
        )


if __name__ == "__main__":
    main()
