"""Write the trade-off table (accuracy and tokens against the starting model, per dataset) into a checkpoint's card.

    # evaluate both models on the same datasets first (efficient-trl evaluate writes runs/eval/<model>/<dataset>...)
    efficient-trl model-card --checkpoint runs/deepseek-r1-distill-qwen-1.5b/alpha_0.2 \\
        --results runs/eval --start DeepSeek-R1-Distill-Qwen-1.5B
    # ... and publish the checkpoint with its card (needs `hf auth login` or HF_TOKEN)
    efficient-trl model-card --checkpoint runs/deepseek-r1-distill-qwen-1.5b/alpha_0.2 \\
        --results runs/eval --start DeepSeek-R1-Distill-Qwen-1.5B --push_to_hub --hub_model_id you/r1-1.5b-alpha0.2

The table goes into the checkpoint's README.md between two marker comments (rerunning replaces only that section),
with the training settings from the checkpoint's own provenance.json; the card's metadata gets the base model and
training data (from that provenance when they are hub names), tags and a model-index with accuracy and mean tokens
per dataset. Results whose evaluation was made on other weights than the checkpoint's are refused.
"""

from __future__ import annotations

from pathlib import Path

from efficient_trl.analysis import load_results
from efficient_trl.cli import parse_arguments
from efficient_trl.model_card import (
    ModelCardArguments,
    checkpoint_card,
    checkpoint_results_name,
    push_checkpoint,
    write_model_card,
)


def main(argv: list[str] | None = None) -> None:
    (args,) = parse_arguments(ModelCardArguments, argv=argv, description=__doc__)
    if not Path(args.checkpoint).expanduser().is_dir():  # a checkpoint is always local: never a hub name
        raise FileNotFoundError(f"no such directory: {args.checkpoint} (--checkpoint: the trained model's directory).")
    rows = load_results(args.results, start=args.start)
    model = args.model or checkpoint_results_name(rows, args.checkpoint, args.start)
    section, data = checkpoint_card(rows, args.checkpoint, model, args.start, args.base_model, args.datasets)
    card = write_model_card(args.checkpoint, section, data=data)
    print(f"{section}\n\nwritten to {card}")
    if args.push_to_hub:
        print(f"uploaded: {push_checkpoint(args.checkpoint, args.hub_model_id, private=args.private)}")
