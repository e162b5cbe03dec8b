import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from .recording import expected_advantages

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
@pytest.mark.parametrize(
    "trainer, normalization, length_reward",
    [("rloo", "none", "sigmoid"), ("grpo", "none", "sigmoid"), ("grpo", "batch", "sigmoid"), ("rloo", "none", "kimi")],
)
def test_groups_split_across_processes_match_one_process(
    trainer, normalization, length_reward, tiny_model_path, tmp_path
):
    # kimi: a group-relative reward other than the paper's (min and max length over the whole group).
    command = [
        sys.executable,
        "-m",
        "accelerate.commands.launch",
        "--num_processes",
        "2",
        "--num_machines",
        "1",
        "--multi_gpu",
        "--mixed_precision",
        "no",
        "--dynamo_backend",
        "no",
        "--main_process_port",
        "0",
        str(ROOT / "tests" / "distributed_run.py"),
        tiny_model_path,
        str(tmp_path),
        trainer,
        normalization,
        length_reward,
    ]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-4000:]
    ranks = [json.loads((tmp_path / f"rank{rank}.json").read_text()) for rank in range(2)]
    terminators = set(ranks[0]["terminators"])
    differs = []
    for step in range(2):
        local = [rank["records"][step] for rank in ranks]
        assert [len(r["completion_ids"]) for r in local] == [4, 4]  # each group of 8 is split 4 + 4
        completion_ids = local[0]["completion_ids"] + local[1]["completion_ids"]
        rewards, expected = expected_advantages(
            completion_ids, terminators, 8, 0.3, normalization, length_reward=length_reward
        )
        trained = torch.tensor(local[0]["advantages"] + local[1]["advantages"])
        assert torch.allclose(trained, expected, atol=1e-5), (trained, expected)
        # Per-process statistics (each half-group alone) give other rewards: the comparison above has teeth.
        naive = torch.cat(
            [
                expected_advantages(r["completion_ids"], terminators, 4, 0.3, length_reward=length_reward)[0]
                for r in local
            ]
        )
        differs.append(not torch.allclose(naive, rewards, atol=1e-6))
    assert any(differs), "no step had a group whose halves disagree; choose another seed"
