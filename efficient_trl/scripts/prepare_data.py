"""Build the training prompt set: problems with a numeric gold answer, deduplicated, a deterministic 3.2k sample.

    efficient-trl prepare-data --output_dir data/train-3.2k
    efficient-trl prepare-data --sources AI-MO/NuminaMath-CoT --output_dir data/numina-3.2k   # online
    efficient-trl prepare-data --authors_split --output_dir data/authors-3.2k                 # online

Offline, the shipped MATH train set and AIME 1983-2023 stand in for the paper's Numina subsets. Problems that need a
figure (Asymptote code, an image file, "in the diagram") are dropped; the checks run on all cores (--num_proc).
`--authors_split` draws from the authors' own published split instead (daman1209arora/compression_dataset; needs
hub access).
"""

from __future__ import annotations

import logging

from efficient_trl.cli import parse_arguments
from efficient_trl.data import PreparationArguments, prepare_training_set, save_prepared
from efficient_trl.rundir import check_new_output_dir


def main(argv: list[str] | None = None) -> None:
    (args,) = parse_arguments(PreparationArguments, argv=argv, description=__doc__)
    check_new_output_dir(args.output_dir)  # before the preparation, which takes minutes
    logging.getLogger("math_verify").setLevel(logging.ERROR)  # unparseable answers are counted, not logged
    sample, report = prepare_training_set(args.chosen_sources(), args.num_samples, args.seed, num_proc=args.num_proc)
    path = save_prepared(sample, report, args.output_dir)
    print(report.table())
    print(f"saved to {path}")
