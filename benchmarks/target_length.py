"""Does a target mean length get met? The graded demo trained with `target_mean_tokens` instead of a fixed alpha.

    nice -n 19 python benchmarks/target_length.py          # seeds 0 and 1, the start's evaluation first

From the graded task's shipped starting model, with the demo's settings (`DemoSettings(task="graded")`: 60 steps of
8 prompts x 8 completions, learning rate 5e-5, beta 1e-3, at most 256 tokens, 1,000 held-out problems at
temperature 0.6), evaluates the starting model, sets the target to --fraction (0.75) of its held-out mean
completion tokens, then trains one model per seed with that target (alpha from --alpha, adjusted every step by
dual ascent with --step_size, at most --alpha_max; `efficient_trl.dual_alpha`) and evaluates it on the same
held-out problems. Prints per seed: the target, the training batches' mean tokens over the last --last logged steps
(every completion, at temperature 1.0: what the dual ascent measures), alpha at the end, the held-out mean tokens
and accuracy per tier, and the relative gaps to the target. The run directory (--run_dir) holds each model, its
training log and its evaluation, laid out as the demo's, named by its options (a rerun with the same options
keeps what is finished; other options add models beside them).
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from efficient_trl import EfficientGRPOTrainer  # noqa: E402
from efficient_trl.experiments import engine  # noqa: E402
from efficient_trl.experiments.demo import DemoSettings  # noqa: E402
from efficient_trl.provenance import PROVENANCE_FILE, training_provenance  # noqa: E402
from efficient_trl.training import train_and_save  # noqa: E402

TASK = "graded"
TIERS = ("easy", "medium", "hard")


def model_name(seed: int, target: float, options: dict) -> str:
    """The directory of one trained model: every setting that differs between runs, so that runs with other options
    in the same --run_dir never take each other's models."""
    return (
        f"target_{target:g}_from_{options['alpha']:g}_step_{options['step_size']:g}_max_{options['alpha_max']:g}"
        f"_steps_{options['steps']}_seed_{seed}"
    )


def train_and_evaluate(run_dir: Path, seed: int, target: float, options: dict) -> dict:
    """Train the graded start model towards `target` with `seed` (the demo's other settings, but for `options`'
    steps and eval_problems), evaluate it; returns its training log's logged steps and its held-out summary."""
    settings = DemoSettings(
        task=TASK, seed=seed, logging_steps=1, steps=options["steps"], eval_problems=options["eval_problems"]
    )
    spec = engine.alpha_spec(options["alpha"])
    start = engine.start_model(TASK)
    output_dir = run_dir / model_name(seed, target, options)
    if not (output_dir / PROVENANCE_FILE).is_file():  # trained by an earlier launch otherwise
        with engine.torch_threads():
            args = engine.rl_config(
                spec, settings, output_dir, target_mean_tokens=target,
                length_penalty_alpha_step_size=options["step_size"], length_penalty_alpha_max=options["alpha_max"],
            )  # fmt: skip
            data, record = engine.rl_data(spec, TASK, settings)
            trainer = EfficientGRPOTrainer(model=str(start), args=args, train_dataset=data)
            train_and_save(trainer, output_dir, training_provenance("grpo", args, str(start), record))
    log = json.loads((output_dir / "trainer_state.json").read_text())["log_history"]
    steps = [entry for entry in log if "efficiency/alpha" in entry]
    problems = engine.held_out_problems(TASK, settings)
    summary = engine.evaluate_model(output_dir, output_dir.name, problems, TASK, settings, run_dir)
    return {"seed": seed, "steps": steps, "summary": summary}


def held_out_cells(summary: dict, target: float) -> list[str]:
    """Accuracy, mean tokens and their gap to `target`, then 'accuracy / mean tokens' per tier."""
    cells = [
        f"{summary['accuracy']:.1%}",
        f"{summary['mean_tokens']:.1f}",
        f"{summary['mean_tokens'] / target - 1:+.1%}",
    ]
    by_tier = summary["by_tier"]
    return cells + [f"{by_tier[tier]['accuracy']:.1%} / {by_tier[tier]['mean_tokens']:.1f}" for tier in TIERS]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--fraction", type=float, default=0.75, help="target = this share of the start's tokens")
    parser.add_argument("--alpha", type=float, default=0.2, help="starting alpha")
    parser.add_argument("--step_size", type=float, default=0.1, help="length_penalty_alpha_step_size")
    parser.add_argument("--alpha_max", type=float, default=0.5, help="length_penalty_alpha_max")
    parser.add_argument("--last", type=int, default=10, help="training steps averaged at the end")
    parser.add_argument("--workers", type=int, default=2, help="seeds trained at once, one process each")
    parser.add_argument("--steps", type=int, default=DemoSettings.steps, help="RL steps (the demo's by default)")
    parser.add_argument("--eval_problems", type=int, default=DemoSettings.eval_problems)
    parser.add_argument("--run_dir", type=Path, default=Path("runs/target_length"))
    args = parser.parse_args()
    args.run_dir.mkdir(parents=True, exist_ok=True)

    settings = DemoSettings(task=TASK, seed=args.seeds[0], steps=args.steps, eval_problems=args.eval_problems)
    start = engine.evaluate_model(
        engine.start_model(TASK), "start", engine.held_out_problems(TASK, settings), TASK, settings, args.run_dir
    )
    target = round(args.fraction * start["mean_tokens"], 1)
    options = {"alpha": args.alpha, "step_size": args.step_size, "alpha_max": args.alpha_max, "steps": args.steps}
    options["eval_problems"] = args.eval_problems
    jobs = [(args.run_dir, seed, target, options) for seed in args.seeds]
    results = engine.run_jobs(train_and_evaluate, jobs, args.workers)

    print(
        f"\ntarget: {args.fraction:g} x the start's held-out mean tokens ({start['mean_tokens']:.1f}) = {target:g} "
        f"tokens; alpha from {args.alpha:g}, step size {args.step_size:g}, alpha_max {args.alpha_max:g}; "
        f"{settings.steps} steps of {settings.prompts_per_step} prompts x {settings.num_generations}\n"
    )
    print(
        f"| model | train mean tokens (last {args.last} steps) | train gap | alpha at the end | held-out accuracy | "
        "held-out mean tokens | held-out gap | easy acc / tokens | medium acc / tokens | hard acc / tokens |"
    )
    print("| --- |" + " ---: |" * 9)
    print("| start | | | | " + " | ".join(held_out_cells(start, target)) + " |")
    for result in results:
        last = result["steps"][-args.last :]
        train_mean = sum(entry["efficiency/mean_penalized_tokens"] for entry in last) / len(last)
        model_dir = args.run_dir / model_name(result["seed"], target, options)
        final_alpha = json.loads((model_dir / PROVENANCE_FILE).read_text())["length_reward"]["final_alpha"]
        cells = [
            f"seed {result['seed']}",
            f"{train_mean:.1f}",
            f"{train_mean / target - 1:+.1%}",
            f"{final_alpha:.3f}",
        ]
        print("| " + " | ".join(cells + held_out_cells(result["summary"], target)) + " |")
    alphas = {result["seed"]: [round(entry["efficiency/alpha"], 3) for entry in result["steps"]] for result in results}
    print(f"\nalpha per step (every 5th): { {seed: values[::5] for seed, values in alphas.items()} }")


if __name__ == "__main__":
    main()
