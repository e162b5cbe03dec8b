"""Build the training prompt set: problems with a numeric gold answer, deduplicated, a deterministic 3.2k sample.

    python recipes/prepare_data.py --output_dir data/train-3.2k
    python recipes/prepare_data.py --sources AI-MO/NuminaMath-CoT --output_dir data/numina-3.2k   # online
    python recipes/prepare_data.py --authors_split --output_dir data/authors-3.2k                 # online

Offline, the shipped MATH train set and AIME 1983-2023 stand in for the paper's Numina subsets. Problems that need a
figure (Asymptote code, an image file, "in the diagram") are dropped; the checks run on all cores (--num_proc).
`--authors_split` draws from the authors' own published split instead (daman1209arora/compression_dataset; needs
hub access).
"""

import logging

from efficient_trl.cli import parse_arguments
from efficient_trl.data import PreparationArguments, prepare_training_set, save_prepared
from efficient_trl.rundir import check_new_output_dir


def main() -> None:
    (args,) = parse_arguments(PreparationArguments, description=__doc__)
    check_new_output_dir(args.output_dir)  # before the preparation, which takes minutes
    logging.getLogger("math_verify").setLevel(logging.ERROR)  # unparseable answers are counted, not logged
    sample, report = prepare_training_set(args.chosen_sources(), args.num_samples, args.seed, num_proc=args.num_proc)
    path = save_prepared(sample, report, args.output_dir)
    print(report.table())
    print(f"saved to {path}")


if __name__ == "__main__":
    main()
