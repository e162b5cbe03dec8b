"""Thinking budgets inside training rollouts (rollout_thinking_budget / rollout_budget_column): the shared budget
forcing function, the config's checks, and a real tiny GRPO run whose over-budget rollouts are forced and whose
forced tokens the loss ignores."""

import re
from pathlib import Path

import pytest
import torch
import yaml
from accelerate.commands.config.config_args import load_config_from_file

from efficient_trl import EfficientGRPOConfig, EfficientGRPOTrainer, EfficientRLOOConfig
from efficient_trl.sampling import FORCED_ANSWER_CUE, ForcedThinking, force_thinking_budget
from efficient_trl.synthetic import sum_problems
from efficient_trl.testing import TWO_TERM_SUMS
from efficient_trl.thinking import think_end_ids, thinking_length
from efficient_trl.training import check_batch_sizes, parse_training_arguments

from .recording import even_token_sum, recording_losses

ROOT = Path(__file__).resolve().parents[1]
CPU = ["--bf16", "false", "--use_cpu", "true"]
END, CUE, EOS = [9], [7, 8], 0  # `</think>`'s ids, the cue's ids and an EOS id, for the pure function


def force(tokens, ended=False, budget=4, max_tokens=12):
    return force_thinking_budget(tokens, ended, budget, max_tokens, END, CUE)


# --- The pure function: what both evaluation backends and the trainers do with a first sampling phase


def test_a_rollout_that_closes_within_its_budget_is_kept_as_sampled():
    assert force([1, 2, 9, 3, EOS], ended=True) == ForcedThinking([1, 2, 9, 3, EOS], None, False)
    assert force([1, 2, 3, 4, 9, 5]) == ForcedThinking([1, 2, 3, 4, 9, 5], 6, False)  # 4 thinking tokens: on
    assert force([1, 2, 3, 4, 9, 5], max_tokens=6) == ForcedThinking([1, 2, 3, 4, 9, 5], 0, False)  # at the limit


def test_a_rollout_that_ends_within_its_budget_without_closing_is_finished():
    assert force([1, 2, EOS], ended=True) == ForcedThinking([1, 2, EOS], None, False)


def test_thinking_past_the_budget_is_cut_closed_and_cued():
    # never closed, reached the budget: the budget's tokens + `</think>` + cue, the answer may follow
    assert force([1, 2, 3, 4]) == ForcedThinking([1, 2, 3, 4, 9, 7, 8], 5, True)
    # sampled past the budget (and closed, even answered and ended, later): cut all the same
    assert force([1, 2, 3, 4, 5, 9, 6, EOS], ended=True) == ForcedThinking([1, 2, 3, 4, 9, 7, 8], 5, True)
    assert force([1, 2, 3, 4, 5, 6, EOS], ended=True) == ForcedThinking([1, 2, 3, 4, 9, 7, 8], 5, True)


def test_a_forced_close_that_does_not_fit_leaves_the_rollout_truncated():
    assert force([1, 2, 3, 4, 5, 6], max_tokens=6) == ForcedThinking([1, 2, 3, 4, 5, 6], 0, False)
    assert force([1, 2, 3, 4, 5], max_tokens=7) == ForcedThinking([1, 2, 3, 4, 9, 7, 8], 0, True)  # fits exactly


# --- The config


@pytest.mark.parametrize(
    "fields, message",
    [
        ({"rollout_thinking_budget": 8, "rollout_budget_column": "budget"}, "both set"),
        ({"rollout_thinking_budget": 0}, "positive token count"),
        ({"rollout_thinking_budget": True}, "positive token count"),
        ({"rollout_thinking_budget": 64}, "not below max_completion_length=64"),
        ({"rollout_budget_column": ""}, "must name a dataset column"),
        ({"rollout_budget_column": "budget", "use_vllm": True, "vllm_mode": "server"}, "vllm_mode='colocate'"),
        ({"rollout_thinking_budget": 8, "forced_no_think_share": 0.5}, "forced_no_think_share=0"),
    ],
)
def test_the_config_refuses_bad_budgets(fields, message, tmp_path):
    with pytest.raises(ValueError, match=message):
        EfficientGRPOConfig(output_dir=str(tmp_path), use_cpu=True, max_completion_length=64, **fields)


def test_rloo_refuses_rollout_budgets_naming_the_grpo_trainer(tmp_path):
    with pytest.raises(ValueError, match="Use trainer grpo"):
        EfficientRLOOConfig(output_dir=str(tmp_path), use_cpu=True, rollout_thinking_budget=8)
    config = EfficientGRPOConfig(output_dir=str(tmp_path), use_cpu=True)
    assert not config.rollout_budgets and config.rollout_answer_cue == FORCED_ANSWER_CUE


def test_a_missing_budget_column_is_refused_at_construction(tiny_model_path, tmp_path):
    args = EfficientGRPOConfig(
        output_dir=str(tmp_path), use_cpu=True, bf16=False, per_device_train_batch_size=4, num_generations=4,
        rollout_budget_column="budget", report_to="none",
    )  # fmt: skip
    with pytest.raises(ValueError, match="rollout_budget_column='budget' names no column of the train dataset"):
        EfficientGRPOTrainer(model=tiny_model_path, reward_funcs=[even_token_sum], args=args,
                             train_dataset=sum_problems(4, seed=0, **TWO_TERM_SUMS))  # fmt: skip


# --- A real run


def policy_entropies(trainer, inputs):
    ids = torch.cat([inputs["prompt_ids"], inputs["completion_ids"]], dim=1)
    mask = torch.cat([inputs["prompt_mask"], inputs["completion_mask"]], dim=1)
    with torch.no_grad():
        _, entropies, _ = trainer._get_per_token_logps_and_entropies(
            trainer.model, ids, mask, inputs["completion_ids"].shape[1], compute_entropy=True
        )
    return entropies


@pytest.mark.slow
def test_a_real_run_forces_over_budget_rollouts_and_masks_the_forced_tokens_from_the_loss(tiny_model_path, tmp_path):
    # Each prompt's own budget (2 or 5 tokens) from the column. An entropy bonus (the loss minus the mean entropy of
    # the loss's tokens) makes the mask visible in the loss at learning rate 0, where every ratio is 1 and the policy
    # term is minus the mean advantage.
    args = EfficientGRPOConfig(
        output_dir=str(tmp_path), use_cpu=True, bf16=False, per_device_train_batch_size=8, num_generations=4,
        max_completion_length=32, max_steps=2, learning_rate=0.0, beta=0.0, report_to="none", save_strategy="no",
        logging_steps=1, seed=1, entropy_coef=1.0, rollout_budget_column="budget",
    )  # fmt: skip
    dataset = sum_problems(4, seed=0, **TWO_TERM_SUMS).add_column("budget", [2, 5, 2, 5])
    budget_of = dict(zip(dataset["problem"], dataset["budget"], strict=True))
    trainer = recording_losses(EfficientGRPOTrainer)(model=tiny_model_path, reward_funcs=[even_token_sum], args=args,
                                 train_dataset=dataset)  # fmt: skip
    trainer.train()
    tokenizer = trainer.processing_class
    end = think_end_ids(tokenizer)
    cue = tokenizer(FORCED_ANSWER_CUE, add_special_tokens=False)["input_ids"]
    assert len(trainer.losses) == 2
    forced_rows = 0
    for inputs, loss in trainer.losses:
        mask, tool_mask = inputs["completion_mask"], inputs["tool_mask"]
        for row in range(mask.shape[0]):
            prompt = tokenizer.decode(inputs["prompt_ids"][row][inputs["prompt_mask"][row].bool()])
            budget = next(b for problem, b in budget_of.items() if f"{problem}=" in prompt)
            ids = inputs["completion_ids"][row][mask[row].bool()].tolist()
            unmasked = (tool_mask[row] * mask[row]).tolist()
            if thinking_length(ids, end) == budget and ids[budget : budget + len(end + cue)] == end + cue:
                forced_rows += 1  # its thinking ran over: cut at the budget, then `</think>` + the cue, in the text
                assert tokenizer.decode(ids).count(tokenizer.decode(end + cue)) == 1
                assert unmasked[budget : budget + len(end + cue)] == [0] * len(end + cue)
                assert sum(unmasked) == len(ids) - len(end + cue)  # only the forced tokens are masked
            else:  # closed (or ended) within its budget, or truncated where the close and cue did not fit
                assert thinking_length(ids, end) <= budget or len(ids) == 32
                assert sum(unmasked) == len(ids)
        # The loss counts only the unmasked tokens: it is the policy term minus their mean entropy, recomputed here
        counted = mask * tool_mask
        assert inputs["num_items_in_batch"].item() == counted.sum().item()  # TRL's token count, recounted
        entropies = policy_entropies(trainer, inputs)
        policy_term = -inputs["advantages"].mean()
        expected = policy_term - (entropies * counted).sum() / counted.sum()
        assert loss == pytest.approx(expected.item(), abs=1e-5)
        every_token = policy_term - (entropies * mask).sum() / mask.sum()
        assert abs(loss - every_token.item()) > 1e-4  # ... not over every completion token
    assert forced_rows > 0  # a random model rarely closes its thinking: most rollouts run over
    logged = [entry for entry in trainer.state.log_history if "efficiency/rollout_forced_rate" in entry]
    assert len(logged) == 2 and all(0 < entry["efficiency/rollout_forced_rate"] <= 1 for entry in logged)
    assert all(entry["efficiency/rollout_forced_tokens"] > 0 for entry in logged)


# --- The recipes (issue 27 item 6)


@pytest.mark.parametrize("size", ["1.5b", "7b"])
def test_the_rollout_budget_recipes_are_l1_exact_with_budgeted_rollouts_and_their_batch(size):
    recipe = ROOT / "recipes" / f"deepseek-r1-distill-qwen-{size}" / "l1_exact_rollout_budget.yaml"
    script_args, args, model_args = parse_training_arguments(["--config", str(recipe), *CPU])
    assert model_args.model_name_or_path == f"deepseek-ai/DeepSeek-R1-Distill-Qwen-{size.upper()}"
    assert type(args).__name__ == "EfficientGRPOConfig" and args.resolved_length_reward()[0] == "l1_exact"
    assert (args.rollout_budget_column, args.rollout_thinking_budget) == ("budget", None)
    assert args.rollout_answer_cue == FORCED_ANSWER_CUE
    assert script_args.budget_range == [100, 4000] and args.max_completion_length == 4096
    assert args.use_vllm and args.vllm_mode == "colocate"
    # L1's batch: 128 prompts x 16 = 2,048 completions per RL iteration, two optimizer steps of 1,024, on the process
    # count of the Accelerate config its launch line names
    launcher = re.search(r"accelerate_configs/(\w+)\.yaml", recipe.read_text()).group(1)
    assert launcher == ("zero2" if size == "1.5b" else "zero3_2nodes")
    processes = load_config_from_file(str(ROOT / "accelerate_configs" / f"{launcher}.yaml")).num_processes
    per_step = args.per_device_train_batch_size * processes * args.gradient_accumulation_steps
    per_iteration = args.per_device_train_batch_size * processes * args.steps_per_generation
    assert (per_step, per_iteration, args.num_generations) == (1024, 2048, 16)
    check_batch_sizes(script_args, args, processes)
    with pytest.raises(ValueError, match="on 2 processes"):
        check_batch_sizes(script_args, args, 2)
    # every other setting is the 1.5B L1-Exact recipe's
    l1 = yaml.safe_load((ROOT / "recipes" / "deepseek-r1-distill-qwen-1.5b" / "l1_exact.yaml").read_text())
    mine = yaml.safe_load(recipe.read_text())
    layout = {"model_name_or_path", "output_dir", "per_device_train_batch_size", "gradient_accumulation_steps",
              "steps_per_generation", "vllm_gpu_memory_utilization"}  # fmt: skip
    assert {k: v for k, v in mine.items() if k not in layout} == {
        **{k: v for k, v in l1.items() if k not in layout},
        "rollout_budget_column": "budget",
    }


# --- vLLM's return shape (no vLLM here: TRL's vLLM branch of `_generate_single_turn` returns (ids, per-token sampling
# log-probs); a scripted stand-in for that branch checks what the override does with them, not vLLM itself)


class _ScriptedVLLMBranch:
    """TRL's `_generate_single_turn` as its vLLM branch returns: (ids cut after EOS, one log-prob per id), reading the
    token limit from `vllm_generation.max_completion_length` as TRL's VLLMGeneration does. Each prompt continues with
    its script: the rows' thinking, or after a forced cue the answer [6, EOS]."""

    scripts = {(1,): [1, 2, 3, 4, 5, 1, 2, 3], (2,): [1, 2, END[0], 6, EOS]}  # row 0 runs past 4; row 1 closes at 2

    def _generate_single_turn(self, prompt_ids, images, multimodal_fields, num_generations):
        limit = self.vllm_generation.max_completion_length
        self.limits.append(limit)
        ids = [(self.scripts.get(tuple(prompt)) or [6, EOS])[:limit] for prompt in prompt_ids]
        return ids, [[-float(k + 1) for k in range(len(row))] for row in ids]


def test_with_vllm_log_probs_the_forced_tokens_get_none_and_the_sampled_ones_keep_theirs():
    from types import SimpleNamespace

    from efficient_trl.trainers import _RolloutBudgetMixin

    class Trainer(_RolloutBudgetMixin, _ScriptedVLLMBranch):
        pass

    trainer = Trainer()
    trainer.limits, trainer.use_vllm = [], True
    trainer.vllm_generation = SimpleNamespace(max_completion_length=12)
    trainer.max_completion_length, trainer._think_end_ids, trainer.eos_token_ids = 12, END, [EOS]
    trainer._tokenizer = lambda text, add_special_tokens: {"input_ids": CUE}
    trainer.args = SimpleNamespace(rollout_answer_cue="cue")
    trainer.accelerator = SimpleNamespace(gather=lambda tensor: tensor, device="cpu")
    trainer._rollout_budget_list = [4, 4]
    ids, logprobs = trainer._generate_single_turn([[1], [2]], None, {}, 2)
    # phase 1 ran to the largest budget plus `</think>`, phase 2 to what is left after the forced prefix; restored
    assert (
        trainer.limits == [4 + len(END), 12 - (4 + len(END) + len(CUE))]
        and trainer.vllm_generation.max_completion_length == 12
    )
    assert ids[0] == [1, 2, 3, 4, *END, *CUE, 6, EOS] and logprobs[0] == [
        -1.0,
        -2.0,
        -3.0,
        -4.0,
        None,
        None,
        None,
        -1.0,
        -2.0,
    ]
    assert ids[1] == [1, 2, END[0], 6, EOS] and logprobs[1] == [-1.0, -2.0, -3.0, -4.0, -5.0]
    assert trainer._rollout_forced == [(4, len(END) + len(CUE)), (5, 0)]
