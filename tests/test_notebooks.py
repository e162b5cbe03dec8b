"""Every notebook runs top to bottom: on the committed demo outputs (as a newcomer opens them) and on runs made
here, as a user points them at their own (the parameters cell replaced, as papermill does)."""

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

pytestmark = pytest.mark.slow  # each notebook starts a Jupyter kernel

NOTEBOOKS_DIR = Path(__file__).resolve().parent.parent / "notebooks"
NOTEBOOKS = sorted(path.name for path in NOTEBOOKS_DIR.glob("*.ipynb"))


def execute(name: str, **parameters: object) -> nbformat.NotebookNode:
    notebook = nbformat.read(NOTEBOOKS_DIR / name, as_version=4)
    if parameters:
        (cell,) = [cell for cell in notebook.cells if "parameters" in cell.metadata.get("tags", [])]
        cell.source += "\n" + "\n".join(f"{key} = {value!r}" for key, value in parameters.items())
    # nbclient raises CellExecutionError, with the cell and traceback, on the first failing cell
    NotebookClient(notebook, timeout=600, resources={"metadata": {"path": str(NOTEBOOKS_DIR)}}).execute()
    return notebook


def outputs(notebook: nbformat.NotebookNode) -> list[dict]:
    return [output for cell in notebook.cells if cell.cell_type == "code" for output in cell.get("outputs", [])]


def figures(notebook: nbformat.NotebookNode) -> int:
    return sum("image/png" in output.get("data", {}) for output in outputs(notebook))


def tables(notebook: nbformat.NotebookNode) -> list[str]:
    return [
        output["data"]["text/markdown"] for output in outputs(notebook) if "text/markdown" in output.get("data", {})
    ]


def test_the_seven_notebooks_are_there():
    assert NOTEBOOKS == [
        "adapt_think.ipynb", "graded_tiers.ipynb", "normalization_ablation.ipynb", "reward_comparison.ipynb",
        "token_budgets.ipynb", "tradeoff.ipynb", "training_dynamics.ipynb",
    ]  # fmt: skip


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_committed_notebook_text_has_no_placeholder_left(name):
    notebook = nbformat.read(NOTEBOOKS_DIR / name, as_version=4)
    text = "\n".join(cell.source for cell in notebook.cells if cell.cell_type == "markdown")
    for word in ("PLACEHOLDER", "TODO", "FIXME", "TBD"):
        assert word not in text, f"{name}: a markdown cell still says {word}"


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_committed_notebook_carries_its_rendered_figures(name):
    notebook = nbformat.read(NOTEBOOKS_DIR / name, as_version=4)
    assert figures(notebook) >= 1, f"{name} was committed without its figures: run `make notebooks`"
    assert not [output for output in outputs(notebook) if output.output_type == "error"]
    assert sum("parameters" in cell.metadata.get("tags", []) for cell in notebook.cells) == 1


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_runs_on_the_committed_demo_outputs(name):
    committed = nbformat.read(NOTEBOOKS_DIR / name, as_version=4)
    executed = execute(name)
    assert figures(executed) == figures(committed) >= 1
    assert tables(executed) == tables(committed)  # the committed tables are those of the committed demo outputs


def test_notebooks_run_on_a_fresh_demo_run(tiny_demo_run):
    run_dir = str(tiny_demo_run[0])
    for name in NOTEBOOKS:
        # a sums demo run has no evaluation by budget and no tiers, and is one seed of one plan (see the tests below)
        if name not in ("token_budgets.ipynb", "graded_tiers.ipynb", "adapt_think.ipynb", "reward_comparison.ipynb"):
            assert figures(execute(name, RUN_DIR=run_dir)) >= 1


def test_tiers_notebook_shows_the_committed_graded_sweep_per_tier():
    executed = execute("graded_tiers.ipynb")
    (table,) = tables(executed)
    header = table.splitlines()[0]
    assert all(f"{tier} tokens vs start" in header for tier in ("easy", "medium", "hard")) and "no thinking" in header
    assert {line.split("|")[1].strip() for line in table.splitlines()[2:]} >= {"start", "alpha=0.2", "sft", "dpo"}
    assert figures(executed) == 1


def test_tiers_notebook_runs_on_a_users_graded_evaluation(tmp_path):
    from efficient_trl.data import task_held_out_problems
    from efficient_trl.evaluation import evaluate_problems
    from efficient_trl.experiments.engine import PROMPT_TEMPLATE, START_MODELS
    from efficient_trl.sampling import SamplingSettings

    problems, sampling = task_held_out_problems("graded", 6), SamplingSettings(max_new_tokens=256)
    evaluate_problems(
        str(START_MODELS["graded"]), problems, tmp_path / "demo_model_graded", sampling, dataset="held-out graded",
        prompt_template=PROMPT_TEMPLATE, device="cpu", cutoffs=(),
    )  # fmt: skip
    executed = execute("graded_tiers.ipynb", RUN_DIR=str(tmp_path), START="demo_model_graded", CUTOFF_MODEL=None)
    (table,) = tables(executed)
    assert table.splitlines()[2].startswith("| demo_model_graded |") and figures(executed) == 1


def test_adapt_think_notebook_puts_the_adapt_think_runs_beside_the_alpha_family(adapt_seed_runs):
    runs, _ = adapt_seed_runs
    executed = execute(
        "adapt_think.ipynb", ALPHA_RUNS=str(runs["alpha"][0].parent), ADAPT_RUNS=[str(runs["adapt_think"][0].parent)],
        SEEDS=[0, 1], MODELS=["start", "alpha=0", "adapt_think,delta=0.05"],
    )  # fmt: skip
    (table,) = tables(executed)
    assert [line for line in table.splitlines() if line.startswith("**")] == ["**easy**", "**medium**", "**hard**"]
    assert table.count("| adapt_think delta=0.05 |") == table.count("| alpha=0 |") == 3
    assert figures(executed) == 1 and "no adapt_think runs" not in str(outputs(executed))


def test_adapt_think_notebook_before_its_runs_shows_the_alpha_family_and_says_what_to_run():
    executed = execute("adapt_think.ipynb", ADAPT_RUNS=["demo_runs/missing"])
    (table,) = tables(executed)
    assert "| alpha=0.2 |" in table and "adapt_think" not in table and figures(executed) == 1
    assert "run `make adapt-graded`" in str(outputs(executed))


def test_reward_comparison_notebook_shows_the_committed_comparison_and_its_ranking():
    # the committed make compare-graded run: its report (results.md, written by compare's write_compare_report from
    # the same library functions) holds the notebook's ranking word for word
    executed = execute("reward_comparison.ipynb")
    table, ranking = tables(executed)
    report = (NOTEBOOKS_DIR / "demo_runs/compare_graded/graded/results.md").read_text()
    assert ranking.strip() in report and table.splitlines()[0] in report
    for tier in ("easy", "medium", "hard"):
        assert f"**held-out graded, tier {tier}**" in ranking
    assert (
        "| kimi weight=2, group-normalized |" not in table
        and "| alp beta=1, normalizer=100, group-normalized |" in table
    )
    assert figures(executed) == 2


def test_reward_comparison_notebook_runs_on_a_users_seed_runs(adapt_seed_runs):
    # two seeds of one plan with tiers (graded), made here: alpha 0 and the adapt_think model, as the user's methods
    runs, _ = adapt_seed_runs
    executed = execute("reward_comparison.ipynb", SEED_RUNS=[str(path) for path in runs["adapt_think"]])
    table, ranking = tables(executed)
    assert table.count("| adapt_think delta=0.05 |") == 3 and "| adapt_think | " in ranking
    assert figures(executed) == 2


def test_budget_notebook_without_an_alpha_run_shows_only_the_budget_run():
    executed = execute("token_budgets.ipynb", ALPHA_RUN=None)
    (table,) = tables(executed)
    assert "| budget | 125 (in the prompt) |" in table and "| start | 50 (forced) |" in table
    assert "alpha=" not in table and figures(executed) == 1


def warnings_shown(notebook: nbformat.NotebookNode) -> str:
    return "".join(output.get("text", "") for output in outputs(notebook) if output.get("name") == "stderr")


def test_tradeoff_notebook_runs_on_evaluation_runs(evaluation_runs):
    executed = execute("tradeoff.ipynb", RUN_DIR=str(evaluation_runs), START="demo_model", CUTOFF_MODEL="demo_model")
    (table,) = tables(executed)
    assert "| math500 | alpha_0.3 |" in table
    # the default cutoffs (8000 to 32000 tokens) of an evaluation at 24 tokens are the model itself: left out, said
    assert "cutoff=" not in table and "cut nothing: ['cutoff=8000', 'cutoff=16000'" in warnings_shown(executed)
    assert figures(executed) == 1


def test_tradeoff_notebook_on_a_folder_with_budget_runs_shows_each_model_once():
    executed = execute("tradeoff.ipynb", RUN_DIR="demo_runs/budget")
    (table,) = tables(executed)
    assert [line.split("|")[1].strip() for line in table.splitlines()[2:]] == ["start"]
    assert "runs at a token budget: start (N=50, 75, 100, 125), budget_sft" in warnings_shown(executed)
    assert figures(executed) == 1


def test_ablation_notebook_runs_on_evaluation_and_training_runs(evaluation_runs, ablation_training_dirs):
    executed = execute(
        "normalization_ablation.ipynb", RUN_DIR=str(evaluation_runs), TRAINING_DIR=str(ablation_training_dirs),
        DATASET="math500", START="demo_model",
    )  # fmt: skip
    table, group_seeds, whitening_seeds = tables(executed)  # the two across-seed tables read the committed runs
    assert "| math500 | alpha_0.3_norm_group |" in table
    assert "| alpha=0.2, group-normalized | hard |" in group_seeds and "| 3 |" in group_seeds
    assert "| alpha=0, batch_token-normalized | easy |" in whitening_seeds
    assert figures(executed) == 2
