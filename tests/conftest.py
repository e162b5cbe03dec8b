import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import pytest  # noqa: E402

from efficient_trl.testing import build_tiny_model  # noqa: E402


@pytest.fixture(scope="session")
def tiny_model_path(tmp_path_factory) -> str:
    return build_tiny_model(tmp_path_factory.mktemp("tiny-model"))


@pytest.fixture(scope="session")
def tiny_r1_model_path(tmp_path_factory) -> str:
    """The tiny model with a tokenizer that behaves like DeepSeek-R1-Distill-Qwen's (BOS, its chat template)."""
    return build_tiny_model(tmp_path_factory.mktemp("tiny-r1-model"), tokenizer_style="r1-distill")


@pytest.fixture(scope="session")
def tiny_demo_run(tmp_path_factory):
    """A real demo run, shrunk: two alphas, two advantage normalizations and every baseline, from the shipped
    demo model (about half a minute). Returns (run directory, result rows, settings); what it wrote on stderr (its
    stage lines) is in stderr.txt beside the run directory."""
    import contextlib
    import io

    from efficient_trl.experiments.demo import DemoSettings, run_demo
    from efficient_trl.experiments.engine import START_MODELS

    settings = DemoSettings(
        task="sums", alphas=[0.0, 0.3], normalizations=["none", "group"], steps=2, prompts_per_step=4,
        num_generations=4, max_completion_length=120, logging_steps=1, eval_problems=8, baselines=True,
        cutoffs=[30, 60],
    )  # fmt: skip
    run_dir = tmp_path_factory.mktemp("demo") / "run"
    with contextlib.redirect_stderr(io.StringIO()) as stderr:
        rows = run_demo(run_dir, settings, start_model=START_MODELS["sums"])
    (run_dir.parent / "stderr.txt").write_text(stderr.getvalue())
    return run_dir, rows, settings


@pytest.fixture(scope="session")
def evaluation_runs(tmp_path_factory, tiny_demo_run):
    """Evaluation run directories as recipes/evaluate.py lays them out (runs/eval/<model>/<dataset>...) for the
    demo's starting model and its alpha=0.3 models (advantages unnormalized and group-normalized), on GSM8K and
    MATH500 (a few problems, short generations)."""
    from efficient_trl.evaluation import evaluate
    from efficient_trl.experiments.engine import START_MODELS
    from efficient_trl.sampling import SamplingSettings

    root = tmp_path_factory.mktemp("eval")
    for model in (START_MODELS["sums"], tiny_demo_run[0] / "alpha_0.3", tiny_demo_run[0] / "alpha_0.3_norm_group"):
        for dataset in ("gsm8k", "math500"):
            sampling = SamplingSettings(k=2, max_new_tokens=24)
            evaluate(str(model), dataset, root / model.name / dataset, sampling, num_problems=3)
    return root


@pytest.fixture
def ablation_training_dirs(tiny_demo_run, tmp_path):
    """A user's own ablation layout: training output directories named as the demo names its models
    (alpha_0.3, alpha_0.3_norm_group), each with its training log; returns their parent."""
    import shutil

    for name in ("alpha_0.3", "alpha_0.3_norm_group"):
        (tmp_path / "runs" / name).mkdir(parents=True)
        shutil.copy(tiny_demo_run[0] / name / "trainer_state.json", tmp_path / "runs" / name)
    return tmp_path / "runs"


@pytest.fixture(scope="session")
def graded_evaluations(tmp_path_factory):
    """A real evaluation of the graded task's shipped starting model as `start` and of a copy of it recorded as
    trained from it with alpha = 0.2 (`alpha=0.2`, at a shorter token limit, so that it spends fewer tokens), on 2
    held-out problems per tier, with the cutoff baseline at 40 and 80 tokens: the root of their run directories."""
    import shutil

    from efficient_trl.evaluation import evaluate_problems
    from efficient_trl.experiments.engine import START_MODELS
    from efficient_trl.provenance import model_fingerprint, read_provenance, write_provenance
    from efficient_trl.sampling import SamplingSettings
    from efficient_trl.synthetic import graded_problems

    root, start = tmp_path_factory.mktemp("graded"), str(START_MODELS["graded"])
    trained = shutil.copytree(start, root / "models" / "alpha_0.2")
    write_provenance(trained, {
        **read_provenance(start), "trainer": "grpo", "advantage_normalization": "none",
        "base_model": {"name_or_path": start, "fingerprint": model_fingerprint(start)},
        "length_reward": {"name": "sigmoid", "alpha": 0.2, "eps": 1e-7, "measure": "completion"},
    })  # fmt: skip
    problems = graded_problems(6, seed=3, split="held_out")
    for name, model, max_new_tokens in (("start", start, 160), ("alpha=0.2", str(trained), 72)):
        evaluate_problems(
            model, problems, root / "eval" / name, SamplingSettings(k=2, max_new_tokens=max_new_tokens),
            dataset="graded", batch_size=12, cutoffs=(40, 80), name=name,
        )  # fmt: skip
    return root / "eval"


@pytest.fixture(scope="session")
def adapt_seed_runs(tmp_path_factory):
    """Real graded demo runs, shrunk, as make ablation-graded and make adapt-graded lay them out, for seeds 0 and 1:
    {"alpha": [seed_0, seed_1] (alpha 0 only), "adapt_think": [seed_0, seed_1] (--methods adapt_think, 2 samples per
    training prompt for the start accuracy)}, with the settings of each (about a minute)."""
    import contextlib
    import io

    from efficient_trl.experiments.demo import DemoSettings, run_demo

    root = tmp_path_factory.mktemp("adapt_seeds")
    tiny = {"task": "graded", "steps": 2, "prompts_per_step": 4, "num_generations": 4, "max_completion_length": 120,
            "logging_steps": 1, "eval_problems": 12}  # fmt: skip
    plans = {"alpha": {"alphas": [0.0]}, "adapt_think": {"methods": ["adapt_think"], "start_accuracy_samples": 2}}
    runs, settings = {}, {}
    for plan, fields in plans.items():
        for seed in (0, 1):
            settings[plan, seed] = DemoSettings(**tiny, **fields, seed=seed)
            run_dir = root / plan / f"seed_{seed}"
            with contextlib.redirect_stderr(io.StringIO()):
                run_demo(run_dir, settings[plan, seed])
            runs.setdefault(plan, []).append(run_dir)
    return runs, settings


# Fixtures that train or evaluate models for real (tens of seconds): a test using one is marked slow.
SLOW_FIXTURES = {
    "tiny_demo_run", "evaluation_runs", "ablation_training_dirs", "finished_run", "tiny_run", "adapt_seed_runs",
}  # fmt: skip


def pytest_collection_modifyitems(items):
    for item in items:
        if SLOW_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)
