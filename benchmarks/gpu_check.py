"""GPU check at the paper's shapes: step time against stock TRL, memory at 8k-32k tokens, generation speed.

On one GPU, with a random-weight model of DeepSeek-R1-Distill-Qwen-1.5B's architecture (bf16, built locally: no
download), in sections that each have a time budget and record their result, error or out-of-memory point:

1. model: build the model and its tokenizer (EOS unreachable, so every completion has the requested length).
2. overhead: stock `trl.GRPOTrainer` and `EfficientGRPOTrainer` with the 1.5B recipe's trainer settings, the same
   seed and data, runs interleaved (order alternating each round): ratio of median step times, noise, peak memory.
3. memory: one optimizer step of `EfficientGRPOTrainer` at 8k/16k/32k completion tokens (batch 1, gradient
   checkpointing): TRL's loss (`compute_loss`, fed the token ids that generation would have produced) after the
   reference model's scoring pass, backward, optimizer step. Generating 32k tokens per length would not fit the
   budget; the step is what uses the memory.
4. generation: 32 completions of 1,024 tokens with transformers `generate` and with continuous batching
   (`generate_batch`, as TRL's `use_transformers_continuous_batching` calls it), against the bandwidth limit.
5. memory_model: the paper-scale setups on paper (`efficient_trl.gpu_shapes.step_memory`).

`DIR/gpu_check.json` and `DIR/gpu_check.md` are rewritten after every section, so a killed run keeps what it
measured. Random weights answer nothing correctly: every reward is 0 and so every advantage, but each step still runs
the full forward, backward and optimizer step, which is what is timed.

    python benchmarks/gpu_check.py --out DIR            # one GPU, under 8 minutes on an H100
    python benchmarks/gpu_check.py --out DIR --tiny     # the same code on a CPU-sized model, in seconds
    python benchmarks/gpu_check.py --memory-model       # print the memory-model table of recipes/README.md
"""

from __future__ import annotations

import argparse
import gc
import importlib.util
import json
import os
import platform
import statistics
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import fields
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))  # runs from a checkout without `pip install -e .` (the GPU host has no index)


def check_out_dir(argv: list[str]) -> None:
    """Refuse an --out that names a file or a place that cannot be written, before the imports below (seconds)."""
    peek = argparse.ArgumentParser(add_help=False)
    peek.add_argument("--out", type=Path)
    out = peek.parse_known_args(argv)[0].out
    if out is None:
        return
    problem = f"{out} is a file" if out.exists() and not out.is_dir() else None
    if problem is None:
        try:
            out.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile(dir=out):
                pass
        except OSError as error:
            problem = f"{out} cannot be written ({error.strerror or error})"
    if problem:
        print(f"gpu_check.py: error: --out {problem}: give a directory you can write to.", file=sys.stderr)
        raise SystemExit(2)


if __name__ == "__main__":
    check_out_dir(sys.argv[1:])

import torch  # noqa: E402
import yaml  # noqa: E402
from timing import StepTimer, fastest_per_step, paired_ratio  # noqa: E402  (benchmarks/timing.py)

from efficient_trl.gpu_shapes import (  # noqa: E402
    R1_DISTILL_QWEN_1_5B,
    TINY_SHAPE,
    MemorySetup,
    build_random_model,
    paper_setups,
    parameter_count,
    setup_summary,
    step_memory,
)

RECIPE = REPO_ROOT / "recipes" / "deepseek-r1-distill-qwen-1.5b" / "alpha_0.2.yaml"
# The recipe's trainer settings that a one-GPU run keeps (batch sizes, vLLM and DeepSpeed are scaled away).
RECIPE_KEYS = ("beta", "num_generations", "loss_type", "epsilon", "num_iterations", "learning_rate", "optim",
               "temperature", "top_p", "seed")  # fmt: skip
SECTIONS = ("model", "overhead", "memory", "generation", "memory_model")
NEEDS_CUDA = "skipped: needs CUDA"
# Memory bandwidth from the vendors' data sheets, by a substring of torch.cuda.get_device_name().
SPEC_BANDWIDTH = (("H200", 4.8e12), ("H100 PCIe", 2.0e12), ("H100", 3.35e12), ("A100", 2.039e12))


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help="Directory for gpu_check.json and gpu_check.md.")
    parser.add_argument("--tiny", action="store_true", help="A tiny model of the same architecture, sizes for a CPU.")
    parser.add_argument("--memory-model", action="store_true", help="Only print the memory-model table and exit.")
    parser.add_argument("--sections", nargs="+", choices=SECTIONS, default=list(SECTIONS))
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--overhead-prompts", type=int, help="Prompts per step (x 8 completions). Default 4.")
    parser.add_argument("--overhead-tokens", type=int, help="Completion tokens in the overhead runs. Default 512.")
    parser.add_argument("--overhead-rounds", type=int, default=2, help="Rounds of (stock, efficient) runs.")
    parser.add_argument("--overhead-steps", type=int, help="Steps per run; the first is not timed. Default 3.")
    parser.add_argument("--lengths", type=int, nargs="+", help="Completion tokens. Default 8192 16384 32768.")
    parser.add_argument("--prompt-tokens", type=int, default=256, help="Prompt tokens in the memory section.")
    parser.add_argument("--completions", type=int, help="Completions generated at once. Default 32.")
    parser.add_argument("--generation-tokens", type=int, help="Tokens per completion. Default 1024.")
    parser.add_argument("--cb-num-blocks", type=int, help="Continuous batching KV-cache blocks (default: auto).")
    parser.add_argument("--budgets", type=float, nargs=len(SECTIONS), default=[60, 200, 120, 80, 5],
                        help="Seconds per section (in the order of --sections' choices); a section starts no new "
                        "run, length or backend past its budget.")  # fmt: skip
    args = parser.parse_args(argv)
    sizes = {"overhead_prompts": (4, 1), "overhead_tokens": (512, 16), "overhead_steps": (3, 2),
             "lengths": ([8192, 16384, 32768], [64, 128]), "completions": (32, 8), "generation_tokens": (1024, 32),
             "cb_num_blocks": (None, 16)}  # fmt: skip
    for name, (full, tiny) in sizes.items():
        if getattr(args, name) is None:
            setattr(args, name, tiny if args.tiny else full)
    if args.tiny:
        args.prompt_tokens = min(args.prompt_tokens, 32)
    if args.out is None and not args.memory_model:
        parser.error("--out DIR is required (or --memory-model)")
    return args


class Report:
    """Results by section, written as JSON and markdown after each section (a killed run keeps what it measured)."""

    def __init__(self, out: Path, meta: dict[str, Any]):
        self.out, self.meta, self.sections = out, meta, {}
        out.mkdir(parents=True, exist_ok=True)

    def record(self, name: str, result: dict[str, Any]) -> None:
        self.sections[name] = result
        data = {"meta": self.meta, "sections": self.sections}
        (self.out / "gpu_check.json").write_text(json.dumps(data, indent=2, default=str) + "\n")
        (self.out / "gpu_check.md").write_text(render_markdown(data))


def oom_error(exc: BaseException) -> bool:
    return isinstance(exc, torch.OutOfMemoryError) or "out of memory" in str(exc).lower()


def free_memory() -> None:
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def run_section(report: Report, name: str, budget_s: float, function: Callable[..., dict], *args: Any) -> None:
    """Run one section under its budget; record its result, or its error, and go on to the next in any case."""
    start = time.perf_counter()
    print(f"== {name} (budget {budget_s:.0f} s)", flush=True)
    try:
        result = function(*args, deadline=start + budget_s)
        result.setdefault("status", "ok")
    except Exception as exc:  # every section reports, whatever fails in another
        status = f"out of memory: {exc}" if oom_error(exc) else f"error: {type(exc).__name__}: {exc}"
        result = {"status": status[:500], "traceback": traceback.format_exc(limit=8)}
    result["seconds"] = round(time.perf_counter() - start, 2)
    print(f"== {name}: {result['status']} in {result['seconds']} s", flush=True)
    report.record(name, result)
    free_memory()


class Device:
    """Timing and peak memory on the device in use; on a CPU, peak memory is not measured."""

    def __init__(self, name: str):
        self.name, self.cuda = name, name.startswith("cuda")

    def synchronize(self) -> None:
        if self.cuda:
            torch.cuda.synchronize()

    def reset_peak(self) -> None:
        if self.cuda:
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()

    def peak_gib(self) -> float | str:
        return round(torch.cuda.max_memory_allocated() / 2**30, 2) if self.cuda else NEEDS_CUDA

    def allocated_gib(self) -> float | str:
        return round(torch.cuda.memory_allocated() / 2**30, 2) if self.cuda else NEEDS_CUDA


def recipe_settings() -> dict[str, Any]:
    recipe = yaml.safe_load(RECIPE.read_text())
    return {key: recipe[key] for key in RECIPE_KEYS}


def trainer_args(config_class: type, device: Device, out_dir: str, **settings: Any):
    """A GRPO config for one GPU (or the CPU) with gradient checkpointing, under either name transformers uses."""
    names = {f.name for f in fields(config_class)}
    checkpointing = "activation_checkpointing" if "activation_checkpointing" in names else "gradient_checkpointing"
    precision = {"bf16": True, "model_init_kwargs": {"dtype": "bfloat16"}} if device.cuda else {"use_cpu": True}
    return config_class(
        output_dir=out_dir,
        **{checkpointing: True},
        **precision,
        **settings,
        logging_steps=1,
        log_level="error",
        save_strategy="no",
        report_to="none",
        disable_tqdm=True,
    )


# -- 1. model ---------------------------------------------------------------------------------------------------------


def model_section(args: argparse.Namespace, device: Device, model_dir: str, *, deadline: float) -> dict[str, Any]:
    shape = TINY_SHAPE if args.tiny else R1_DISTILL_QWEN_1_5B
    start = time.perf_counter()
    build_random_model(model_dir, shape, device=device.name, dtype="bfloat16" if device.cuda else "float32")
    return {
        "shape": "tiny (same architecture)" if args.tiny else "DeepSeek-R1-Distill-Qwen-1.5B",
        "config": shape,
        "parameters": parameter_count(shape),
        "dtype": "bfloat16" if device.cuda else "float32",
        "build_s": round(time.perf_counter() - start, 2),
        "note": "random weights; EOS id set past the output vocabulary so every completion has the requested length; "
        "every answer is wrong, so rewards and advantages are 0, and each step still runs the full forward, "
        "backward and optimizer step",
    }


# -- 2. overhead ------------------------------------------------------------------------------------------------------


def overhead_section(args: argparse.Namespace, device: Device, model_dir: str, *, deadline: float) -> dict[str, Any]:
    from transformers.trainer_callback import PrinterCallback
    from trl import GRPOConfig, GRPOTrainer

    from efficient_trl import EfficientGRPOConfig, EfficientGRPOTrainer, math_accuracy_reward
    from efficient_trl.synthetic import sum_problems
    from efficient_trl.testing import TWO_TERM_SUMS

    variants = {
        "stock": (GRPOTrainer, GRPOConfig, {"scale_rewards": "none"}),
        "efficient": (EfficientGRPOTrainer, EfficientGRPOConfig, {"length_penalty_alpha": 0.2}),
    }
    settings = recipe_settings()
    group = settings["num_generations"]
    scaled = {  # one group per micro-batch, one generation round per optimizer step
        "per_device_train_batch_size": group,
        "gradient_accumulation_steps": args.overhead_prompts,
        "max_completion_length": args.overhead_tokens,
        "max_steps": args.overhead_steps,
    }
    times: dict[str, list[list[float]]] = {"stock": [], "efficient": []}
    peaks: dict[str, list[Any]] = {"stock": [], "efficient": []}
    lengths: dict[str, list[float]] = {"stock": [], "efficient": []}
    rewards: list[float] = []
    longest_run = 0.0
    rounds_done = 0
    warm_up_steps: list[float] = []
    # Round -1 warms the process up (CUDA context, kernels, allocator, grader) and is not timed: on an H200 the first
    # run's second step took 10 s against 4-5 s after it, which made the stock-vs-stock noise 1.85.
    for round_index in range(-1, args.overhead_rounds):
        order = ["stock", "efficient"] if round_index % 2 == 0 else ["efficient", "stock"]
        if round_index < 0:
            order = ["stock"]
        elif rounds_done and time.perf_counter() + 2 * longest_run > deadline:
            break
        for label in order:
            trainer_class, config_class, extra = variants[label]
            run_start = time.perf_counter()
            with tempfile.TemporaryDirectory() as out_dir:
                config = trainer_args(config_class, device, out_dir, **settings, **scaled, **extra)
                timer = StepTimer(device.synchronize)
                trainer = trainer_class(
                    model=model_dir,
                    reward_funcs=math_accuracy_reward,
                    args=config,
                    train_dataset=sum_problems(args.overhead_prompts * args.overhead_steps, seed=0, **TWO_TERM_SUMS),
                    callbacks=[timer],
                )
                trainer.remove_callback(PrinterCallback)
                device.reset_peak()
                trainer.train()
                if round_index < 0:
                    warm_up_steps = [round(t, 3) for t in timer.times]
                else:
                    peaks[label].append(device.peak_gib())
                    logged = [entry for entry in trainer.state.log_history if "loss" in entry]
                    lengths[label] += [entry["completions/mean_length"] for entry in logged]
                    rewards += [entry["reward"] for entry in logged]
                    times[label].append(timer.times[1:])  # the first step warms up kernels and the grader
                del trainer
                free_memory()
            if round_index >= 0:  # the warm-up run is slower: it would stop the rounds too early
                longest_run = max(longest_run, time.perf_counter() - run_start)
            round_name = "warm-up (not timed)" if round_index < 0 else f"round {round_index}"
            print(f"   {round_name}: {label} steps {[round(t, 3) for t in timer.times]}", flush=True)
        rounds_done += round_index >= 0
    stock, efficient = fastest_per_step(times["stock"]), fastest_per_step(times["efficient"])
    half = len(times["stock"]) // 2
    noise = (
        paired_ratio(fastest_per_step(times["stock"][:half]), fastest_per_step(times["stock"][half:]))
        if half
        else "needs 2 rounds"
    )
    return {
        "settings": {**settings, **scaled, "completions_per_step": group * args.overhead_prompts},
        "rounds": rounds_done,
        "timed_steps_per_run": args.overhead_steps - 1,
        "warm_up_steps_s": warm_up_steps,
        "stock_s_per_step": round(statistics.median(stock), 4),
        "efficient_s_per_step": round(statistics.median(efficient), 4),
        "ratio": round(paired_ratio(efficient, stock), 4),
        "noise_stock_vs_stock": round(noise, 4) if isinstance(noise, float) else noise,
        "target_ratio": 1.03,
        "stock_peak_gib": max(peaks["stock"], key=str),
        "efficient_peak_gib": max(peaks["efficient"], key=str),
        "completion_tokens_min_max": [
            min(lengths["stock"] + lengths["efficient"]),
            max(lengths["stock"] + lengths["efficient"]),
        ],  # fmt: skip
        "mean_reward": statistics.fmean(rewards),
        "step_times": times,
    }


# -- 3. memory against length -----------------------------------------------------------------------------------------


def memory_section(args: argparse.Namespace, device: Device, model_dir: str, *, deadline: float) -> dict[str, Any]:
    variants: dict[str, Any] = {"TRL loss": memory_rows(args, device, model_dir, deadline, liger=False)}
    if not device.cuda:
        variants["with Liger kernels"] = NEEDS_CUDA
    elif importlib.util.find_spec("liger_kernel") is None:
        variants["with Liger kernels"] = "not available: liger-kernel is not installed"
    else:
        variants["with Liger kernels"] = memory_rows(args, device, model_dir, deadline, liger=True)
    return {
        "method": "one optimizer step of EfficientGRPOTrainer (batch 1, gradient checkpointing): the reference "
        "model's scoring pass, then TRL's compute_loss on the prompt + completion ids, backward, optimizer step; "
        "completions are random token ids of the given length, not generated",
        "prompt_tokens": args.prompt_tokens,
        "variants": variants,
    }


def memory_rows(
    args: argparse.Namespace, device: Device, model_dir: str, deadline: float, *, liger: bool
) -> list[dict[str, Any]]:
    from efficient_trl import EfficientGRPOConfig, EfficientGRPOTrainer, math_accuracy_reward
    from efficient_trl.synthetic import sum_problems
    from efficient_trl.testing import TWO_TERM_SUMS

    settings = recipe_settings()
    group = settings["num_generations"]
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as out_dir:
        config = trainer_args(
            EfficientGRPOConfig, device, out_dir, **settings, per_device_train_batch_size=1,
            gradient_accumulation_steps=group, max_completion_length=max(args.lengths), use_liger_kernel=liger,
        )  # fmt: skip
        trainer = EfficientGRPOTrainer(
            model=model_dir,
            reward_funcs=math_accuracy_reward,
            args=config,
            train_dataset=sum_problems(group, seed=0, **TWO_TERM_SUMS),
        )
        model = trainer.model
        # As Trainer.train() does; the method and its keyword were renamed in transformers 5.x (the first argument
        # is the kwargs dict under both names).
        enable = getattr(model, "activation_checkpointing_enable", None) or model.gradient_checkpointing_enable
        enable(getattr(config, "activation_checkpointing_kwargs", None) or config.gradient_checkpointing_kwargs)
        model.train()
        trainer.current_gradient_accumulation_steps = group  # set by train()'s loop; the loss is divided by it
        optimizer = trainer.create_optimizer()
        vocab = model.config.vocab_size
        warm_up = min(args.lengths) // 8
        last_step = 0.0
        for length in [warm_up, *args.lengths]:
            label = f"{length // 1024}k" if length >= 1024 else str(length)
            if rows and rows[-1]["status"] != "ok":
                rows.append({"completion_tokens": length, "status": f"skipped: {rows[-1]['status']}"})
                continue
            if length != warm_up and time.perf_counter() + 3 * last_step > deadline:
                rows.append({"completion_tokens": length, "status": "skipped: time budget"})
                continue
            generator = torch.Generator().manual_seed(length)
            ids = torch.randint(0, vocab, (1, args.prompt_tokens + length), generator=generator).to(model.device)
            inputs = {
                "prompt_ids": ids[:, : args.prompt_tokens],
                "prompt_mask": torch.ones_like(ids[:, : args.prompt_tokens]),
                "completion_ids": ids[:, args.prompt_tokens :],
                "completion_mask": torch.ones_like(ids[:, args.prompt_tokens :]),
                "advantages": torch.zeros(1, device=model.device),
            }
            row: dict[str, Any] = {"completion_tokens": length, "resident_gib": device.allocated_gib()}
            try:
                device.reset_peak()
                start = time.perf_counter()
                with torch.no_grad():  # what TRL does once per generation round, before the optimizer steps
                    inputs["ref_per_token_logps"] = trainer._get_per_token_logps_and_entropies(
                        trainer.ref_model, ids, torch.ones_like(ids), length
                    )[0]
                device.synchronize()
                scored = time.perf_counter()
                loss = trainer.compute_loss(model, inputs)
                trainer.accelerator.backward(loss)
                optimizer.step()
                optimizer.zero_grad(set_to_none=True)
                device.synchronize()
                last_step = time.perf_counter() - start
                train_step_s = round(time.perf_counter() - scored, 3)
                row.update(status="ok", reference_pass_s=round(scored - start, 3), train_step_s=train_step_s)
                row["peak_gib"] = device.peak_gib()
            except Exception as exc:
                if not oom_error(exc):
                    raise
                row["status"] = f"out of memory at {label}"
            finally:
                inputs.clear()
                free_memory()
            predicted = step_memory(
                MemorySetup("measured", TINY_SHAPE if args.tiny else R1_DISTILL_QWEN_1_5B,
                            prompt_tokens=args.prompt_tokens, completion_tokens=length)
            )  # fmt: skip
            row["predicted_peak_gib"] = round(predicted["training peak"], 2)
            if length != warm_up:
                rows.append(row)
            print(f"   {'liger ' if liger else ''}{label}: {row}", flush=True)
        del trainer, model, optimizer
    return rows


# -- 4. generation speed ----------------------------------------------------------------------------------------------


def generation_section(args: argparse.Namespace, device: Device, model_dir: str, *, deadline: float) -> dict:
    from transformers import AutoModelForCausalLM, AutoTokenizer, GenerationConfig

    from efficient_trl.synthetic import sum_problems
    from efficient_trl.testing import TWO_TERM_SUMS

    dtype = torch.bfloat16 if device.cuda else torch.float32
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=dtype).to(device.name).eval()
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    settings = recipe_settings()
    group = settings["num_generations"]
    prompts = [row["prompt"] for row in sum_problems(max(1, args.completions // group), seed=0, **TWO_TERM_SUMS)]
    prompt_ids = [ids for ids in tokenizer.apply_chat_template(prompts, add_generation_prompt=True)["input_ids"]]
    prompt_ids = [ids for ids in prompt_ids for _ in range(group)][: args.completions]  # G completions per prompt
    # The sampling settings GRPOTrainer builds its GenerationConfig from.
    generation_config = GenerationConfig(
        max_new_tokens=args.generation_tokens, do_sample=True, temperature=settings["temperature"],
        top_p=settings["top_p"], pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id,
        bos_token_id=None, disable_compile=True,
    )  # fmt: skip
    decoded_bytes = sum(
        p.numel() * p.element_size() for name, p in model.named_parameters() if "embed_tokens" not in name
    )  # a decode step reads every weight once, but only B rows of the input embedding
    bandwidth, bandwidth_source = memory_bandwidth(device)
    bound_tokens_per_s = args.completions * bandwidth / decoded_bytes
    backends: dict[str, Any] = {}
    for backend in ("generate", "continuous batching"):
        if backends and time.perf_counter() > deadline:
            backends[backend] = {"status": "skipped: time budget"}
            continue
        try:
            generate_with(model, backend, prompt_ids, generation_config, args, tokens=4)  # warm-up, untimed
            device.reset_peak()
            start = time.perf_counter()
            lengths = generate_with(model, backend, prompt_ids, generation_config, args)
            device.synchronize()
            seconds = time.perf_counter() - start
            tokens_per_s = sum(lengths) / seconds
            backends[backend] = {
                "status": "ok", "seconds": round(seconds, 3), "tokens_per_s": round(tokens_per_s, 1),
                "completion_tokens_min_max": [min(lengths), max(lengths)],
                "fraction_of_bandwidth_bound": round(tokens_per_s / bound_tokens_per_s, 4),
                "peak_gib": device.peak_gib(),
            }  # fmt: skip
        except Exception as exc:
            status = "out of memory" if oom_error(exc) else f"error: {type(exc).__name__}: {exc}"
            backends[backend] = {"status": status[:500]}
        free_memory()
        print(f"   {backend}: {backends[backend]}", flush=True)
    del model
    return {
        "completions": args.completions,
        "tokens_per_completion": args.generation_tokens,
        "weight_bytes_read_per_decode_step": decoded_bytes,
        "bandwidth_bytes_per_s": bandwidth,
        "bandwidth_source": bandwidth_source,
        "bound_tokens_per_s": round(bound_tokens_per_s, 1),
        "bound_note": "completions x bandwidth / bytes of weights read per decode step (all but the input "
        "embedding); KV-cache reads and prefill are left out, so the bound is optimistic",
        "backends": backends,
    }


def generate_with(model, backend: str, prompt_ids: list[list[int]], generation_config, args, tokens: int = 0):
    """Generate with one backend; return the number of new tokens of each completion."""
    if tokens:
        generation_config = generation_config.__class__(**{**generation_config.to_dict(), "max_new_tokens": tokens})
    if backend == "generate":
        width = max(len(ids) for ids in prompt_ids)
        pad = generation_config.pad_token_id
        input_ids = torch.tensor([[pad] * (width - len(ids)) + ids for ids in prompt_ids], device=model.device)
        attention_mask = torch.tensor([[0] * (width - len(ids)) + [1] * len(ids) for ids in prompt_ids])
        with torch.no_grad():
            output = model.generate(
                input_ids=input_ids,
                attention_mask=attention_mask.to(model.device),
                generation_config=generation_config,
            )
        eos = generation_config.eos_token_id
        return [
            next((i + 1 for i, token in enumerate(row) if token == eos), len(row))
            for row in output[:, width:].tolist()
        ]
    from transformers.generation import ContinuousBatchingConfig

    sizes = {"num_blocks": args.cb_num_blocks, "max_batch_tokens": 256} if args.cb_num_blocks else {}
    with torch.no_grad():  # TRL's default max_memory_percent (0.5) leaves room for training
        outputs = model.generate_batch(
            prompt_ids,
            generation_config=generation_config,
            continuous_batching_config=ContinuousBatchingConfig(max_memory_percent=0.5, **sizes),
            progress_bar=False,
        )
    return [len(output.generated_tokens) for output in outputs.values()]


def memory_bandwidth(device: Device) -> tuple[float, str]:
    """The data-sheet bandwidth of a known card, else a measured device-to-device copy (bytes read + written)."""
    if device.cuda:
        name = torch.cuda.get_device_name()
        for key, bandwidth in SPEC_BANDWIDTH:
            if key in name:
                return bandwidth, f"data sheet of {name} ({key}: {bandwidth / 1e12:.2f} TB/s)"
    size = 2**30 if device.cuda else 2**26
    source = torch.empty(size // 4, dtype=torch.float32, device=device.name)
    target = torch.empty_like(source)
    target.copy_(source)
    device.synchronize()
    start = time.perf_counter()
    for _ in range(10):
        target.copy_(source)
    device.synchronize()
    bandwidth = 10 * 2 * size / (time.perf_counter() - start)
    return bandwidth, f"measured: {size // 2**20} MiB device-to-device copy, read + write"


# -- 5. memory model --------------------------------------------------------------------------------------------------


def memory_model_section(*_: Any, deadline: float) -> dict[str, Any]:
    return {"setups": [{**setup_summary(setup), "gib": step_memory(setup)} for setup in paper_setups()]}


def memory_model_markdown() -> str:
    """The tables of recipes/README.md's memory model, generated from `step_memory`: the paper's setups, and the
    one-GPU step that the memory section measures (its "predicted" column)."""
    setups = paper_setups()
    estimates = [step_memory(setup) for setup in setups]
    rows = [[part, *(f"{estimate[part]:.1f}" for estimate in estimates)] for part in estimates[0]]
    lines = markdown_table(["GiB per GPU", *(setup.name for setup in setups)], rows)
    single = {length: step_memory(MemorySetup("1 GPU", R1_DISTILL_QWEN_1_5B, completion_tokens=length))
              for length in (8192, 16384, 32768)}  # fmt: skip
    parts = ["weights (bf16)", "reference model (bf16)", "optimizer states", "gradients", "activations (checkpointed)",
             "logits (fused LM head tile)", "training peak"]  # fmt: skip
    rows = [[part, *(f"{single[length][part]:.1f}" for length in single)] for part in parts]
    lines += markdown_table(["1.5B on 1 GPU, no DeepSpeed, GiB", *(f"{length // 1024}k" for length in single)], rows)
    return "\n".join(lines)


# -- markdown ---------------------------------------------------------------------------------------------------------


def markdown_table(header: list[str], rows: list[list[Any]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    return lines + ["| " + " | ".join("" if cell is None else str(cell) for cell in row) + " |" for row in rows] + [""]


def render_markdown(data: dict[str, Any]) -> str:
    meta, sections = data["meta"], data["sections"]
    lines = [f"# GPU check: {meta['device']}", "",
             f"{meta['shape']}; torch {meta['torch']}, transformers {meta['transformers']}, trl {meta['trl']}; "
             f"started {meta['started']}.", ""]  # fmt: skip
    for name in SECTIONS:
        if name not in sections:
            continue
        result = sections[name]
        lines += [f"## {name}", "", f"status: {result['status']} ({result['seconds']} s)", ""]
        if result["status"] != "ok":
            continue
        if name == "model":
            lines += [
                f"{result['shape']}: {result['parameters']:,} parameters, {result['dtype']}; {result['note']}.",
                "",
            ]
        elif name == "overhead":
            keys = ["stock_s_per_step", "efficient_s_per_step", "ratio", "noise_stock_vs_stock", "stock_peak_gib",
                    "efficient_peak_gib"]  # fmt: skip
            header = ["stock s/step", "efficient s/step", "ratio", "noise (stock vs stock)", "stock peak GiB",
                      "efficient peak GiB", "completion tokens"]  # fmt: skip
            lines += markdown_table(header, [[result[key] for key in keys] + [result["completion_tokens_min_max"][1]]])
        elif name == "memory":
            keys = [
                "completion_tokens",
                "status",
                "peak_gib",
                "predicted_peak_gib",
                "reference_pass_s",
                "train_step_s",
            ]
            rows = []
            for variant, variant_rows in result["variants"].items():
                if isinstance(variant_rows, str):  # not available, or needs CUDA
                    rows.append([variant, None, variant_rows])
                else:
                    rows += [[variant, *(row.get(key) for key in keys)] for row in variant_rows]
            header = ["variant", "completion tokens", "status", "peak GiB", "predicted GiB", "reference pass s",
                      "train step s"]  # fmt: skip
            lines += markdown_table(header, [row + [None] * (len(header) - len(row)) for row in rows])
        elif name == "generation":
            lines += [f"{result['completions']} completions x {result['tokens_per_completion']} tokens; bound "
                      f"{result['bound_tokens_per_s']} tokens/s ({result['bandwidth_source']}).", ""]  # fmt: skip
            keys = ["status", "tokens_per_s", "fraction_of_bandwidth_bound", "seconds", "peak_gib"]
            header = ["backend", "status", "tokens/s", "fraction of bound", "seconds", "peak GiB"]
            rows = [[backend, *(row.get(key) for key in keys)] for backend, row in result["backends"].items()]
            lines += markdown_table(header, rows)
        elif name == "memory_model":
            lines.append(memory_model_markdown())
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.memory_model:
        print(memory_model_markdown(), end="")
        return
    import transformers
    import trl

    device = Device(args.device)
    if not device.cuda:
        torch.set_num_threads(1)  # a CPU run is a smoke test: one thread suffers least from a shared machine
    torch.manual_seed(0)
    report = Report(
        args.out,
        {
            "device": torch.cuda.get_device_name() if device.cuda else f"CPU ({platform.processor() or 'unknown'})",
            "shape": "tiny model of the R1-Distill-Qwen architecture"
            if args.tiny
            else "DeepSeek-R1-Distill-Qwen-1.5B",
            "torch": torch.__version__,
            "transformers": transformers.__version__,
            "trl": trl.__version__,
            "started": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
            "arguments": {key: str(value) for key, value in vars(args).items()},
        },
    )
    functions = {"model": model_section, "overhead": overhead_section, "memory": memory_section,
                 "generation": generation_section, "memory_model": memory_model_section}  # fmt: skip
    budgets = dict(zip(SECTIONS, args.budgets, strict=True))
    with tempfile.TemporaryDirectory() as tmp:
        model_dir = f"{tmp}/model"
        for name in ["model", *[s for s in args.sections if s != "model"]]:  # the others need the model
            run_section(report, name, budgets[name], functions[name], args, device, model_dir)
    print(f"wrote {args.out / 'gpu_check.json'} and {args.out / 'gpu_check.md'}", flush=True)


if __name__ == "__main__":
    main()
