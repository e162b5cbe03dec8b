"""`efficient-trl quickstart` as a script; see efficient_trl/scripts/quickstart.py.

    make quickstart
    python recipes/quickstart.py --length_penalty_alpha 0.2 --max_steps 20 --output_dir runs/my-run

`--help` lists every flag.
"""

from efficient_trl.scripts.quickstart import main

if __name__ == "__main__":
    main()
