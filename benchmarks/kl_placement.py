"""How much does the KL placement matter? The CPU demo trained with the KL in the loss and in the reward.

    python benchmarks/kl_placement.py                      # seeds 0 and 1, 8 runs of 60 steps, about 5 minutes each

From the sums task's shipped starting model, at alpha 0.2 with the demo's RL settings (`RLSettings`: 60 steps of
8 prompts x 8 completions, learning rate 5e-5, beta 1e-3), trains one model per seed, KL placement (TRL's k3 term
in the loss, the recipes' default, or `kl_in_reward`, the authors' k1 returns) and advantage normalization ("none",
the paper's, or "batch_token", the authors' code's). Each generation batch serves two optimizer steps
(`steps_per_generation=2`), so that TRL keeps the sampling policy's log-probabilities and `efficiency/kl_penalty`
(beta times a completion's summed k1 KL, the share `kl_in_reward` subtracts) is logged in every run. Prints a
Markdown table per run of the means over the last 10 generation batches (steps 41 to 60; the efficiency metrics
are logged once per batch); the training logs go to --out.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from efficient_trl import EfficientGRPOTrainer  # noqa: E402
from efficient_trl.experiments.engine import alpha_spec, rl_config, rl_data, start_model, torch_threads  # noqa: E402
from efficient_trl.experiments.settings import RLSettings  # noqa: E402

METRICS = (
    "efficiency/kl_penalty",
    "efficiency/length_penalty",
    "efficiency/accuracy",
    "efficiency/correct_mean_tokens",
)


def train_run(out: Path, placement: str, normalization: str, seed: int, alpha: float) -> list[dict]:
    """One demo training; its logged steps (those with the efficiency metrics)."""
    settings = RLSettings(seed=seed, logging_steps=1)
    spec = alpha_spec(alpha, normalization)
    data, _ = rl_data(spec, "sums", settings)
    run = out / f"{placement}_{normalization}_seed{seed}"
    args = rl_config(
        spec, settings, run, steps_per_generation=2, kl_in_reward=placement == "reward", save_strategy="no",
        report_to="none",
    )  # fmt: skip
    with torch_threads():
        trainer = EfficientGRPOTrainer(model=str(start_model("sums")), args=args, train_dataset=data)
        trainer.train()
    logs = [entry for entry in trainer.state.log_history if "efficiency/accuracy" in entry]
    (out / f"{run.name}.json").write_text(json.dumps(logs))
    return logs


def last_means(logs: list[dict], count: int = 10) -> list[float]:
    """Each metric's mean over the last `count` generation batches."""
    rows = logs[-count:]
    return [sum(row[key] for row in rows if key in row) / sum(key in row for row in rows) for key in METRICS]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--alpha", type=float, default=0.2)
    parser.add_argument("--out", type=Path, default=Path("runs/kl_placement"))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    print("| KL | normalization | seed | " + " | ".join(key.split("/")[1] for key in METRICS) + " |")
    print("| --- | --- | --- |" + " --- |" * len(METRICS))
    for seed in args.seeds:
        for normalization in ("none", "batch_token"):
            for placement in ("loss", "reward"):
                means = last_means(train_run(args.out, placement, normalization, seed, args.alpha))
                print(f"| {placement} | {normalization} | {seed} | " + " | ".join(f"{m:.4g}" for m in means) + " |")


if __name__ == "__main__":
    main()
