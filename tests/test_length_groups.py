"""logprob_length_groups: log-probability passes on groups of rows of similar completion length, each cut to its own
longest completion, give TRL's numbers (log-probabilities, entropies, gradients, and a whole training run's)."""

import pytest
import torch

from efficient_trl import EfficientGRPOConfig, EfficientRLOOConfig
from efficient_trl.synthetic import sum_problems
from efficient_trl.testing import TWO_TERM_SUMS
from efficient_trl.trainers import length_groups

from .recording import recorded_run
from .test_trainers import TRAINER_IDS, TRAINERS, make_args


def test_length_groups_sort_rows_by_their_last_completion_token():
    # the rows' last unmasked completion positions: 3, 6, 1, none (width 1, as row 2), 6 (a masked token inside counts)
    mask = torch.tensor(
        [
            [1, 1, 1, 0, 0, 0],
            [1, 1, 1, 1, 1, 1],
            [1, 0, 0, 0, 0, 0],
            [0, 0, 0, 0, 0, 0],
            [1, 1, 0, 1, 1, 1],
        ]
    )
    groups = length_groups(mask, 2)
    assert [(rows.tolist(), width) for rows, width in groups] == [([2, 3, 0], 3), ([1, 4], 6)]
    assert [(rows.tolist(), width) for rows, width in length_groups(mask, 1)] == [([2, 3, 0, 1, 4], 6)]
    assert len(length_groups(mask, 9)) == 5  # never more groups than rows
    assert sorted(row for rows, _ in length_groups(mask, 3) for row in rows.tolist()) == [0, 1, 2, 3, 4]


def _batch(vocab_size: int, pad_id: int) -> tuple[torch.Tensor, torch.Tensor, int]:
    """Six rows: left-padded prompts of 3-5 tokens, right-padded completions of 2-9 tokens (width 9)."""
    generator = torch.Generator().manual_seed(0)
    prompt_lengths, completion_lengths = [5, 3, 4, 5, 3, 4], [9, 2, 5, 7, 3, 6]
    ids = torch.randint(3, vocab_size, (6, 14), generator=generator)
    mask = torch.zeros(6, 14, dtype=torch.long)
    for row, (prompt, completion) in enumerate(zip(prompt_lengths, completion_lengths, strict=True)):
        mask[row, 5 - prompt : 5 + completion] = 1
    return ids.masked_fill(mask == 0, pad_id), mask, 9


@pytest.mark.parametrize("trainer_class, config_class", TRAINERS, ids=TRAINER_IDS)
def test_grouped_passes_give_trls_log_probabilities_entropies_and_gradients(
    trainer_class, config_class, tiny_model_path, tmp_path
):
    args = make_args(config_class, tmp_path, beta=0.0, logprob_length_groups=3)
    trainer = trainer_class(model=tiny_model_path, args=args, train_dataset=sum_problems(8, seed=0, **TWO_TERM_SUMS))
    model = trainer.model
    ids, mask, width = _batch(model.config.vocab_size, trainer.processing_class.pad_token_id)
    completion_mask = mask[:, -width:].bool()
    results = {}
    for groups in (1, 3):
        trainer.args.logprob_length_groups = groups
        model.zero_grad()
        logps, entropies, aux = trainer._get_per_token_logps_and_entropies(
            model, ids, mask, width, batch_size=2, compute_entropy=True
        )
        (logps * completion_mask).sum().backward()
        grads = {name: p.grad.clone() for name, p in model.named_parameters() if p.grad is not None}
        results[groups] = (logps.detach(), entropies.detach(), aux, grads)
    (logps, entropies, aux, grads), (grouped, grouped_entropies, grouped_aux, grouped_grads) = results[1], results[3]
    assert grouped.shape == logps.shape == (6, width) and aux is grouped_aux is None
    assert torch.allclose(grouped[completion_mask], logps[completion_mask], atol=1e-5)
    assert torch.allclose(grouped_entropies[completion_mask], entropies[completion_mask], atol=1e-5)
    # past each group's width (here: row 1's group of widths 2 and 3 ends at 3) nothing was computed: zeros
    assert grouped[1, 3:].eq(0).all() and grouped_entropies[1, 3:].eq(0).all()
    assert grads.keys() == grouped_grads.keys() and grads
    for name, grad in grads.items():
        assert torch.allclose(grouped_grads[name], grad, atol=1e-5), name


# A generation batch of two micro-batches of 4 that serves two optimizer steps: TRL then computes the reference and
# the sampling policy's log-probabilities over the whole batch in chunks of 4, and the loss's pass per micro-batch.
SPLIT_BATCHES = {"per_device_train_batch_size": 4, "gradient_accumulation_steps": 2, "steps_per_generation": 4}


@pytest.mark.parametrize("batches", [{}, SPLIT_BATCHES], ids=["one_batch", "split_batches"])
@pytest.mark.parametrize("trainer_class, config_class", TRAINERS, ids=TRAINER_IDS)
def test_a_training_run_is_the_same_with_grouped_passes(
    trainer_class, config_class, batches, tiny_model_path, tmp_path
):
    # beta > 0, so the reference pass is grouped too; three steps, so the second and third sample from weights that
    # the grouped backward passes updated
    runs = {}
    for groups in (1, 4):
        args = make_args(config_class, tmp_path / str(groups), max_steps=3, logprob_length_groups=groups, **batches)
        trainer, _ = recorded_run(trainer_class, tiny_model_path, args)
        lengths = {len(ids) for record in trainer.records for ids in record["completion_ids"]}
        logs = [entry for entry in trainer.state.log_history if "loss" in entry]
        runs[groups] = trainer.records, logs, lengths
    (records, logs, lengths), (grouped_records, grouped_logs, _) = runs[1], runs[4]
    assert len(lengths) > 2, "completions of one length: the groups would cut nothing"
    for record, grouped in zip(records, grouped_records, strict=True):
        assert grouped["completion_ids"] == record["completion_ids"]
        assert grouped["advantages"] == pytest.approx(record["advantages"], abs=1e-6)
        for key in ("ref_per_token_logps", "old_per_token_logps"):  # GRPO's per-token passes (TRL's padded layout)
            assert (key in grouped) == (key in record)
            if key in record:  # compared on each completion's tokens (past them TRL's pass leaves values too)
                for ids, values, grouped_values in zip(
                    record["completion_ids"], record[key], grouped[key], strict=True
                ):
                    assert grouped_values[: len(ids)] == pytest.approx(values[: len(ids)], abs=1e-5), key
    if batches and trainer_class.__name__ == "EfficientGRPOTrainer":
        assert "old_per_token_logps" in records[0], "a batch serving two steps: TRL keeps the sampling policy's"
    for entry, grouped in zip(logs, grouped_logs, strict=True):
        for key in ("loss", "kl", "entropy", "grad_norm"):
            if key in entry:
                assert grouped[key] == pytest.approx(entry[key], rel=1e-4, abs=1e-7), key


@pytest.mark.parametrize("config_class", [EfficientRLOOConfig, EfficientGRPOConfig])
@pytest.mark.parametrize("groups", [0, -2, 1.5, True, "4"])
def test_config_refuses_a_count_of_groups_that_is_not_a_whole_positive_number(config_class, groups, tmp_path):
    with pytest.raises(ValueError, match="logprob_length_groups must be a whole number of groups, at least 1"):
        make_args(config_class, tmp_path, logprob_length_groups=groups)


def test_the_cpu_experiments_group_their_passes(tmp_path):
    from efficient_trl.experiments import engine
    from efficient_trl.experiments.demo import DemoSettings

    args = engine.rl_config(engine.alpha_spec(0.2), DemoSettings(task="sums"), tmp_path)
    assert isinstance(args, EfficientGRPOConfig) and args.logprob_length_groups == 4
