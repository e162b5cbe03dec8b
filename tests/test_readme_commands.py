"""Every command the READMEs document runs as written, as far as a CPU machine can tell without running it.

The shell code blocks (```bash, ```sh, ```shell, ```console, and indented blocks whose first word is a program) and
the inline code that is a command (`inline_commands`) of README.md, recipes/README.md, notebooks/README.md,
notebooks/demo_runs/README.md and any Markdown under benchmarks/ are read as the shell reads them (continuation
lines, comments, `&&` `||` `;` `|` `&`, subshells, `cd`, variables, `for` loops, `bash -c`); then each command:

- `python X.py ...`, `accelerate launch ... X.py ...` or `... -m efficient_trl <command> ...`, `efficient-trl
  <command> ...` and `python -m efficient_trl <command> ...`: the script or command exists, and its flags and values
  parse with its own parser (the real one: the command's `main` runs until parsing returns and is stopped there,
  so nothing is trained, evaluated or written); `accelerate launch`'s own flags parse with Accelerate's parser and
  its `--config_file` exists; `trl vllm-serve`'s flags parse with TRL's parser;
- `make X`: the target is in the Makefile and the command runs in the repository root;
- `pip install` / `pip download`: efficient-trl from the clone (`-e .`, extras that setup.cfg has), never from an
  index; other packages are its requirements or THIRD_PARTY;
- every path that names something in the repository (its first part is a tracked top-level file or folder, from
  the shell's current directory) exists, and no relative path leads outside the repository. Other paths
  (`runs/...`, `data/...`, `/tmp/...`, hub names) are what earlier commands create or download.

Nothing is skipped in silence. Placeholders are listed: ENVIRONMENT (variables a user sets), ANGLE_PLACEHOLDERS
(`<...>`), COMMAND_SUBSTITUTIONS (`$(...)`) and PLACEHOLDER_WORDS (DIR, NAME, RUN: values passed as they are); any
other `$VAR`, `<...>` or `$(...)` is a problem. A command shown with `...` (flags left out) has the flags it shows
checked by name only (ELISION). Files and scripts the prose describes are in DESCRIBED_FILES and USER_SCRIPTS,
inline code that is part of a sentence in FRAGMENTS, indented text that is not a command in NOT_COMMANDS. Programs
whose own flags are not checked are in EXTERNAL_PROGRAMS with the reason (their paths still are); an unknown
program is a problem. On this CPU machine the training commands are parsed with CPU_FLAGS appended (the recipes
ask for bf16 GPUs).
"""

from __future__ import annotations

import argparse
import configparser
import contextlib
import importlib
import io
import os
import re
import runpy
import shlex
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

import efficient_trl.cli as cli

ROOT = Path(__file__).resolve().parents[1]
DOCS = [
    "README.md",
    "recipes/README.md",
    "notebooks/README.md",
    "notebooks/demo_runs/README.md",
    *sorted(path.relative_to(ROOT).as_posix() for path in (ROOT / "benchmarks").rglob("*.md")),
]
SHELL_LANGUAGES = {"bash", "sh", "shell", "console"}

# Variables the docs ask the user to set, with a value of the right shape
ENVIRONMENT = {
    "HF_USER": "you",  # README: "your hub user name, after `hf auth login`"
    "SLURM_NODEID": "0",  # set by Slurm on each node (recipes/README's sbatch script)
}
ANGLE_PLACEHOLDERS = {
    "<node 0's address>": "10.0.0.1",  # recipes/README's two-node launch
    "<command>": "train",  # README: `efficient-trl <command> --help`, any command
    "<name>": "r1-distill-1.5b-alpha0.2",  # recipes/README: `--hub_model_id $HF_USER/<name>`, a repository's name
}
# Words that stand for a value of the user's: passed to the parser as they are (a string)
PLACEHOLDER_WORDS = {
    "DIR": "a directory of the user's (`--out DIR`, `--checkpoint DIR`)",
    "NAME": "a model's name in the results (`--start NAME`)",
    "RUN": "a demo run's directory (`--checkpoint RUN/alpha_0.2 --results RUN`)",
    "runs/.../alpha_0.2": "a run directory under runs/",
}
ELISION = "..."  # flags left out: the command's flags shown are checked by name only, not parsed together
COMMAND_SUBSTITUTIONS = {'$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n 1)': "node0"}
# Files a command reads that the prose around it describes
DESCRIBED_FILES = {
    # README, Use: 'With an `eval.yaml` holding `model: runs/deepseek-r1-distill-qwen-1.5b/alpha_0.2` and
    # `data_parallel_size: 4`'
    "eval.yaml": "model: runs/deepseek-r1-distill-qwen-1.5b/alpha_0.2\ndata_parallel_size: 4\n",
}
# Scripts the user writes, as the prose around the command says
USER_SCRIPTS = {"train_alpha.py": "README, Use: the snippet above, saved under this name"}
# Programs whose own flags are not checked here (their repository paths are)
EXTERNAL_PROGRAMS = {
    "git": "git's own command (a `cd` into the folder a `git clone` made is the repository root)",
    "jupyter": "Jupyter's own command, from `pip install jupyterlab`",
    "find": "a coreutils/findutils command",
    "cp": "a coreutils command",
    "hf": "huggingface_hub's command (`hf auth login`)",
    "huggingface-cli": "huggingface_hub's older command name",
    "srun": "Slurm's launcher; the command it runs is checked",
    "bash": "the `-c` command is checked",
    "/usr/bin/time": "GNU time; the command after its flags is checked",
}
PYTHON_MODULES = {"venv": "Python's own (`python3 -m venv .venv`)"}  # `python -m X` besides efficient_trl
THIRD_PARTY = {"trackio", "jupyterlab", "torch==2.13.0"}  # what the docs install beside efficient-trl's requirements
PIP_OPTIONS_WITH_A_VALUE = {"-d", "--dest", "--find-links", "--python-version", "--platform", "--only-binary"}
# The commands that train ask for bf16 GPUs in their recipes; parsed here with these appended
TRAINING_COMMANDS = {"train", "sft", "dpo"}
CPU_FLAGS = ["--bf16", "false", "--use_cpu", "true"]
# Indented blocks that are not commands (the first words of the block, and what it is)
NOT_COMMANDS = {
    "R(z) = 1{z correct}": "README, The method: the reward's formula",
    "<think>Quick:": "README, the graded testbed: a reference solution",
    "alpha <- clip(": "README, Trainers and configs: the dual ascent's update of alpha",
}
PROGRAMS = {"python", "python3", "accelerate", "efficient-trl", "make", "pip", "trl", "cd", *EXTERNAL_PROGRAMS}
# Inline code that starts like a command but is a fragment of a sentence (what it is)
FRAGMENTS = {
    "accelerate launch": "README: the launcher named in prose",
    "accelerate launch --num_processes 2": "README: how the two-process test is launched, named in prose",
    "pip install --target": "README: how the packaging test installs the wheel, named in prose",
}


@dataclass
class Command:
    doc: str
    line: int
    text: str  # the command's words (the block's text for a problem found before its commands are split)
    problems: list[str] = field(default_factory=list)


def shell_blocks(doc: str) -> list[tuple[int, str]]:
    """(first line number, text) of each shell block of `doc`: fenced with a shell language, or indented by 4
    spaces after a blank line (outside fences) and starting with a program; other indented blocks must be in
    NOT_COMMANDS."""
    lines = (ROOT / doc).read_text().splitlines()
    blocks, fence, indented = [], None, None
    for number, line in enumerate(lines, 1):
        opening = re.match(r"\s*```(\S*)", line)
        if fence is not None:
            if line.strip() == "```":
                if fence[0] in SHELL_LANGUAGES:
                    blocks.append((fence[1], "\n".join(re.sub(r"^\$ ", "", text) for text in fence[2])))
                fence = None
            else:
                fence[2].append(line)
            continue
        if opening:
            fence = (opening.group(1), number + 1, [])
            continue
        if line.startswith("    ") and line.strip() and (indented is not None or not lines[number - 2].strip()):
            indented = indented or (number, [])
            indented[1].append(line[4:])
            continue
        if indented is not None:
            text = "\n".join(indented[1])
            if text.split()[0] in PROGRAMS:
                blocks.append((indented[0], text))
            else:
                assert any(text.startswith(prefix) for prefix in NOT_COMMANDS), (
                    f"{doc}:{indented[0]}: an indented block that is neither a command (its first word is not in "
                    f"PROGRAMS) nor listed in NOT_COMMANDS:\n{text}"
                )
            indented = None
    assert fence is None, f"{doc}: a code fence opened at line {fence[1] - 1} is never closed"
    return blocks


def inline_commands(doc: str) -> list[tuple[int, str]]:
    """(line number, text) of each inline code span of `doc` (outside fences) that is a command: two words or more,
    starting with a program of PROGRAMS, `NAME=value` or a virtual environment's program; FRAGMENTS are not."""
    text = re.sub(r"```.*?```", lambda fence: "\n" * fence.group(0).count("\n"), (ROOT / doc).read_text(), flags=re.S)
    found = []
    for span in re.finditer(r"`([^`]+)`", text):
        words = span.group(1).split()
        if len(words) < 2 or " ".join(words) in FRAGMENTS:
            continue
        first = words[0]
        if first in PROGRAMS or re.fullmatch(r"\w+=\S*", first) or first.endswith(("/pip", "/python")):
            found.append((text.count("\n", 0, span.start()) + 1, " ".join(words)))
    return found


# --- reading a block as the shell reads it -------------------------------------------------------------------

ESCAPES = {"\\(": "\x00lparen\x00", "\\)": "\x00rparen\x00", "\\;": "\x00semicolon\x00"}
OPERATORS = {"&&", "||", ";", "|", "&", "(", ")"}


def tokens(text: str) -> list[tuple[str, bool]]:
    """The words of `text` (comments dropped, quotes removed), each with whether it is an operator (an escaped
    `\\(`, `\\)` or `\\;` is a word, as find's arguments)."""
    for placeholder, value in {**ANGLE_PLACEHOLDERS, **COMMAND_SUBSTITUTIONS}.items():
        text = text.replace(placeholder, value)
    for escaped, word in ESCAPES.items():
        text = text.replace(escaped, word)
    lexer = shlex.shlex(text, posix=True, punctuation_chars=";&|()")
    lexer.whitespace_split, lexer.commenters = True, "#"
    words = []
    for word in lexer:
        operator = word in OPERATORS
        for escaped, sentinel in ESCAPES.items():
            word = word.replace(sentinel, escaped[1])
        words.append((word, operator))
    return words


def statements(text: str) -> list[list[str]]:
    """The block's simple commands and its structure, in order: each a list of words, `(` and `)` alone."""
    text = text.replace("\\\n", " ")
    result, current = [], []
    for line in text.splitlines():
        for word, operator in [*tokens(line), (";", True)]:
            if operator:
                if current:
                    result.append(current)
                current = []
                if word in "()":
                    result.append([word])
            else:
                current.append(word)
    return result


def expand(word: str, variables: dict[str, str], command: Command) -> str:
    """`word` with `$NAME` / `${NAME}` replaced (an escaped `\\$` is kept as `$`); an unknown variable is a
    problem."""

    def value(match: re.Match) -> str:
        name = match.group(1) or match.group(2)
        if name not in variables:
            command.problems.append(f"${name} is neither set in the block nor a documented placeholder (ENVIRONMENT)")
            return f"${name}"
        return variables[name]

    return re.sub(r"(?<!\\)\$(?:\{(\w+)\}|(\w+))", value, word).replace("\\$", "$")


@dataclass
class Shell:
    """What a block's commands share: the current directory, variables, a folder `git clone` made; where
    DESCRIBED_FILES are written (`scratch`), and every command checked so far."""

    scratch: Path
    cwd: Path = ROOT
    variables: dict[str, str] = field(default_factory=lambda: dict(ENVIRONMENT))
    clone: str | None = None
    checked: list[Command] = field(default_factory=list)


def run_block(doc: str, line: int, text: str, scratch: Path) -> list[Command]:
    """Check each command of the shell block `text` (at `doc`:`line`); returns them with their problems."""
    shell, block = Shell(scratch), Command(doc, line, text)
    rest = re.sub(r"(^|\s)#.*", "", text)  # comments may say what a command writes: runs/eval/<model>/...
    for known in [*ANGLE_PLACEHOLDERS, *COMMAND_SUBSTITUTIONS]:
        rest = rest.replace(known, "")
    for unknown in re.findall(r"\$\([^)]*\)|<[^<>\n]*>", rest):
        block.problems.append(f"{unknown!r} is a placeholder that ANGLE_PLACEHOLDERS/COMMAND_SUBSTITUTIONS lack")
    shell.checked += [block] if block.problems else []
    run_statements(statements(text), shell, block)
    return shell.checked


def run_statements(items: list[list[str]], shell: Shell, where: Command) -> None:
    index, saved = 0, []
    while index < len(items):
        words = items[index]
        if words == ["("]:
            saved.append(shell.cwd)
        elif words == [")"]:
            shell.cwd = saved.pop()
        elif words[0] == "for":  # for VAR in WORDS; do BODY; done: the body runs once per word
            assert words[2] == "in", f"{where.doc}:{where.line}: unsupported for loop {words}"
            depth, end = 0, index + 1
            while True:
                head = items[end][0]
                depth += head == "for"
                if head == "done":
                    if depth == 0:
                        break
                    depth -= 1
                end += 1
            body = [item[1:] if item[0] == "do" else item for item in items[index + 1 : end]]
            for value in words[3:]:
                shell.variables[words[1]] = expand(value, shell.variables, where)
                run_statements([item for item in body if item], shell, where)
            index = end
        else:
            command = Command(where.doc, where.line, " ".join(words))
            check_command([expand(word, shell.variables, command) for word in words], shell, command)
            shell.checked.append(command)
        index += 1


# --- checking one command --------------------------------------------------------------------------------------


def tracked_top_level() -> set[str]:
    listed = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    return {path.split("/")[0] for path in listed.splitlines()}


REPOSITORY = tracked_top_level()


def check_paths(words: list[str], shell: Shell, command: Command) -> None:
    for word in words:
        for candidate in [word, *word.split("=", 1)[1:]]:
            if "/" not in candidate or candidate.startswith(("-", "/")) or "://" in candidate:
                continue
            path = Path(os.path.normpath(shell.cwd / candidate))
            if not path.is_relative_to(ROOT):
                command.problems.append(f"{candidate} leads outside the repository")
            elif path != ROOT and path.relative_to(ROOT).parts[0] in REPOSITORY:
                if not (path.exists() or list(ROOT.glob(str(path.relative_to(ROOT))))):
                    command.problems.append(f"{candidate} does not exist in the repository")


class Parsed(Exception):
    """Raised when a command's parser returns: what it parsed, and nothing run after it."""


@contextlib.contextmanager
def stopped_at_parsing(flag_names_only: bool = False):
    """Stop a command's main where its parser returns, raising `Parsed`: after `cli.parse_arguments` (its own checks
    included: required fields, choices), after TRL's `TrlParser.parse_args_and_config` where a script calls it
    directly (train, sft, dpo: it builds the configs), or after a plain argparse parser's `parse_args` (env, the
    benchmarks). With `flag_names_only`, stop before parsing, with the parser (for a command shown with `...`)."""
    from trl import TrlParser

    real_parse_arguments, real_trl_parse = cli.parse_arguments, TrlParser.parse_args_and_config
    real_argparse = argparse.ArgumentParser.parse_args
    inside = []

    def parse_arguments(*args, **kwargs):
        inside.append(True)
        try:
            parsed = real_parse_arguments(*args, **kwargs)
        finally:
            inside.pop()
        raise Parsed(parsed)

    def parse_args_and_config(self, *args, **kwargs):
        if flag_names_only:
            raise Parsed(self)
        parsed = real_trl_parse(self, *args, **kwargs)
        if not inside:
            raise Parsed(parsed)
        return parsed

    def parse_args(self, *args, **kwargs):
        if type(self) is not argparse.ArgumentParser:  # TRL's and transformers' parsers are stopped above
            return real_argparse(self, *args, **kwargs)
        raise Parsed(self if flag_names_only else real_argparse(self, *args, **kwargs))

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(argparse.ArgumentParser, "parse_args", parse_args)
        patch.setattr(TrlParser, "parse_args_and_config", parse_args_and_config)
        for name, loaded in list(sys.modules.items()):
            if name.startswith("efficient_trl") and getattr(loaded, "parse_arguments", None) is real_parse_arguments:
                patch.setattr(loaded, "parse_arguments", parse_arguments)
        yield patch


def unknown_flags(parser: argparse.ArgumentParser, argv: list[str]) -> list[str]:
    """The `--flags` of `argv` that `parser` does not know (`--config` is TrlParser's own)."""
    known = {*parser._option_string_actions, "--config"}
    return [word.split("=")[0] for word in argv if word.startswith("--") and word.split("=")[0] not in known]


def parse_command(command_name: str, argv: list[str]) -> None:
    """Run `efficient-trl <command_name>`'s main on `argv` until its parser returns (`stopped_at_parsing`); with
    `...` in `argv` (flags left out), check only that each flag shown is one the parser knows."""
    module = importlib.import_module(cli.command_module(command_name))
    elided = ELISION in argv
    with stopped_at_parsing(flag_names_only=elided) as patch:
        patch.setattr(sys, "argv", [f"efficient-trl {command_name}", *argv])
        try:
            module.main([word for word in argv if word != ELISION])
        except Parsed as parsed:
            unknown = unknown_flags(parsed.args[0], argv) if elided else []
            assert not unknown, f"unknown flags {unknown}"
            return
    raise AssertionError(f"efficient-trl {command_name}'s main returned without parsing its flags")


def parse_benchmark(script: Path, argv: list[str]) -> None:
    """Run a benchmark script's main on `argv` until its argparse parser returns (its folder on sys.path, as
    `python benchmarks/X.py` puts it); with `...`, flag names only, as `parse_command`."""
    elided = ELISION in argv
    with stopped_at_parsing(flag_names_only=elided) as patch:
        patch.syspath_prepend(str(script.parent))
        namespace = runpy.run_path(str(script), run_name="readme_commands")
        patch.setattr(sys, "argv", [str(script), *(word for word in argv if word != ELISION)])
        try:
            namespace["main"]()
        except Parsed as parsed:
            unknown = unknown_flags(parsed.args[0], argv) if elided else []
            assert not unknown, f"unknown flags {unknown}"
            return
    raise AssertionError(f"{script}'s main returned without parsing its flags")


def parsing_problem(parse, *args) -> str | None:
    """None if `parse(*args)` parses; else the parser's message."""
    err = io.StringIO()
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            parse(*args)
    except SystemExit as stopped:
        if stopped.code not in (0, None):  # --help exits 0
            return err.getvalue().strip().splitlines()[-1] if err.getvalue().strip() else f"exit {stopped.code}"
    except Exception as error:  # a field's own check, a config class's: the command would fail the same way
        return f"{type(error).__name__}: {error}"
    return None


def described_files(argv: list[str], shell: Shell) -> list[str]:
    """`argv` with each file of DESCRIBED_FILES written to the scratch folder and named by its path there."""
    described = []
    for word in argv:
        if word in DESCRIBED_FILES:
            (shell.scratch / word).write_text(DESCRIBED_FILES[word])
            word = str(shell.scratch / word)
        described.append(word)
    return described


def check_efficient_trl(argv: list[str], shell: Shell, command: Command) -> None:
    """`efficient-trl <command> <flags>` (also `python -m efficient_trl`, `accelerate launch -m efficient_trl`)."""
    if not argv or argv[0] in ("-h", "--help", "--version"):
        return
    name = argv[0].replace("_", "-")
    if name not in cli.COMMANDS:
        command.problems.append(f"efficient-trl has no command {argv[0]!r}")
        return
    flags = [*argv[1:], *(CPU_FLAGS if name in TRAINING_COMMANDS else [])]
    problem = parsing_problem(parse_command, name, described_files(flags, shell))
    if problem:
        command.problems.append(f"its flags do not parse: {problem}")


def check_script(script: str, argv: list[str], shell: Shell, command: Command) -> None:
    path = Path(os.path.normpath(shell.cwd / script))
    if script in USER_SCRIPTS:
        return
    if not path.is_file():
        command.problems.append(f"no script {script}")
        return
    relative = path.relative_to(ROOT).as_posix() if path.is_relative_to(ROOT) else script
    if relative.startswith("recipes/"):
        name = path.stem.replace("_", "-")
        if name not in cli.COMMANDS or f"from {cli.command_module(name)} import main" not in path.read_text():
            command.problems.append(f"{relative} is not the script of an efficient-trl command")
            return
        check_efficient_trl([name, *argv], shell, command)
    elif relative.startswith("benchmarks/"):
        problem = parsing_problem(parse_benchmark, path, described_files(argv, shell))
        if problem:
            command.problems.append(f"its flags do not parse: {problem}")
    else:
        command.problems.append(f"{relative}: a script outside recipes/ and benchmarks/ (add how to parse it)")


def check_accelerate(argv: list[str], shell: Shell, command: Command) -> None:
    from accelerate.commands.launch import launch_command_parser

    if argv[:1] != ["launch"]:
        command.problems.append(f"accelerate {argv[:1]}: only `accelerate launch` is documented")
        return
    launch = []
    problem = parsing_problem(lambda: launch.append(launch_command_parser().parse_args(argv[1:])))
    if problem:
        command.problems.append(f"accelerate launch's flags do not parse: {problem}")
        return
    (args,) = launch
    if args.config_file and not (shell.cwd / args.config_file).is_file():
        command.problems.append(f"no accelerate config {args.config_file}")
    if args.module:
        if args.training_script != "efficient_trl":
            command.problems.append(f"-m {args.training_script}: not efficient_trl")
        else:
            check_efficient_trl(args.training_script_args, shell, command)
    else:
        check_script(args.training_script, args.training_script_args, shell, command)


def makefile_targets() -> set[str]:
    return set(re.findall(r"^([\w.-]+):", (ROOT / "Makefile").read_text(), re.M))


def check_pip(argv: list[str], command: Command) -> None:
    """`pip install` / `pip download`: efficient-trl from the clone with extras it has; other packages are its
    requirements (setup.cfg) or THIRD_PARTY."""
    if argv[:1] not in (["install"], ["download"]):
        command.problems.append(f"pip {argv[:1]}: only `pip install` and `pip download` are documented")
        return
    setup = configparser.ConfigParser()
    setup.read(ROOT / "setup.cfg")
    extras = set(setup["options.extras_require"])
    requirements = {re.split(r"[\[<>=!~ ]", line.strip())[0] for line in setup["options"]["install_requires"].split()}
    words = iter(argv[1:])
    for word in words:
        if word in PIP_OPTIONS_WITH_A_VALUE:
            next(words, None)
        elif re.split(r"[\[<>=!~]", word)[0] in requirements - {""}:
            pass
        elif word == "-e":
            target = next(words, "")
            match = re.fullmatch(r"\.(?:\[([\w,-]+)\])?", target)
            if not match:
                command.problems.append(f"pip install -e {target}: install the clone, -e . or -e '.[extras]'")
            elif match.group(1) and not set(match.group(1).split(",")) <= extras:
                command.problems.append(f"unknown extras in {target} (setup.cfg has {sorted(extras)})")
        elif word.startswith("efficient") or word.startswith("."):
            command.problems.append(f"pip install {word}: efficient-trl is not on a package index; clone, then -e .")
        elif not word.startswith("-") and word not in THIRD_PARTY:
            command.problems.append(f"pip install {word}: not in THIRD_PARTY")


def check_command(words: list[str], shell: Shell, command: Command) -> None:
    while words and re.fullmatch(r"\w+=.*", words[0]):  # NAME=value before a program, or alone: an assignment
        name, value = words.pop(0).split("=", 1)
        if not words:
            shell.variables[name] = value
            return
    if not words:
        return
    check_paths(words, shell, command)
    program, argv = words[0], words[1:]
    if program.endswith(("/pip", "/python", "/python3")):  # a virtual environment's own: .venv/bin/pip
        program = program.rsplit("/", 1)[1]
    if program == "cd":
        target = argv[0] if argv else ""
        if target == shell.clone:
            shell.cwd = ROOT
        else:
            shell.cwd = Path(os.path.normpath(shell.cwd / target))
    elif program in ("python", "python3"):
        if argv[:2] == ["-m", "efficient_trl"]:
            check_efficient_trl(argv[2:], shell, command)
        elif argv[:1] == ["-m"]:
            if argv[1] not in PYTHON_MODULES:
                command.problems.append(f"python -m {argv[1]}: neither efficient_trl nor in PYTHON_MODULES")
        else:
            check_script(argv[0], argv[1:], shell, command)
    elif program == "efficient-trl":
        check_efficient_trl(argv, shell, command)
    elif program == "accelerate":
        check_accelerate(argv, shell, command)
    elif program == "make":
        if shell.cwd != ROOT:
            command.problems.append(f"make runs in {shell.cwd}, not in the repository root where the Makefile is")
        for target in (word for word in argv if not word.startswith("-")):
            if target not in makefile_targets():
                command.problems.append(f"the Makefile has no target {target!r}")
    elif program == "pip":
        check_pip(argv, command)
    elif program == "trl":
        if argv[:1] != ["vllm-serve"]:
            command.problems.append(f"trl {argv[:1]}: only `trl vllm-serve` is documented")
        else:
            from trl.scripts.vllm_serve import make_parser

            problem = parsing_problem(lambda: make_parser().parse_args_and_config(argv[1:]))
            if problem:
                command.problems.append(f"trl vllm-serve's flags do not parse: {problem}")
    elif program == "git":
        if argv[:1] == ["clone"]:
            shell.clone = argv[-1].rstrip("/").split("/")[-1].removesuffix(".git")
    elif program == "bash" and argv[:1] == ["-c"]:
        run_statements(statements(argv[1]), shell, command)
    elif program in ("srun", "/usr/bin/time"):  # the command after the launcher's own flags
        while argv and argv[0].startswith("-"):
            argv = argv[1:]
        check_command(argv, shell, command)
    elif program not in EXTERNAL_PROGRAMS:
        command.problems.append(f"unknown program {program!r} (add it to EXTERNAL_PROGRAMS with the reason)")


@pytest.fixture(autouse=True)
def _from_the_repository_root(monkeypatch):
    monkeypatch.chdir(ROOT)  # the docs' commands run from the repository root
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


def documented_commands(doc: str, scratch: Path) -> list[Command]:
    """Every command of `doc`: its shell blocks', then its inline code's (`inline_commands`)."""
    blocks = [*shell_blocks(doc), *inline_commands(doc)]
    return [command for line, text in blocks for command in run_block(doc, line, text, scratch)]


@pytest.mark.parametrize("doc", DOCS)
def test_every_documented_command_runs_as_written(doc, tmp_path):
    commands = documented_commands(doc, tmp_path)
    problems = [f"{c.doc}:{c.line}: `{c.text}`: {problem}" for c in commands for problem in c.problems]
    assert not problems, "\n".join(problems)


def test_the_docs_hold_the_commands_this_test_checks(tmp_path):
    """Not vacuous: the blocks are found, with the commands the issue named among them."""
    found = {doc: [command.text for command in documented_commands(doc, tmp_path)] for doc in DOCS}
    assert len(found["README.md"]) >= 20 and len(found["recipes/README.md"]) >= 10
    assert len(found["notebooks/README.md"]) >= 3 and len(found["notebooks/demo_runs/README.md"]) >= 3
    readme = " ".join(found["README.md"])
    assert "python recipes/model_card.py --checkpoint runs/deepseek-r1-distill-qwen-1.5b/alpha_0.2" in readme
    assert "benchmarks/gpu_check.py" in readme
    assert "make notebooks" in found["notebooks/demo_runs/README.md"]
    inline = [text for _, text in inline_commands("README.md")]  # inline code counts too
    assert "python recipes/build_demo_model.py --output_dir runs/demo_model" in inline
    assert "python recipes/model_card.py --checkpoint RUN/alpha_0.2 --results RUN --start start" in inline


def test_the_placeholders_are_used():
    text = "\n".join((ROOT / doc).read_text() for doc in DOCS)
    listed = [*ANGLE_PLACEHOLDERS, *COMMAND_SUBSTITUTIONS, *DESCRIBED_FILES, *NOT_COMMANDS, *PLACEHOLDER_WORDS]
    for placeholder in [*listed, *USER_SCRIPTS, *FRAGMENTS]:
        assert placeholder in text, f"{placeholder!r} is no longer in the docs: remove it from this test"
    for name in ENVIRONMENT:
        assert f"${name}" in text, name


@pytest.mark.parametrize(
    "block, problem",
    [
        ("python recipes/no_such.py --x 1", "no script recipes/no_such.py"),
        ("python recipes/evaluate.py --model m --no_such_flag 1", "its flags do not parse"),
        ("python recipes/evaluate.py --model m --dataset math500 --budget_mode sideways", "sideways"),
        ("efficient-trl no-such-command", "efficient-trl has no command"),
        ("make no-such-target", "the Makefile has no target 'no-such-target'"),
        ("cd notebooks && make notebooks", "not in the repository root"),
        ("../shared/gpu/fetch-wheels.sh .whl", "leads outside the repository"),
        ("accelerate launch --config_file accelerate_configs/none.yaml recipes/train.py", "no accelerate config"),
        ("python recipes/train.py --config recipes/deepseek-r1-distill-qwen-1.5b/alpha_9.yaml", "does not exist"),
        ('pip install "efficient-trl[vllm,deepspeed]"', "not on a package index"),
        ("python recipes/model_card.py --checkpoint x --results y --start z --push_to_hub", "needs --hub_model_id"),
        ("python benchmarks/gpu_check.py --no-such-flag", "its flags do not parse"),
        ("python recipes/evaluate.py --model $MODEL", "$MODEL is neither set"),
        ("frobnicate --now", "unknown program 'frobnicate'"),
        ("python recipes/model_card.py ... --push_to_hub --no_such_flag", "--no_such_flag"),
        ("for m in a b; do\n  python recipes/evaluate.py --model $m --datset gsm8k; done", "its flags do not parse"),
        ("python recipes/evaluate.py --model $(ls runs | head -n 1)", "placeholder"),
        ("python recipes/evaluate.py --model <your model>", "placeholder"),
    ],
)
def test_a_command_that_would_fail_is_reported(block, problem, tmp_path):
    problems = [p for command in run_block("example.md", 1, block, tmp_path) for p in command.problems]
    assert any(problem in p for p in problems), problems
