"""The quickstart (efficient_trl/scripts/quickstart.py): what its header and table say, and that its default run
shows what it promises."""

import re
from types import SimpleNamespace

import pytest

from efficient_trl.provenance import read_provenance
from efficient_trl.scripts.quickstart import COLUMNS, PrintRows, main, quickstart_defaults


def test_a_row_lines_up_under_the_header(capsys):
    logs = {"efficiency/accuracy": 0.890625, "completions/mean_length": 80.71875, "reward": 0.71375, "loss": 0.1}
    PrintRows().on_log(None, SimpleNamespace(global_step=12), None, logs=logs)
    PrintRows().on_log(None, SimpleNamespace(global_step=12), None, logs={"train_runtime": 20.0})  # the last log
    header = "  ".join(COLUMNS)
    (row,) = capsys.readouterr().out.splitlines()
    assert header == "step  accuracy  mean tokens  reward"
    assert row == "  12       89%         80.7   0.714"
    assert [match.end() for match in re.finditer(r"\S+", row)] == [len(header[: header.index(label) + len(label)])
                                                                     for label in COLUMNS]  # fmt: skip


@pytest.mark.slow
def test_the_default_run_shortens_the_answers_while_the_accuracy_holds(tmp_path, capsys):
    main(["--output_dir", str(tmp_path / "run")])
    out = capsys.readouterr().out
    defaults = quickstart_defaults()
    assert "a tiny model on CPU" in out and f"alpha {defaults['length_penalty_alpha']:g}" in out
    assert f"seed {defaults['seed']}" in out and f"Model and logs saved under {tmp_path / 'run'}" in out
    lines = [line for line in out.splitlines() if re.match(r" +\d", line)]
    rows = [[float(value.rstrip("%")) for value in line.split()] for line in lines]
    steps = list(range(defaults["logging_steps"], defaults["max_steps"] + 1, defaults["logging_steps"]))
    assert [row[0] for row in rows] == steps
    (first, *_, last) = rows
    assert last[2] < 0.9 * first[2]  # at least 10% fewer tokens
    assert min(row[1] for row in rows) >= 80  # the accuracy (%) holds
    provenance = read_provenance(tmp_path / "run" / "final-model")
    assert provenance["length_reward"]["alpha"] == defaults["length_penalty_alpha"]
