"""Write the trade-off table (accuracy and tokens against the starting model, per dataset) into a checkpoint's card.

    # evaluate both models on the same datasets first (recipes/evaluate.py writes runs/eval/<model>/<dataset>...)
    python recipes/model_card.py --checkpoint runs/deepseek-r1-distill-qwen-1.5b/alpha_0.2 \\
        --results runs/eval --start DeepSeek-R1-Distill-Qwen-1.5B

The table goes into the checkpoint's README.md between two marker comments; rerunning replaces only that section.
"""

from __future__ import annotations

import argparse

from efficient_trl.analysis import load_results, model_card_table, result_name, write_model_card


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", required=True, help="the trained model's directory")
    parser.add_argument("--results", required=True, help="evaluation run directories (or a demo run directory)")
    parser.add_argument("--start", required=True, help="name of the starting model in the results")
    parser.add_argument(
        "--model", default=None, help="name of the trained model in the results (default: from --checkpoint)"
    )
    args = parser.parse_args()
    table = model_card_table(
        load_results(args.results), model=args.model or result_name(args.checkpoint), start=args.start
    )
    card = write_model_card(args.checkpoint, table)
    print(f"{table}\n\nwritten to {card}")


if __name__ == "__main__":
    main()
