"""Write the trade-off table (accuracy and tokens against the starting model, per dataset) into a checkpoint's card.

    # evaluate both models on the same datasets first (recipes/evaluate.py writes runs/eval/<model>/<dataset>...)
    python recipes/model_card.py --checkpoint runs/deepseek-r1-distill-qwen-1.5b/alpha_0.2 \\
        --results runs/eval --start DeepSeek-R1-Distill-Qwen-1.5B
    # ... and publish the checkpoint with its card (needs `hf auth login` or HF_TOKEN)
    python recipes/model_card.py --checkpoint runs/deepseek-r1-distill-qwen-1.5b/alpha_0.2 \\
        --results runs/eval --start DeepSeek-R1-Distill-Qwen-1.5B --push_to_hub --hub_model_id you/r1-1.5b-alpha0.2

The table goes into the checkpoint's README.md between two marker comments (rerunning replaces only that section),
with the training settings its evaluations recorded from the model's provenance.json; the card's metadata gets the
base model and training data (from that provenance when they are hub names), tags and a model-index with accuracy
and mean tokens per dataset.
"""

from __future__ import annotations

import argparse

from efficient_trl.analysis import (
    load_results,
    model_card_data,
    model_card_section,
    push_checkpoint,
    result_name,
    write_model_card,
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", required=True, help="the trained model's directory")
    parser.add_argument("--results", required=True, help="evaluation run directories (or a demo run directory)")
    parser.add_argument("--start", required=True, help="name of the starting model in the results")
    parser.add_argument(
        "--model", default=None, help="name of the trained model in the results (default: from --checkpoint)"
    )
    parser.add_argument(
        "--base_model",
        default=None,
        help="hub name of the starting model for the card (default: the model's provenance, else the one the starting "
        "model's evaluations recorded)",
    )
    parser.add_argument(
        "--datasets",
        nargs="+",
        default=None,
        help="hub names of the training data, for the card (default: from the model's provenance)",
    )
    parser.add_argument("--push_to_hub", action="store_true", help="upload the checkpoint with its card")
    parser.add_argument("--hub_model_id", default=None, help="hub repository to upload to, e.g. you/my-model")
    parser.add_argument("--private", action="store_true", help="create the hub repository as private")
    args = parser.parse_args()
    if args.push_to_hub and not args.hub_model_id:
        parser.error("--push_to_hub needs --hub_model_id (e.g. --hub_model_id you/r1-1.5b-alpha0.2)")
    rows = load_results(args.results, start=args.start)
    model = args.model or result_name(args.checkpoint)
    section = model_card_section(rows, model=model, start=args.start, base_model=args.base_model)
    data = model_card_data(rows, model=model, start=args.start, base_model=args.base_model, datasets=args.datasets)
    card = write_model_card(args.checkpoint, section, data=data)
    print(f"{section}\n\nwritten to {card}")
    if args.push_to_hub:
        print(f"uploaded: {push_checkpoint(args.checkpoint, args.hub_model_id, private=args.private)}")


if __name__ == "__main__":
    main()
