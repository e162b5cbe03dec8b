"""benchmarks/gpu_check.py on a CPU: the same code as the GPU run, on a tiny model of the same architecture."""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from efficient_trl.gpu_shapes import (
    R1_DISTILL_QWEN_1_5B,
    R1_DISTILL_QWEN_7B,
    TINY_SHAPE,
    build_random_model,
    parameter_count,
)

REPO_ROOT = Path(__file__).resolve().parents[1]
NEEDS_CUDA = "skipped: needs CUDA"


@pytest.fixture
def gpu_check(monkeypatch):
    monkeypatch.syspath_prepend(str(REPO_ROOT / "benchmarks"))
    return importlib.import_module("gpu_check")


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory) -> tuple[dict, str]:
    """The documented command with --tiny, from the repository root with PYTHONPATH=. (no install needed)."""
    out = tmp_path_factory.mktemp("gpu-check")
    env = {**os.environ, "PYTHONPATH": ".", "CUDA_VISIBLE_DEVICES": ""}
    command = [sys.executable, "benchmarks/gpu_check.py", "--tiny", "--out", str(out)]
    completed = subprocess.run(command, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert completed.returncode == 0, completed.stderr[-3000:]
    return json.loads((out / "gpu_check.json").read_text()), (out / "gpu_check.md").read_text()


def test_tiny_run_measures_every_section(tiny_run):
    data, _ = tiny_run
    sections = data["sections"]
    assert list(sections) == ["model", "overhead", "memory", "generation", "memory_model"]
    assert {name: result["status"] for name, result in sections.items()} == dict.fromkeys(sections, "ok")

    overhead = sections["overhead"]
    assert overhead["stock_s_per_step"] > 0 and overhead["efficient_s_per_step"] > 0
    assert overhead["ratio"] > 0 and overhead["noise_stock_vs_stock"] > 0
    assert overhead["rounds"] == 2 and all(len(runs) == 2 for runs in overhead["step_times"].values())
    assert len(overhead["warm_up_steps_s"]) == 2  # a stock run before the timed rounds, whose times are left out
    assert overhead["stock_peak_gib"] == overhead["efficient_peak_gib"] == NEEDS_CUDA
    # The recipe's trainer settings, and every completion forced to the requested length (random weights: reward 0)
    assert overhead["settings"]["beta"] == 0.001 and overhead["settings"]["loss_type"] == "grpo"
    assert overhead["completion_tokens_min_max"] == [16, 16] and overhead["mean_reward"] == 0

    rows = sections["memory"]["variants"]["TRL loss"]
    assert [row["completion_tokens"] for row in rows] == [64, 128]
    for row in rows:
        assert row["status"] == "ok" and row["peak_gib"] == NEEDS_CUDA
        assert row["train_step_s"] > 0 and row["reference_pass_s"] > 0 and row["predicted_peak_gib"] > 0
    assert sections["memory"]["variants"]["with Liger kernels"] == NEEDS_CUDA

    generation = sections["generation"]
    assert generation["bound_tokens_per_s"] > 0 and generation["bandwidth_source"].startswith("measured")
    for backend in ("generate", "continuous batching"):
        result = generation["backends"][backend]
        assert result["status"] == "ok" and result["completion_tokens_min_max"] == [32, 32]
        assert result["tokens_per_s"] > 0 and 0 < result["fraction_of_bandwidth_bound"] < 1

    assert [setup["name"] for setup in sections["memory_model"]["setups"]] == [
        "1.5B, 4 GPUs, ZeRO-2",
        "7B, 8 GPUs, ZeRO-3",
        "7B, 16 GPUs, ZeRO-3",
    ]


def test_tiny_run_markdown_shows_the_numbers(tiny_run):
    data, markdown = tiny_run
    overhead, generation = data["sections"]["overhead"], data["sections"]["generation"]
    assert (
        f"| {overhead['stock_s_per_step']} | {overhead['efficient_s_per_step']} | {overhead['ratio']} | "
        f"{overhead['noise_stock_vs_stock']} | {NEEDS_CUDA} | {NEEDS_CUDA} | 16.0 |" in markdown
    )
    for row in data["sections"]["memory"]["variants"]["TRL loss"]:
        assert (
            f"| TRL loss | {row['completion_tokens']} | ok | {NEEDS_CUDA} | {row['predicted_peak_gib']} | "
            f"{row['reference_pass_s']} | {row['train_step_s']} |" in markdown
        )
    result = generation["backends"]["continuous batching"]
    assert f"| continuous batching | ok | {result['tokens_per_s']} | {result['fraction_of_bandwidth_bound']} |" in (
        markdown
    )
    assert "| peak | 41.2 |" in markdown  # the memory model's 1.5B column


def test_shapes_are_the_published_models():
    # The published sizes: 1.78B and 7.62B parameters; counted from a real (meta-device) model of each config.
    from transformers import Qwen2Config, Qwen2ForCausalLM

    for shape, published in ((R1_DISTILL_QWEN_1_5B, 1_777_088_000), (R1_DISTILL_QWEN_7B, 7_615_616_512)):
        with torch.device("meta"):
            model = Qwen2ForCausalLM(Qwen2Config(**shape))
        assert sum(p.numel() for p in model.parameters()) == parameter_count(shape) == published


def test_random_model_never_ends_a_completion_early(tmp_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = build_random_model(tmp_path / "model", TINY_SHAPE, dtype="float32")
    model, tokenizer = AutoModelForCausalLM.from_pretrained(path), AutoTokenizer.from_pretrained(path)
    assert len(tokenizer) == TINY_SHAPE["vocab_size"] + 1 and tokenizer.eos_token_id == TINY_SHAPE["vocab_size"]
    prompt = tokenizer.apply_chat_template([{"role": "user", "content": "1+2="}], add_generation_prompt=True)
    torch.manual_seed(0)
    output = model.generate(torch.tensor([prompt["input_ids"]] * 8), max_new_tokens=300, do_sample=True)
    assert output.shape[1] == len(prompt["input_ids"]) + 300


def test_failed_section_is_recorded_and_the_run_goes_on(gpu_check, tmp_path):
    report = gpu_check.Report(tmp_path, {"device": "cpu", "shape": "tiny", "torch": "", "transformers": "",
                                         "trl": "", "started": ""})  # fmt: skip

    def runs_out_of_memory(*_, deadline):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 18.00 GiB")

    gpu_check.run_section(report, "memory", 10, runs_out_of_memory)
    gpu_check.run_section(report, "memory_model", 10, gpu_check.memory_model_section)
    sections = json.loads((tmp_path / "gpu_check.json").read_text())["sections"]
    assert sections["memory"]["status"].startswith("out of memory: CUDA out of memory. Tried to allocate 18.00 GiB")
    assert sections["memory_model"]["status"] == "ok"
    markdown = (tmp_path / "gpu_check.md").read_text()
    assert "status: out of memory" in markdown and "| peak | 41.2 |" in markdown


def test_recipes_readme_memory_table_is_the_generated_one(gpu_check):
    readme = (REPO_ROOT / "recipes" / "README.md").read_text()
    assert gpu_check.memory_model_markdown() in readme, "regenerate: python benchmarks/gpu_check.py --memory-model"
