"""`python -m efficient_trl <command>`: the same commands as the `efficient-trl` console script."""

from efficient_trl.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
