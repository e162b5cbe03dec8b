import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from efficient_trl.rewards import kl_returns, whiten_tokens

from .recording import expected_advantages

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
@pytest.mark.parametrize(
    "trainer, normalization, length_reward",
    [
        ("rloo", "none", "sigmoid"),
        ("grpo", "none", "sigmoid"),
        ("grpo", "batch", "sigmoid"),
        ("grpo", "batch_token", "sigmoid"),
        ("rloo", "none", "kimi"),
    ],
)
def test_groups_split_across_processes_match_one_process(
    trainer, normalization, length_reward, tiny_model_path, tmp_path
):
    # kimi: a group-relative reward other than the paper's (min and max length over the whole group).
    ranks = run_two_processes(tiny_model_path, tmp_path, trainer, normalization, length_reward)
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


@pytest.mark.slow
def test_kl_in_reward_whitens_the_tokens_of_both_processes_together(tiny_model_path, tmp_path):
    ranks = run_two_processes(tiny_model_path, tmp_path, "grpo", "batch_token", "sigmoid", "kl")
    terminators = set(ranks[0]["terminators"])
    for step in range(2):  # two generation batches of one group of 8, split 4 + 4
        local = [rank["records"][step] for rank in ranks]
        completion_ids = local[0]["completion_ids"] + local[1]["completion_ids"]
        lengths = torch.tensor([len(ids) for ids in completion_ids])
        mask = (torch.arange(lengths.max()) < lengths[:, None]).float()
        k1 = torch.cat([padded(r["old_per_token_logps"], mask.shape[1]) for r in local]) - torch.cat(
            [padded(r["ref_per_token_logps"], mask.shape[1]) for r in local]
        )
        assert step == 0 or (k1 * mask).abs().sum() > 0  # the second batch's policy has left the reference
        rloo = expected_advantages(completion_ids, terminators, 8, 0.3, "none")[1]
        tokens = (rloo[:, None] - 0.5 * kl_returns(k1, mask)) * mask
        expected = whiten_tokens(tokens, mask)
        trained = torch.cat([padded(r["advantages"], mask.shape[1]) for r in local])
        assert torch.allclose(trained * mask, expected * mask, atol=1e-5), (trained, expected)
        # Each process whitening its own tokens alone would train on other values.
        alone = torch.cat([whiten_tokens(tokens[half], mask[half]) for half in (slice(0, 4), slice(4, 8))])
        assert not torch.allclose(alone * mask, expected * mask, atol=1e-3)


@pytest.mark.slow
def test_every_process_adjusts_alpha_from_the_whole_batchs_mean_length(tiny_model_path, tmp_path):
    from efficient_trl.dual_alpha import dual_alpha_step

    ranks = run_two_processes(tiny_model_path, tmp_path, "grpo", "none", "sigmoid", "target")
    terminators = set(ranks[0]["terminators"])
    alpha, halves_differ = 0.3, []
    for step in range(2):  # each process holds half of every group: the mean must be over both halves
        local = [rank["records"][step] for rank in ranks]
        assert [rank["alphas"][step] for rank in ranks] == [pytest.approx(alpha)] * 2  # the alpha logged ...
        completion_ids = local[0]["completion_ids"] + local[1]["completion_ids"]
        expected = expected_advantages(completion_ids, terminators, 8, alpha)[1]  # ... is the one rewarded with
        assert torch.allclose(torch.tensor(local[0]["advantages"] + local[1]["advantages"]), expected, atol=1e-5)
        halves_differ.append(any(mean_length(r["completion_ids"]) != mean_length(completion_ids) for r in local))
        alpha = dual_alpha_step(alpha, mean_length(completion_ids), 6, 0.2, 0.5)
    assert ranks[0]["final_alpha"] == ranks[1]["final_alpha"] == pytest.approx(alpha) != 0.3
    assert any(halves_differ), "each half had the batch's mean length: a per-process mean would pass too"


def mean_length(completion_ids: list[list[int]]) -> float:
    return sum(len(ids) for ids in completion_ids) / len(completion_ids)


def padded(rows: list[list[float]], width: int) -> torch.Tensor:
    """One process's (B, T_process) values, cut or zero-padded to the batch's width."""
    values = torch.tensor(rows)[:, :width]
    return torch.nn.functional.pad(values, (0, width - values.shape[1]))


def run_two_processes(tiny_model_path, tmp_path, *arguments: str) -> list[dict]:
    """tests/distributed_run.py under `accelerate launch` with 2 CPU processes; what each process trained on."""
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
        *arguments,
    ]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-4000:]
    return [json.loads((tmp_path / f"rank{rank}.json").read_text()) for rank in range(2)]
