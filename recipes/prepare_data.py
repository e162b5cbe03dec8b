"""`efficient-trl prepare-data` as a script; see efficient_trl/scripts/prepare_data.py.

    python recipes/prepare_data.py --output_dir data/train-3.2k

`--help` lists every flag.
"""

from efficient_trl.scripts.prepare_data import main

if __name__ == "__main__":
    main()
