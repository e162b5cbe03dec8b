"""The commands of `efficient-trl <command>` (and `python -m efficient_trl <command>`), one module each.

Each module's `main(argv=None)` parses its flags (`--config file.yaml` and overrides, through `efficient_trl.cli`)
and runs the command; its docstring heads the command's `--help`. `recipes/<name>.py` is the same command as a
script: it imports this `main`. `efficient_trl.cli` dispatches a command name to its module, imported only when that
command runs.
"""
