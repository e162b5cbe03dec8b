"""The one engine behind every CPU experiment: open a run directory, train one model spec, evaluate one model, run
jobs two at a time. The plans (`demo`, `compare`, `budget_demo`) are data and a main over these functions.

A run directory is laid out as evaluation lays out runs: settings.json (the plan's settings), one directory per
trained model (weights, trainer_state.json, provenance.json) and eval/<model>/ per evaluated model (settings.json,
samples.jsonl, summary.json with the model's provenance), so that `efficient_trl.analysis.load_results` reads it. A
rerun of a plan with the same settings resumes its run: finished models and evaluations are kept, the rest redone.
Every model starts from a demo task's shipped starting model (`START_MODELS`), trains on the task's training split
and is evaluated on its held-out split (`efficient_trl.synthetic`: disjoint by a hash of the problem).
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from multiprocessing import get_context
from pathlib import Path
from typing import Any

from ..baselines import rejection_sample
from ..budgets import with_sampled_budgets
from ..configs import EfficientGRPOConfig
from ..data import TASK_PROMPT, task_held_out_problems
from ..evaluation import (
    evaluate_problems,
    evaluate_problems_by_budget,
    load_samples,
    start_accuracies,
    start_accuracy_summary,
)
from ..provenance import PROVENANCE_FILE, model_fingerprint, training_provenance
from ..rundir import LOCK_FILE, RunDirInUseError, held_run_dir, write_atomically
from ..sampling import SamplingSettings
from ..synthetic import TASKS
from ..trainers import EfficientGRPOTrainer
from ..training import CPU_RL_KWARGS, CPU_TRAINING_KWARGS, train_and_save
from .progress import stage, timed
from .settings import ExperimentSettings, RLSettings, RunArguments

__all__ = [
    "DEMO_ANSWER_CUE",
    "RL_SEED",
    "START_MODELS",
    "THREADS",
    "ModelSpec",
    "adapt_think_spec",
    "alpha_spec",
    "eval_dir",
    "eval_sampling",
    "evaluate_model",
    "held_out_problems",
    "model_dir_name",
    "rejection_sample_start",
    "rl_config",
    "rl_data",
    "rl_prompts",
    "run_jobs",
    "run_plan",
    "start_model",
    "settings_record",
    "start_accuracy_data",
    "time_stamped",
    "torch_threads",
    "train_model",
    "write_json",
]

PACKAGE_DIR = Path(__file__).resolve().parents[1]
# Each demo task's shipped starting model (`efficient-trl build-demo-model --task <name>` rebuilds it)
START_MODELS = {
    "sums": PACKAGE_DIR / "demo_model",
    "multi_sums": PACKAGE_DIR / "demo_model_multi_sums",
    "graded": PACKAGE_DIR / "demo_model_graded",
}
RL_SEED = 2  # RL prompts come from the train split (evaluation problems: data.task_held_out_problems)
PROMPT_TEMPLATE = TASK_PROMPT  # a demo task's user turn is the bare problem
# The cue after a forced `</think>` (training rollouts and forced evaluations of every demo): what follows `</think>`
# in every demo task's solutions (evaluation's default, "Final Answer:", is text the ~1M-parameter models never saw)
DEMO_ANSWER_CUE = "\\boxed{"
# Generation batch sizes of evaluation and rejection sampling (fixed: they set the sampled numbers of every run)
EVAL_BATCH_SIZE, SAMPLING_BATCH_SIZE = 250, 256
TRAINERS = ("grpo", "sft", "dpo")
# torch's intra-op threads while a model trains, samples or is evaluated: a ~1M-parameter model runs mostly ops too
# small to split, so a second thread saves little time, costs CPU (OpenMP threads spin between ops, badly so on a
# busy machine) and is better spent on a second run (`run_jobs`); another count changes the weights by float noise,
# which a long run can carry into other samples.
THREADS = 1


# ModelSpec fields added after plans were first recorded: `ModelSpec.recorded` leaves them out at their defaults.
LATER_SPEC_FIELDS = (
    "rollout_budgets", "rollout_answer_cue", "forced_no_think_share", "importance_sampling_level",
    "rollout_thinking_budget",
)  # fmt: skip


@dataclass(frozen=True)
class ModelSpec:
    """Which model to train, as data: RL with a length reward of `efficient_trl.LENGTH_REWARDS` (its parameters,
    the sigmoid's alpha included, the advantage normalization and the budgets its prompts ask for), or an SFT/DPO
    model on data the plan gives. `role` and `reason` say why a plan trains it."""

    length_reward: str = "sigmoid"
    params: dict[str, float] = field(default_factory=dict)  # the rest keep the registry entry's defaults
    normalization: str = "none"
    as_published: bool = False  # trained as the reward's authors did (`reward_as_published`): named <name>@published
    budget_range: tuple[int, int] | None = None  # each RL prompt asks for a budget drawn from it (L1's rewards)
    budget_template: str = "exact"
    rollout_budgets: bool = False  # RL rollouts kept within the budget their prompt asks for (rollout_budget_column)
    rollout_answer_cue: str | None = None  # the cue after a forced `</think>` (None: the config's default)
    rollout_thinking_budget: int | None = None  # one thinking budget for every RL rollout (rollout_thinking_budget)
    trainer: str = "grpo"  # "grpo" (RL), or "sft" / "dpo" on data the plan gives
    forced_no_think_share: float = 0.0  # AdaptThink's importance sampling (EfficientGRPOConfig's field)
    importance_sampling_level: str = "token"  # GRPO's ratio per token or per completion ("sequence")
    learning_rate: float | None = None  # SFT/DPO; RL takes RLSettings.learning_rate
    epochs: float = 1.0  # SFT/DPO
    label: str | None = None  # the name in results, when not derived from the above
    role: str = ""
    reason: str = ""

    def recorded(self) -> dict[str, Any]:
        """The spec as a plan's settings.json records it: every field, but those added after plans were first
        recorded (`LATER_SPEC_FIELDS`) only where they differ from their defaults, so that a run recorded before they
        existed still resumes."""
        defaults = ModelSpec()
        return {key: value for key, value in asdict(self).items()
                if key not in LATER_SPEC_FIELDS or value != getattr(defaults, key)}  # fmt: skip

    def __post_init__(self) -> None:
        if self.trainer not in TRAINERS:
            raise ValueError(f"trainer must be one of {list(TRAINERS)}, got {self.trainer!r}.")
        if self.trainer != "grpo" and self.learning_rate is None:
            raise ValueError(f"a {self.trainer} spec needs its learning_rate.")
        if self.rollout_budgets and self.budget_range is None:
            raise ValueError("a spec with rollout_budgets needs the budget_range its prompts ask for budgets from.")
        if self.rollout_budgets and self.rollout_thinking_budget is not None:
            raise ValueError(
                "a spec takes rollout_budgets (each prompt's budget) or rollout_thinking_budget, not both."
            )
        if self.as_published and self.normalization != "none":
            raise ValueError("an as_published spec takes its reward's published normalization: leave normalization.")

    @property
    def name(self) -> str:
        """The model's name in results: 'alpha=0.2' (',norm=group' when normalized) for the paper's sigmoid,
        'kimi,weight=2' for another reward with its parameters ('@published' added when trained as published),
        ',rollout_budget=N' added when its rollouts were kept within N thinking tokens, 'sft' / 'dpo', or `label`."""
        if self.label is not None:
            return self.label
        if self.trainer != "grpo":
            return self.trainer
        if self.length_reward == "sigmoid":
            name = f"alpha={self.params.get('alpha', 0.0):g}"
        else:
            name = ",".join([self.length_reward, *(f"{key}={value:g}" for key, value in self.params.items())])
        name = name if self.normalization == "none" else f"{name},norm={self.normalization}"
        if self.rollout_thinking_budget is not None:
            name = f"{name},rollout_budget={self.rollout_thinking_budget}"
        return f"{name}@published" if self.as_published else name

    def config_fields(self) -> dict[str, Any]:
        """The spec's fields of `EfficientGRPOConfig`: the sigmoid's alpha is `length_penalty_alpha`, not one of
        its `length_reward_kwargs`."""
        kwargs = dict(self.params)
        alpha = kwargs.pop("alpha", 0.0) if self.length_reward == "sigmoid" else 0.0
        return {
            "length_penalty_alpha": alpha,
            "length_reward": self.length_reward,
            "length_reward_kwargs": kwargs or None,
            "advantage_normalization": self.normalization,
            **({"reward_as_published": True} if self.as_published else {}),
            **({"rollout_budget_column": "budget"} if self.rollout_budgets else {}),
            **({"rollout_thinking_budget": self.rollout_thinking_budget}
               if self.rollout_thinking_budget is not None else {}),
            **({"rollout_answer_cue": self.rollout_answer_cue} if self.rollout_answer_cue is not None else {}),
            # only where set: every other spec's config is what it was before these fields existed
            **({"forced_no_think_share": self.forced_no_think_share} if self.forced_no_think_share else {}),
            **({"importance_sampling_level": self.importance_sampling_level}
               if self.importance_sampling_level != "token" else {}),
        }  # fmt: skip


def alpha_spec(alpha: float, normalization: str = "none", **fields: Any) -> ModelSpec:
    """The paper's sigmoid reward at `alpha`."""
    return ModelSpec("sigmoid", {"alpha": alpha}, normalization, **fields)


def adapt_think_spec(delta: float = 0.05, forced_no_think_share: float = 0.5, **fields: Any) -> ModelSpec:
    """AdaptThink's `adapt_think` reward at `delta` with its importance sampling (`forced_no_think_share` of each
    prompt's rollouts open without thinking) and one ratio per completion (importance_sampling_level "sequence"), as
    the adapt_think recipes (recipes/deepseek-r1-distill-qwen-*/adapt_think.yaml) set for the authors' loss. It
    trains on prompts with the start model's accuracy (`start_accuracy_data`)."""
    return ModelSpec(
        "adapt_think", {"delta": delta}, forced_no_think_share=forced_no_think_share,
        importance_sampling_level="sequence", **fields,
    )  # fmt: skip


def model_dir_name(name: str) -> str:
    """The directory of a model's name: 'alpha=0.2,norm=group' -> 'alpha_0.2_norm_group'."""
    return name.replace("=", "_").replace(",", "_")


def eval_dir(run_dir: Path, name: str) -> Path:
    """The evaluation run directory of model `name` in a run: run_dir/eval/<model>/."""
    return run_dir / "eval" / model_dir_name(name)


def start_model(task: str, path: str | Path | None = None) -> Path:
    """The starting model of `task` (default: its shipped one), checked to be a saved model."""
    if task not in TASKS:
        raise ValueError(f"task must be one of {list(TASKS)}, got {task!r}.")
    path = Path(START_MODELS[task] if path is None else path)
    if not (path / "config.json").exists():  # a local directory always, never a hub name
        missing = "no model at " if path.is_dir() else "no such directory: "
        raise FileNotFoundError(
            f"{missing}{path}; rebuild the {task} task's starting model with `efficient-trl build-demo-model "
            f"--task {task} --output_dir {path}`."
        )
    return path


@contextmanager
def open_run(run_dir: str | Path, record: dict[str, Any]) -> Iterator[Path]:
    """Hold the run directory `run_dir` for the block (one process at a time, `rundir.run_dir_lock`): a new one
    records the plan's settings (`record`) in settings.json; a rerun with the same settings resumes it (finished models
    and evaluations are kept, unfinished ones redone); other settings are refused, naming what differs."""
    run_dir = Path(run_dir)
    record = json.loads(json.dumps(record))  # as read back from the file: lists, not tuples
    with held_run_dir(run_dir, record, has_results=_has_results, option="run directory (--run_dir)") as resumed:
        if resumed:
            print(f"resuming the run in {run_dir}: finished models and evaluations are kept")
        yield run_dir


def _has_results(run_dir: Path) -> bool:
    return any(path.name not in ("settings.json", LOCK_FILE) for path in run_dir.iterdir())


def write_json(path: Path, record: Any) -> None:
    """A run's JSON record (settings.json, timings.json, a report), indented as every run writes it."""
    write_atomically(path, json.dumps(record, indent=1))


@contextmanager
def torch_threads(count: int = THREADS) -> Iterator[None]:
    """torch's intra-op thread count set to `count` inside, restored on exit."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def time_stamped(command: str) -> str:
    """The default run directory of a plan's command: runs/<command>-<date>-<time>."""
    return f"runs/{command}-{time.strftime('%Y%m%d-%H%M%S')}"


def rl_prompts(task: str, settings: RLSettings) -> Any:
    """The RL training prompts (rejection sampling for the baselines samples them too)."""
    return TASKS[task](settings.steps * settings.prompts_per_step, seed=RL_SEED)


def rl_data_source(task: str) -> str:
    """How the RL prompts were made, as provenance.json records it."""
    return f"efficient_trl.synthetic.TASKS[{task!r}](seed={RL_SEED}, split='train')"


def held_out_problems(task: str, settings: ExperimentSettings) -> Any:
    return task_held_out_problems(task, settings.eval_problems)


def rl_config(spec: ModelSpec, settings: RLSettings, output_dir: str | Path, **overrides: Any) -> EfficientGRPOConfig:
    """The training config of an RL model of `spec`: `CPU_RL_KWARGS`, the spec's reward and the settings, with
    `overrides` (fields of the config) last."""
    fields = {
        **CPU_RL_KWARGS, **spec.config_fields(), "num_generations": settings.num_generations,
        "per_device_train_batch_size": settings.prompts_per_step * settings.num_generations,
        "max_steps": settings.steps, "learning_rate": settings.learning_rate, "lr_scheduler_type": "constant",
        "beta": settings.beta, "loss_type": "grpo", "temperature": 1.0, "logging_steps": settings.logging_steps,
        "max_completion_length": settings.max_completion_length, "seed": settings.seed,
    }  # fmt: skip
    return EfficientGRPOConfig(output_dir=str(output_dir), **{**fields, **overrides})


def rl_data(spec: ModelSpec, task: str, settings: RLSettings) -> tuple[Any, dict[str, Any]]:
    """The RL training prompts of `spec` (each asking for a budget drawn from `spec.budget_range` with the run's seed,
    for L1's rewards) and their record for provenance.json."""
    data = rl_prompts(task, settings)
    data_record = {"dataset": rl_data_source(task), "num_problems": len(data), "prompt_template": None}
    if spec.budget_range is not None:
        data, budget_record = with_sampled_budgets(
            data, list(spec.budget_range), spec.budget_template, seed=settings.seed
        )
        data_record.update(budget_record)
    return data, data_record


@torch_threads()
def train_model(
    spec: ModelSpec,
    start: Path,
    task: str,
    settings: RLSettings,
    output_dir: Path,
    data: Any = None,
    data_record: dict[str, Any] | None = None,
) -> Path:
    """Train one model from `start` as `spec` says into `output_dir`; returns its directory, with its
    trainer_state.json (the training log) and provenance.json.

    A model already finished there (a rerun of the plan) is kept. RL trains with `settings` on the task's training
    prompts (each asking for a budget drawn from `spec.budget_range` with the run's seed, for L1's rewards), or on
    `data` when given (those prompts with a column the reward reads: `start_accuracy_data`'s for adapt_think); SFT
    and DPO train on `data` (TRL's rows). `data_record` ({"dataset", "num_problems", ...}) describes given data in
    provenance. Trains on `THREADS` torch threads.
    """
    if (output_dir / PROVENANCE_FILE).is_file():  # written last, by train_and_save: a finished model (a rerun)
        stage(f"keeping {output_dir.name}: trained by an earlier launch")
        return output_dir
    if output_dir.exists():  # an interrupted training of this run: trained again from the start
        shutil.rmtree(output_dir)
    if spec.trainer == "grpo":
        args = rl_config(spec, settings, output_dir)
        if data is None:
            data, data_record = rl_data(spec, task, settings)
        stage(
            f"training {output_dir.name} on {task}: {settings.steps} steps of {settings.prompts_per_step} prompts x "
            f"{settings.num_generations} completions"
        )
        trainer = EfficientGRPOTrainer(model=str(start), args=args, train_dataset=data)
    else:
        from trl import DPOConfig, DPOTrainer, SFTConfig, SFTTrainer

        if data is None or data_record is None:
            raise ValueError(f"a {spec.trainer} model trains on data the plan gives, with its data_record.")
        config_class, trainer_class = {"sft": (SFTConfig, SFTTrainer), "dpo": (DPOConfig, DPOTrainer)}[spec.trainer]
        stage(f"training {output_dir.name} ({spec.trainer.upper()}) on {len(data)} examples, {spec.epochs:g} epoch(s)")
        args = config_class(
            output_dir=str(output_dir), learning_rate=spec.learning_rate, **CPU_TRAINING_KWARGS,
            per_device_train_batch_size=16, num_train_epochs=spec.epochs, lr_scheduler_type="constant",
            logging_steps=5, seed=settings.seed,
        )  # fmt: skip
        trainer = trainer_class(model=str(start), args=args, train_dataset=data)
    return train_and_save(trainer, output_dir, training_provenance(spec.trainer, args, str(start), data_record))


def eval_sampling(settings: ExperimentSettings) -> SamplingSettings:
    """How an experiment samples its held-out evaluations."""
    return SamplingSettings(
        k=settings.eval_k,
        temperature=settings.eval_temperature,
        max_new_tokens=settings.max_completion_length,
        seed=settings.seed,
    )


@torch_threads()
def evaluate_model(
    model: str | Path,
    name: str,
    problems: Any,
    task: str,
    settings: ExperimentSettings,
    run_dir: Path,
    cutoffs: Sequence[int] | None = None,
    budgets: Sequence[int] = (),
    budget_mode: str = "prompt",
    budget_template: str = "exact",
    eval_name: str | None = None,
    answer_cue: str | None = None,
) -> Any:
    """Evaluate model `name` on `problems` (the task's held-out ones) into run_dir/eval/<eval_name or model>/, as
    `evaluation.evaluate_problems` lays out a run (with the generation-cutoff baseline at `cutoffs`; None: none, or
    the evaluation's default cutoffs at budgets, as the budget demo has always recorded); with `budgets`,
    once per budget into its budget-<N>/ subdirectories (`evaluation.evaluate_problems_by_budget`: the budget in
    the prompt with `budget_template`, or forced, the forced `</think>` followed by `answer_cue`: None, evaluation's
    default), on `THREADS` torch threads. Returns the summary (a list of them by budget)."""
    options = {
        "dataset": f"held-out {task}", "prompt_template": PROMPT_TEMPLATE, "backend": "transformers",
        "batch_size": EVAL_BATCH_SIZE, "device": "cpu", "name": name,  # a CPU experiment: the same numbers on a GPU
    }  # fmt: skip
    output_dir = eval_dir(run_dir, eval_name or name)
    at_budgets = f" at budgets {', '.join(map(str, budgets))} ({budget_mode})" if budgets else ""
    stage(f"evaluating {output_dir.name} on {len(problems)} held-out {task} problems{at_budgets}")
    sampling = eval_sampling(settings)
    if answer_cue is not None:
        sampling = replace(sampling, answer_cue=answer_cue)
    if budgets:
        return evaluate_problems_by_budget(
            str(model), problems, output_dir, sampling, list(budgets), mode=budget_mode,
            template=budget_template, **options, **({} if cutoffs is None else {"cutoffs": tuple(cutoffs)}),
        )  # fmt: skip
    return evaluate_problems(str(model), problems, output_dir, sampling, cutoffs=tuple(cutoffs or ()), **options)


@torch_threads()
def start_accuracy_data(
    start: Path, task: str, settings: ExperimentSettings, run_dir: Path, samples: int
) -> tuple[Any, dict[str, Any]]:
    """The RL training prompts with the start model's accuracy on each (`start_accuracy`, adapt_think's reference),
    as recipes/start_accuracy.py computes it: `samples` samples per prompt at the evaluation's temperature (0.6,
    AdaptThink's) and token limit, graded by `evaluation.start_accuracies` (a truncated sample is wrong), sampled into
    the evaluation run directory run_dir/start_accuracy (resumable; its summary.json has the start model's figures on
    the training prompts, per tier), its report in run_dir/start_accuracy_report.json. Returns the data and its
    record for provenance.json. On `THREADS` torch threads."""
    prompts = rl_prompts(task, settings)
    sampling = SamplingSettings(
        k=samples, temperature=settings.eval_temperature, max_new_tokens=settings.max_completion_length,
        seed=settings.seed,
    )  # fmt: skip
    output_dir = run_dir / "start_accuracy"
    stage(f"sampling the starting model's accuracy: {samples} samples x {len(prompts)} {task} training prompts")
    evaluate_problems(
        str(start), prompts, output_dir, sampling, dataset=f"train {task}", prompt_template=PROMPT_TEMPLATE,
        backend="transformers", batch_size=EVAL_BATCH_SIZE, device="cpu", cutoffs=(),
    )  # fmt: skip
    accuracy = start_accuracies(load_samples(output_dir), len(prompts))
    report = {
        "samples_per_problem": samples, "temperature": sampling.temperature, "problems": len(prompts),
        **start_accuracy_summary(accuracy),
    }  # fmt: skip
    write_json(run_dir / "start_accuracy_report.json", report)
    record = {"dataset": f"{rl_data_source(task)} with start_accuracy ({samples} samples of the starting model)",
              "num_problems": len(prompts), "prompt_template": None}  # fmt: skip
    return prompts.add_column("start_accuracy", accuracy), record


@torch_threads()
def rejection_sample_start(start: Path, task: str, settings: RLSettings, run_dir: Path) -> tuple[Any, Any, dict]:
    """Rejection sampling of the starting model on the RL prompts (`baselines.rejection_sample`: num_generations
    samples per prompt at temperature 1, into run_dir/rejection_sampling; its report in
    run_dir/rejection_sampling_report.json): the SFT and DPO baselines' data. Like training and evaluation, on
    `THREADS` torch threads."""
    sampling = SamplingSettings(
        k=settings.num_generations, temperature=1.0, max_new_tokens=settings.max_completion_length, seed=settings.seed
    )
    prompts = rl_prompts(task, settings)
    stage(f"rejection sampling the starting model: {settings.num_generations} samples x {len(prompts)} {task} prompts")
    sft_data, dpo_data, report = rejection_sample(
        str(start), prompts, run_dir / "rejection_sampling", sampling, dataset=f"train {task}",
        prompt_template=PROMPT_TEMPLATE, backend="transformers", batch_size=SAMPLING_BATCH_SIZE, device="cpu",
    )  # fmt: skip
    write_json(run_dir / "rejection_sampling_report.json", report)
    return sft_data, dpo_data, report


def _on_one_thread(function: Callable[..., Any], job: tuple) -> Any:
    # The same threads in every job, whatever the number of workers: a tiny model is Python-bound, so two processes on
    # two cores nearly double throughput.
    with torch_threads(THREADS):
        return function(*job)


def run_jobs(function: Callable[..., Any], jobs: list[tuple], workers: int) -> list[Any]:
    """`function(*job)` for every job, `workers` at a time, each in a fresh process on one thread; the results in
    the jobs' order (the first job that failed raises here). A stage line counts the jobs done."""
    # spawn: each job starts from a fresh interpreter (no torch state forked from this one)
    with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:
        futures = [pool.submit(_on_one_thread, function, job) for job in jobs]
        for done, future in enumerate(as_completed(futures), 1):
            stage(f"{done}/{len(jobs)} jobs done" + (" (one failed)" if future.exception() else ""))
        return [future.result() for future in futures]


def run_plan(
    command: str,
    settings_class: type,
    run: Callable[[Path, Any], Any],
    report: Callable[[Path, Any], str],
    described: Callable[[Any], str],
    outputs: str,
    description: str,
    argv: list[str] | None = None,
) -> None:
    """A plan's command: parse `RunArguments` and `settings_class`, `run` the plan into the run directory, write its
    `report` (the table it returns is printed) and say what was evaluated (`described`) and where the results are
    (`outputs`, e.g. the plot's file name); its stages and time go to stderr (`progress`)."""
    from ..cli import parse_arguments

    where, settings = parse_arguments(RunArguments, settings_class, argv=argv, description=description)
    run_dir = Path(where.run_dir or time_stamped(command))
    with timed():
        stage(f"efficient-trl {command}: run directory {run_dir}")
        try:
            rows = run(run_dir, settings)
        except (FileExistsError, RunDirInUseError) as refused:  # a run directory refused: the message names the fix
            raise SystemExit(f"efficient-trl {command}: error: {refused}") from None
        except KeyboardInterrupt:  # Ctrl-C: what finished is kept, a rerun into the directory carries on from it
            raise SystemExit(
                f"efficient-trl {command}: interrupted; run it again with --run_dir {run_dir} to carry on"
            ) from None
        stage("writing the report")
        table = report(run_dir, rows)
        print(f"\n{table}\n\n{described(settings)}\nresults in {run_dir} ({outputs.format(run_dir=run_dir)})")


def settings_record(settings: Any, start: Path, **extra: Any) -> dict[str, Any]:
    """What a run's settings.json records: the plan's settings, the starting model's fingerprint (a rerun from other
    weights is another run) and anything the plan adds."""
    return {**asdict(settings), "start_model": model_fingerprint(str(start)), **extra}
