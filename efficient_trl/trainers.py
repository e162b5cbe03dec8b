"""TRL's RLOO and GRPO trainers with a length reward and exact, optionally rescaled, RLOO advantages.

Both trainers override two TRL hooks and nothing else (beside the public `save_model`, below; AdaptThink's
`forced_no_think_share` and rollout budgets, which also override `_generate_single_turn`: `_NoThinkSamplingMixin`,
`_RolloutBudgetMixin`; and `logprob_length_groups`, which runs TRL's log-probability pass on groups of rows:
`_LengthGroupedPassMixin`):

- `_calculate_rewards` returns the rewards of *all* processes (TRL gathers them there, because a prompt's G
  completions may be split across processes). On top of it we gather the completion lengths and truncation flags
  and replace the correctness reward by the chosen length reward (`length_reward`, an entry of
  `efficient_trl.length_rewards.LENGTH_REWARDS`; default "sigmoid", the paper's reward,
  `rewards.length_penalized_rewards` with alpha = `length_penalty_alpha`), so every group statistic is per prompt,
  never per process slice. A length-penalty warm-up (`length_penalty_warmup_steps`, Kimi k1.5's) reads the
  optimizer step from transformers' `state.global_step`.
- `_generate_and_score_completions` returns this process's advantages. We turn them into exact RLOO advantages
  (GRPO centres rewards on the group mean, which is RLOO scaled by (G - 1) / G) and apply `advantage_normalization`;
  "batch_token" weighs each completion by its token count (`completion_mask`), over the gathered batch. With
  `kl_in_reward` (GRPO only) each token's advantage also carries minus beta times the k1 KL of the tokens from it on,
  as in the authors' OpenRLHF code, and the advantages become (B, T), which TRL's GRPO loss accepts.

What is logged says which is which: the replaced column is logged by TRL as `rewards/length_reward/mean` (the shaped
reward; the correctness function's name is replaced by `SHAPED_REWARD_NAME`), and the accuracy as
`efficiency/accuracy` (correct and finished); with `target_mean_tokens`, `efficiency/alpha` is the alpha of the step
(adjusted towards the target by `dual_alpha.DualAlphaCallback`, which the trainer adds) and `efficiency/target_gap`
the batch's relative distance to the target; `efficiency/no_think_rate` is the share answered without thinking
(`thinking.without_thinking`) and `efficiency/{think,no_think}/{accuracy,mean_tokens}` each mode's figures.
`save_model` (TRL's, which also saves every checkpoint) writes the model's provenance.json beside the weights, so that
a model trained through the Python API records how it was trained, as the recipes' do.
"""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch
from datasets import Dataset, IterableDataset
from trl import GRPOTrainer, RLOOTrainer

from .configs import EfficientGRPOConfig, EfficientRLOOConfig
from .dual_alpha import DualAlphaCallback
from .length_rewards import (
    DATASET_COLUMN_SOURCES,
    completion_inputs,
    dataset_inputs,
    length_reward_at_step,
    penalty_warmup_steps,
)
from .math_grader import final_answer, math_accuracy_reward
from .no_think_sampling import forced_rows, importance_sampled_logps, no_think_opening, opens_with
from .provenance import training_provenance, write_provenance
from .rewards import kl_returns, normalize_advantages, whiten_tokens
from .sampling import force_thinking_budget
from .thinking import opens_without_thinking, think_end_ids, thinking_length

__all__ = ["SHAPED_REWARD_NAME", "EfficientGRPOTrainer", "EfficientRLOOTrainer"]

# The name the correctness reward function's column takes once the length reward replaces it: TRL logs the column as
# rewards/<name>/mean, which would otherwise call the shaped reward accuracy
SHAPED_REWARD_NAME = "length_reward"
# `datasets`' builders of local files: the name a dataset loaded from one carries, which says nothing of the data
GENERIC_BUILDERS = ("json", "csv", "parquet", "text", "arrow", "pandas", "generator")

# ---------------------------------------------------------------------------------------------------------------------
# The TRL contract: every private hook or attribute of GRPOTrainer / RLOOTrainer (TRL 1.16) that these trainers touch,
# and what we rely on. tests/test_trl_contract.py checks each one and names the TRL change when one moves.
#
# Hooks we override (and call through super()):
#   _calculate_rewards(self, inputs, prompts, completions, completion_ids_list) -> Tensor (N_all, num_reward_funcs):
#       the rewards of every process, gathered, one column per reward function in `reward_func_names` order, NaN
#       where a function returned None; TRL then weights the columns by `reward_weights` and sums them. `inputs` are
#       this process's dataset rows, one per completion, in completion order (L1's `budget` is read from them).
#   _generate_and_score_completions(self, inputs) -> dict: its "advantages" entry holds this process's slice
#       (process_index * local size onwards) of the advantages of the gathered batch, and it has logged those
#       advantages to `_logs["advantages"]` just before returning.
#       GRPO's dict also holds "completion_mask" (and "tool_mask" when tools run; the loss masks with their product),
#       "ref_per_token_logps" when `beta != 0`, and "old_per_token_logps" (the sampling policy's, computed by the
#       trainer's model) when steps_per_generation * num_iterations does not divide gradient_accumulation_steps or
#       vLLM importance sampling is on; GRPO's `_compute_loss` takes "advantages" of shape (B,) or (B, T).
# Hook we call:
#   _log_metric(self, name, value): appends a value to the current mode's metrics (averaged at logging time).
# Attributes we read or write:
#   beta (GRPO; set from args.beta in __init__, which loads the reference model when it is not 0): TRL computes the
#       reference log-probs in `_generate_and_score_completions` and adds its k3 KL term in `_compute_loss` only
#       where `self.beta != 0`. With kl_in_reward we keep it 0 but for the duration of our super() call to
#       `_generate_and_score_completions`: the reference log-probs come, the loss gets no KL term (the KL is in the
#       advantages instead). This is the only way short of copying `_compute_loss`.
#   _metrics[mode][name] (lists of floats that `log()` averages): efficiency/kl_penalty is appended there, because
#       it is known only after `_generate_and_score_completions` has flushed `_log_metric`'s values.
# Attributes we read (set in TRL's __init__):
#   _tokenizer (the tokenizer inside processing_class), eos_token_ids (list of ids that end a completion),
#   reward_func_names (list[str], the `__name__` of each reward function), reward_weights (1-D tensor, one weight per
#   reward function), num_generations and num_generations_eval (group sizes in training / evaluation),
#   _logs["advantages"] (a deque of the advantages shown in the completions table).
# Attribute we write: reward_func_names[correctness_index] = SHAPED_REWARD_NAME after TRL's __init__; TRL reads the
#   list only to name each column (the rewards/<name>/mean and /std metrics, the completions table, profiling labels
#   and its messages about a function's output).
# Public method we override (and call through super()): save_model(output_dir=None, _internal_call=False), which
#   Trainer also calls to save each checkpoint-N/ (with _internal_call=True) before writing its trainer_state.json.
# Config fields we pin (checked in configs.py): GRPOConfig.scale_rewards="none" and multi_objective_aggregation=
#   "sum_then_normalize" (TRL's advantage = weighted reward sum minus its group mean), RLOOConfig.normalize_advantages.
# RLOO takes no per-token advantages (its loss clips one ratio per sequence) and returns no per-token log-probs,
#   so kl_in_reward is GRPO-only (EfficientRLOOConfig refuses it): TRL's RLOO subtracts beta * the summed k1 KL from
#   each sequence's reward, inside the leave-one-out baseline.
# forced_no_think_share (AdaptThink's importance sampling, `_NoThinkSamplingMixin`), on both trainers:
#   _generate_single_turn(self, prompt_ids, ...) (overridden, called through super()): prompt_ids is a list of this
#       process's token-id lists, one per rollout, in rollout order; it returns the completions' id lists (RLOO), or
#       (ids, sampling log-probs or None) (GRPO, whose extra parameters we pass on), and is called once per
#       generation batch outside tools. The forced rows' prompts get the opening appended and it is moved to their
#       completions' start, so TRL's prompt ids stay the dataset's; vLLM colocate samples each row on its own, while
#       vllm_mode="server" samples a prompt's rows in one request (refused by the configs).
#   _get_per_token_logps_and_entropies(self, model, input_ids, attention_mask, logits_to_keep, batch_size, ...)
#       (called) -> (per-token log-probs (B, logits_to_keep), ...): the old log-probs where TRL keeps none per token.
#   The outputs of _generate_and_score_completions: RLOO's "old_logps" (B,), the summed log-prob the loss's
#       sequence ratio divides by; GRPO's "old_per_token_logps" (B, T), which `_compute_loss` uses in place of the
#       current log-probs (detached) when present. Attribute read: max_completion_length (both).
# Rollout budgets (rollout_thinking_budget / rollout_budget_column, `_RolloutBudgetMixin`), GRPO only (RLOO's loss
#   has no token mask: EfficientRLOOConfig refuses them):
#   _generate_single_turn (as above), called twice per generation batch: phase 1 on the prompts, phase 2 on prompt +
#       forced prefix for the rollouts that go on (the same number of rows on every process, padded with filler rows:
#       vLLM colocate with tensor parallelism gathers a TP group's rows and slices them back by count). It returns
#       completions cut after their first EOS, which they keep.
#   The token limit of one generation call: `vllm_generation.max_completion_length` (vLLM) or
#       `generation_config.max_new_tokens` (transformers, continuous batching), set for the call and restored.
#   _generate_and_score_completions' output: "tool_mask" (B, T) is added (0 on the forced `</think>` + cue) when it
#       has none (tools are refused); TRL's `_compute_loss` masks with completion_mask * tool_mask (the loss, its
#       per-sequence means, the sequence-level importance ratio, the entropy mask, the entropy bonus and the clip and
#       KL metrics) while the attention uses completion_mask only. "num_items_in_batch" (the gathered loss-token count
#       of loss types dapo, cispo and vespo), which TRL counted before, is recounted with the mask. Attributes read:
#       use_vllm, tools, rollout_func.
# logprob_length_groups (`_LengthGroupedPassMixin`), on both trainers:
#   _get_per_token_logps_and_entropies(self, model, input_ids, attention_mask, logits_to_keep, batch_size=None,
#       compute_entropy=False, compute_aux_loss=False, **image inputs) (overridden, called through super() once per
#       group) -> (log-probs (B, logits_to_keep), entropies or None, aux loss or None): the log-probs of the last
#       logits_to_keep positions of input_ids = prompt (left-padded) + completion (right-padded), from a model input of
#       ids and mask alone, so positions count from the left edge (which the groups keep: they cut right padding
#       only). Every log-prob pass of TRL's trainers (policy, reference, old policy) goes through it.
# Hidden state we keep: `_task_rewards`, the gathered weighted reward sum that `advantage_normalization="group"`
#   divides by, is set in `_calculate_rewards` and read in `_generate_and_score_completions`. TRL gives no way to
#   pass it through: `_calculate_rewards` must return exactly one column per reward function (TRL multiplies by
#   `reward_weights`), and TRL builds the output dict of `_generate_and_score_completions` after it without the
#   rewards. (Recovering it from the returned advantages would not do: RLOO's carry the KL term.)
# ---------------------------------------------------------------------------------------------------------------------


def _check_dataset_columns(dataset: Any, reward_funcs: list, split: str, length_reward: str = "sigmoid") -> None:
    """Fail at construction, not at the first reward call, when a reward function's gold column, or a column the
    length reward reads (L1's `budget`), is missing."""
    columns = getattr(dataset, "column_names", None)
    if not isinstance(columns, list):  # None for an IterableDataset of unknown features; a dict for a DatasetDict
        return
    if "prompt" not in columns:  # TRL would fail with a KeyError at the first step
        raise ValueError(
            f"the {split} dataset has no 'prompt' column to sample completions for (columns present: {columns}). "
            "Add one with efficient_trl.data.to_prompts(dataset) (from a 'problem' column), or rename yours to "
            "'prompt'."
        )
    for column in dataset_inputs(length_reward).values():
        if column not in columns:
            raise ValueError(
                f"the {split} dataset has no {column!r} column, which length_reward={length_reward!r} reads per "
                f"prompt (columns present: {columns}). Add it: {DATASET_COLUMN_SOURCES[column]}."
            )
    for reward_func in reward_funcs:
        needed = getattr(reward_func, "gold_columns", None)
        if needed and not set(needed) & set(columns):
            name = getattr(reward_func, "__name__", type(reward_func).__name__)
            raise ValueError(
                f"the {split} dataset has no {' or '.join(repr(c) for c in needed)} column, which the reward function "
                f"{name} reads the gold answer from (columns present: {columns}). Rename the gold-answer column "
                f"to {needed[0]!r}."
            )


def _check_budget_column(dataset: Any, column: str | None) -> None:
    """Fail at construction when rollout_budget_column names a column the training dataset lacks."""
    columns = getattr(dataset, "column_names", None)
    if column is None or not isinstance(columns, list) or column in columns:
        return
    raise ValueError(
        f"rollout_budget_column={column!r} names no column of the train dataset (columns present: {columns}). Add "
        "each prompt's thinking budget there (budgets.with_sampled_budgets writes a 'budget' column), or give one "
        "budget for every rollout with rollout_thinking_budget."
    )


class _LengthPenaltyMixin:
    """The efficient-reasoning parts shared by both trainers; see the module docstring."""

    _config_class: type
    _provenance_kind: str  # provenance.json's `trainer`

    def __init__(
        self,
        model: Any,
        reward_funcs: Any = None,
        args: Any = None,
        train_dataset: Dataset | IterableDataset | None = None,
        eval_dataset: Any = None,
        provenance: dict[str, Any] | None = None,
        **kwargs: Any,
    ):
        if args is None:
            model_name = model if isinstance(model, str) else model.config._name_or_path
            args = self._config_class(output_dir=f"{model_name.split('/')[-1]}-{self._config_class.__name__}")
        if not isinstance(args, self._config_class):
            raise TypeError(
                f"{type(self).__name__} needs args of type {self._config_class.__name__} (which adds "
                f"length_penalty_alpha and advantage_normalization), got {type(args).__name__}."
            )
        if reward_funcs is None:
            reward_funcs = [math_accuracy_reward]
        elif not isinstance(reward_funcs, list):
            reward_funcs = [reward_funcs]
        _check_dataset_columns(train_dataset, reward_funcs, "train", args.length_reward)
        _check_budget_column(train_dataset, args.rollout_budget_column)
        for name, dataset in eval_dataset.items() if isinstance(eval_dataset, dict) else [("eval", eval_dataset)]:
            _check_dataset_columns(dataset, reward_funcs, name, args.length_reward)
        self.provenance = provenance
        self._base_model = model if isinstance(model, str) else model.config._name_or_path
        self._lora = kwargs.get("peft_config") is not None or hasattr(model, "peft_config")  # a PeftModel given
        super().__init__(
            model, reward_funcs, args=args, train_dataset=train_dataset, eval_dataset=eval_dataset, **kwargs
        )
        if args.correctness_reward_func is None:
            self.correctness_index = 0
        elif args.correctness_reward_func in self.reward_func_names:
            self.correctness_index = self.reward_func_names.index(args.correctness_reward_func)
        else:
            raise ValueError(
                f"correctness_reward_func={args.correctness_reward_func!r} names none of the reward functions "
                f"{self.reward_func_names}."
            )
        names = self.reward_func_names
        if SHAPED_REWARD_NAME in names[: self.correctness_index] + names[self.correctness_index + 1 :]:
            raise ValueError(
                f"a reward function is named {SHAPED_REWARD_NAME!r}, the name under which the length reward is "
                "logged; rename it."
            )
        names[self.correctness_index] = SHAPED_REWARD_NAME
        self._task_rewards: torch.Tensor | None = None
        if args.kl_in_reward:
            self.beta = 0.0  # the reference model is loaded (args.beta != 0); the KL goes in the advantages
        self._length_reward, self._length_reward_params = args.resolved_length_reward()
        if args.target_mean_tokens is not None:  # alpha controlled towards a mean length (dual_alpha.py)
            self.add_callback(
                DualAlphaCallback(
                    args.length_penalty_alpha, args.target_mean_tokens, args.length_penalty_alpha_step_size,
                    args.length_penalty_alpha_max,
                )
            )  # fmt: skip
        # The token ids that close the thinking block, for length_penalty_measure="thinking".
        self._think_end_ids = think_end_ids(self._tokenizer)

    def save_model(self, output_dir: str | None = None, _internal_call: bool = False) -> None:
        """TRL's `save_model`, then beside the weights: the training log (trainer_state.json, which
        efficient_trl.analysis reads; in a checkpoint-N/ Trainer writes it itself) and, last, provenance.json
        (`self.provenance`, with the step reached). `self.provenance` is the `provenance` given to the constructor
        (the recipes and experiments give `provenance.training_provenance`'s, which names the data), else what the
        trainer knows: the method, its config, the start model, the dataset's size (its name when `datasets` kept
        one)."""
        super().save_model(output_dir, _internal_call)
        if not self.is_world_process_zero():
            return
        output_dir = Path(output_dir or self.args.output_dir)
        if not _internal_call:
            self.state.save_to_json(str(output_dir / "trainer_state.json"))
        if self.provenance is None:
            self.provenance = self._own_provenance()
        record = {**self.provenance, "global_step": self.state.global_step}
        dual_alpha = self._dual_alpha()
        if dual_alpha is not None and record.get("length_reward"):  # alpha was controlled: where it ended
            record["length_reward"] = {**record["length_reward"], "final_alpha": dual_alpha.alpha}
        write_provenance(output_dir, record)

    def _dual_alpha(self) -> DualAlphaCallback | None:
        # Looked up each time: Trainer replaces the instance when it restores callbacks from a checkpoint.
        return next((cb for cb in self.callback_handler.callbacks if isinstance(cb, DualAlphaCallback)), None)

    def _own_provenance(self) -> dict[str, Any]:
        dataset = self.train_dataset
        name = getattr(getattr(dataset, "info", None), "dataset_name", None)
        data = {
            "dataset": None if name in GENERIC_BUILDERS else name,  # a hub set's name; not "json" for a local file
            "num_problems": len(dataset) if isinstance(dataset, Dataset) else None,
            "prompt_template": None,  # the prompts came finished
        }
        return training_provenance(self._provenance_kind, self.args, self._base_model, data, lora=self._lora)

    def _num_generations(self) -> int:
        return self.num_generations if self.model.training else self.num_generations_eval

    def _calculate_rewards(self, inputs, prompts, completions, completion_ids_list):
        rewards_per_func = super()._calculate_rewards(inputs, prompts, completions, completion_ids_list)
        device = rewards_per_func.device
        terminators = {*self.eos_token_ids, self._tokenizer.pad_token_id}
        lengths = torch.tensor([len(ids) for ids in completion_ids_list], device=device)
        measured = torch.tensor([self._penalized_length(ids) for ids in completion_ids_list], device=device)
        truncated = torch.tensor([not ids or ids[-1] not in terminators for ids in completion_ids_list], device=device)
        lengths, measured = self.accelerator.gather(lengths), self.accelerator.gather(measured)
        truncated = self.accelerator.gather(truncated)

        correctness = rewards_per_func[:, self.correctness_index].clone()  # kept unpenalized for the metrics
        scored = ~correctness.isnan()  # None from the reward function: not applicable, left as TRL treats it
        if not torch.isin(correctness[scored], torch.tensor([0.0, 1.0], device=device)).all():
            name = self.reward_func_names[self.correctness_index]
            raise ValueError(
                f"the correctness reward function {name} returned values other than 0 and 1 "
                f"({correctness[scored].unique()[:5].tolist()}); the length reward needs a binary signal. Make it "
                "binary, or set correctness_reward_func to the name of the binary one."
            )
        correct = (correctness == 1) & ~truncated  # a truncated answer never counts as correct
        tokenizer, marker = self._tokenizer, self._think_end_ids
        no_think = torch.tensor([opens_without_thinking(ids, tokenizer, marker) for ids in completion_ids_list])
        no_think = self.accelerator.gather(no_think.to(device))
        num_generations = self._num_generations()
        if num_generations >= 2:
            per_completion = self._gathered_dataset_inputs(inputs, device)
            per_completion.update(self._gathered_completion_inputs(completions, truncated, device))
            if "no_think" in completion_inputs(self._length_reward):  # AdaptThink's bonus for not thinking
                per_completion["no_think"] = no_think
            # The length penalty's warm-up (length_penalty_warmup_steps) counts the optimizer steps done so far.
            warmup = penalty_warmup_steps(self.args.length_penalty_warmup_steps, self.state.max_steps)
            params, dual_alpha = self._length_reward_params, self._dual_alpha()
            if dual_alpha is not None:
                params = {**params, "alpha": dual_alpha.alpha}
            penalized = length_reward_at_step(
                self._length_reward, params, correct, measured, num_generations,
                step=self.state.global_step, warmup_steps=warmup, **per_completion,
            )  # fmt: skip
            if dual_alpha is not None:
                self._step_dual_alpha(dual_alpha, measured, penalty_on=self.state.global_step >= warmup)
        else:  # evaluation with one completion per prompt: no group to compare lengths with
            penalized = correct.float()
        rewards_per_func[:, self.correctness_index] = torch.where(scored, penalized, correctness)
        self._task_rewards = (rewards_per_func * self.reward_weights.to(device)).nansum(dim=1)
        self._log_length_metrics(scored, correct, lengths, measured, penalized, num_generations)
        self._log_mode_metrics(no_think, scored, correct, lengths)
        return rewards_per_func

    def _gathered_dataset_inputs(self, inputs: list[dict[str, Any]], device: torch.device) -> dict[str, torch.Tensor]:
        """The length reward's per-completion dataset values (L1's budgets), from this process's rows (TRL passes one
        row per completion), gathered from every process like the lengths."""
        gathered = {}
        for argument, column in dataset_inputs(self._length_reward).items():
            values = [row.get(column) for row in inputs]
            if any(value is None for value in values):
                raise ValueError(
                    f"length_reward={self._length_reward!r} needs a {column!r} value in every dataset row; some "
                    "rows have none."
                )
            gathered[argument] = self.accelerator.gather(torch.tensor(values, device=device))
        return gathered

    def _gathered_completion_inputs(
        self, completions: list[Any], truncated: torch.Tensor, device: torch.device
    ) -> dict[str, torch.Tensor]:
        """The length reward's inputs read from the completions (`length_rewards.COMPLETION_INPUTS`): `answered`, a
        final boxed answer where the grader reads it in a completion not cut at the token limit; from this
        process's completions, gathered from every process."""
        if "answered" not in completion_inputs(self._length_reward):
            return {}
        texts = [c if isinstance(c, str) else c[-1]["content"] for c in completions]  # text, or chat turns
        answered = torch.tensor([final_answer(text) is not None for text in texts], device=device)
        return {"answered": self.accelerator.gather(answered) & ~truncated}

    def _penalized_length(self, completion_ids: list[int]) -> int:
        """LEN(z) of the length reward: every token, or (length_penalty_measure="thinking") the tokens before
        `</think>`."""
        if self.args.length_penalty_measure == "completion":
            return len(completion_ids)
        return thinking_length(completion_ids, self._think_end_ids)

    def _step_dual_alpha(self, dual_alpha: DualAlphaCallback, measured: torch.Tensor, penalty_on: bool) -> None:
        """Log the alpha this batch was rewarded with and its mean length against the target; in training, once the
        penalty's warm-up is over, take alpha's dual-ascent step for the next batch.

        The mean is over every completion of the gathered batch (the same on every process), wrong and truncated
        ones included: the target is the mean length a user reads in evaluation, over all answers. The correct ones'
        mean would move with which prompts happen to be solved (hard prompts are long and solved less often)."""
        mean = measured.float().mean().item()
        self._log_metric("efficiency/alpha", dual_alpha.alpha)
        self._log_metric("efficiency/mean_penalized_tokens", mean)
        self._log_metric("efficiency/target_gap", (mean - dual_alpha.target) / dual_alpha.target)
        if self.model.training and penalty_on:
            dual_alpha.update(mean)

    def _log_length_metrics(self, scored, correct, lengths, measured, penalized, num_generations) -> None:
        # Every process holds the same gathered tensors, so each logs the same values.
        if scored.any():  # correct and not truncated, as in evaluation
            self._log_metric("efficiency/accuracy", correct[scored].float().mean().item())
        if correct.any():
            self._log_metric("efficiency/correct_mean_tokens", lengths[correct].float().mean().item())
            if self.args.length_penalty_measure == "thinking":  # what the length reward measured
                self._log_metric("efficiency/correct_mean_thinking_tokens", measured[correct].float().mean().item())
            # 1 - the length reward of the correct completions: alpha * sigmoid(z) for the paper's reward
            self._log_metric("efficiency/length_penalty", (1.0 - penalized[correct]).mean().item())
        if num_generations >= 2:
            correct_per_group = correct.view(-1, num_generations).sum(dim=1)
            self._log_metric("efficiency/groups_0_correct", (correct_per_group == 0).float().mean().item())
            self._log_metric("efficiency/groups_1_correct", (correct_per_group == 1).float().mean().item())
            self._log_metric("efficiency/groups_2plus_correct", (correct_per_group >= 2).float().mean().item())

    def _log_mode_metrics(self, no_think, scored, correct, lengths) -> None:
        # The share answered without thinking (thinking.without_thinking), and each mode's accuracy (over its scored
        # completions) and mean tokens, logged only when the step has completions of that mode: TRL averages each
        # name over the values logged, so a mode absent from a step leaves no value rather than a NaN.
        self._log_metric("efficiency/no_think_rate", no_think.float().mean().item())
        for mode, in_mode in (("think", ~no_think), ("no_think", no_think)):
            if (in_mode & scored).any():
                self._log_metric(f"efficiency/{mode}/accuracy", correct[in_mode & scored].float().mean().item())
            if in_mode.any():
                self._log_metric(f"efficiency/{mode}/mean_tokens", lengths[in_mode].float().mean().item())

    def _trl_advantages_to_rloo(self, advantages: torch.Tensor, num_generations: int) -> torch.Tensor:
        return advantages

    def _generate_and_score_completions(self, inputs):
        output = self._trl_generate_and_score(inputs)
        num_generations = self._num_generations()
        if num_generations < 2:
            return output
        local = output["advantages"]
        mask = output["completion_mask"] * output.get("tool_mask", 1)  # the tokens TRL's loss counts
        advantages = self._trl_advantages_to_rloo(self.accelerator.gather(local), num_generations)
        start = self.accelerator.process_index * local.shape[0]
        kl = self._log_kl_penalty(output, mask)
        if self.args.kl_in_reward:
            output["advantages"] = self._token_advantages(advantages[start : start + local.shape[0]], kl, mask)
            token_means = (output["advantages"] * mask).sum(1) / mask.sum(1).clamp(min=1)
            self._replace_logged_advantages(self.accelerator.gather(token_means))
            return output
        advantages = normalize_advantages(
            advantages,
            self._task_rewards,
            num_generations,
            self.args.advantage_normalization,
            completion_lengths=self.accelerator.gather(mask.sum(1)),
        )
        output["advantages"] = advantages[start : start + local.shape[0]]
        self._replace_logged_advantages(advantages)
        return output

    def _trl_generate_and_score(self, inputs):
        if not self.args.kl_in_reward:
            return super()._generate_and_score_completions(inputs)
        self.beta = self.args.beta  # TRL computes the reference log-probs only when beta != 0 ...
        try:
            return super()._generate_and_score_completions(inputs)
        finally:
            self.beta = 0.0  # ... and adds its own KL term to the loss only when beta != 0 (see the contract)

    def _log_kl_penalty(self, output: dict[str, Any], mask: torch.Tensor) -> torch.Tensor | None:
        """The per-token k1 KL of the sampling policy against the reference, where TRL computed both, and its
        sequence total times beta, averaged over the gathered batch, as `efficiency/kl_penalty`: what the authors'
        placement subtracts from a completion's return, to set beside efficiency/length_penalty."""
        old, ref = output.get("old_per_token_logps"), output.get("ref_per_token_logps")
        if old is None or ref is None:
            return None
        kl = (old - ref) * mask
        per_sequence = self.accelerator.gather(self.args.beta * kl.sum(1))
        mode = "train" if self.model.training else "eval"
        self._metrics[mode]["efficiency/kl_penalty"].append(per_sequence.mean().item())
        return kl

    def _token_advantages(self, advantages: torch.Tensor, kl: torch.Tensor | None, mask: torch.Tensor) -> torch.Tensor:
        """kl_in_reward: this process's (B, T) advantages, the RLOO advantage minus beta * the k1 KL from each token
        on, whitened over the tokens of every process with "batch_token"."""
        if kl is None:  # the config checks that TRL keeps both log-probs; a TRL change would land here
            raise RuntimeError(
                "kl_in_reward needs TRL's old_per_token_logps and ref_per_token_logps, which this generation batch "
                "lacks; see the TRL contract block in efficient_trl/trainers.py."
            )
        tokens = (advantages[:, None] - self.args.beta * kl_returns(kl, mask)) * mask
        if self.args.advantage_normalization == "batch_token":
            tokens = whiten_tokens(tokens, mask, sum_across=lambda t: self.accelerator.reduce(t, reduction="sum"))
        return tokens

    def _replace_logged_advantages(self, advantages: torch.Tensor) -> None:
        # TRL logged its own advantages for the completions table just before; show the ones actually trained on.
        logged = getattr(self, "_logs", {}).get("advantages")
        if logged is not None and len(logged) >= advantages.numel():
            for _ in range(advantages.numel()):
                logged.pop()
            logged.extend(advantages.tolist())


class _NoThinkSamplingMixin:
    """AdaptThink's importance sampling, `forced_no_think_share` (efficient_trl/no_think_sampling.py): in training,
    that share of each prompt's rollouts is generated after the task's no-thinking opening (appended to the prompt
    ids that TRL's `_generate_single_turn` samples from, then moved to the completion's start), and the old
    log-probs that the loss's ratio divides by get the importance-sampling distribution's probability for the
    opening, after the efficient trainers have read them (their KL metric and `kl_in_reward` see the policy's)."""

    _no_think_openings: list[list[int]] | None = None  # this generation batch's openings, per local rollout

    def _generate_single_turn(self, prompt_ids, *args, **kwargs):
        share = self.args.forced_no_think_share
        self._no_think_openings = None
        if not share or not self.model.training:  # evaluation samples the policy as it is
            return super()._generate_single_turn(prompt_ids, *args, **kwargs)
        if getattr(self, "tools", None):
            raise ValueError("forced_no_think_share forces the first turn's opening; it does not support tools.")
        openings = [no_think_opening(list(ids), self._tokenizer) for ids in prompt_ids]
        first_row = self.accelerator.process_index * len(prompt_ids)
        forced = forced_rows(len(prompt_ids), first_row, self.num_generations, share)
        prompts = [
            list(ids) + opening if f else ids for ids, opening, f in zip(prompt_ids, openings, forced, strict=True)
        ]
        result = super()._generate_single_turn(prompts, *args, **kwargs)
        completions, logprobs = result if isinstance(result, tuple) else (result, None)  # GRPO's has vLLM's logprobs
        limit = self.max_completion_length  # the opening counts, as the authors' max_tokens - 1 after `</think>`
        rows = list(zip(openings, forced, strict=True))
        completions = [
            ((opening if f else []) + list(ids))[:limit] for (opening, f), ids in zip(rows, completions, strict=True)
        ]
        if logprobs is not None:  # the opening was not sampled: no sampling log-prob (TRL reads None as "none")
            logprobs = [([None] * len(o) if f else []) + list(lp) for (o, f), lp in zip(rows, logprobs, strict=True)]
            logprobs = [lp[:limit] for lp in logprobs]
        self._no_think_openings = openings
        return (completions, logprobs) if isinstance(result, tuple) else completions

    def _generate_and_score_completions(self, inputs):
        output = super()._generate_and_score_completions(inputs)
        openings, self._no_think_openings = self._no_think_openings, None
        if openings is None:
            return output
        completion_ids, mask = output["completion_ids"], output["completion_mask"]
        device = completion_ids.device
        opened = torch.tensor(
            [opens_with(ids.tolist(), o) for ids, o in zip(completion_ids, openings, strict=True)], device=device
        )
        lengths = torch.tensor([len(opening) for opening in openings], device=device)
        share = self.args.forced_no_think_share
        if "old_logps" in output:  # RLOO: the sampling policy's summed log-prob; only the opening's tokens change
            old = self._policy_logps(output, min(int(lengths.max()), completion_ids.shape[1]))
            corrected = importance_sampled_logps(old, opened, lengths, share)
            output["old_logps"] = output["old_logps"] + ((corrected - old) * mask[:, : old.shape[1]]).sum(1)
        else:  # GRPO: per-token; TRL keeps none when the batch is used within one optimizer step
            old = output.get("old_per_token_logps")
            old = self._policy_logps(output, completion_ids.shape[1]) if old is None else old
            output["old_per_token_logps"] = importance_sampled_logps(old, opened, lengths, share)
        # The old policy's probability of opening without thinking, over the rollouts that opened so (the authors'
        # adapt_think/first_eot_token_probs): it rises as the policy learns to choose not to think.
        positions = torch.arange(old.shape[1], device=device)
        in_opening = opened[:, None] & (positions[None, :] < lengths[:, None])
        # (gathered whole: every process must send a tensor of one shape)
        probability = self.accelerator.gather((old * in_opening).sum(1).exp())[self.accelerator.gather(opened)]
        mode = "train" if self.model.training else "eval"
        if probability.numel():
            self._metrics[mode]["efficiency/no_think_opening_prob"].append(probability.mean().item())
        return output

    def _policy_logps(self, output: dict[str, Any], num_tokens: int) -> torch.Tensor:
        """The sampling (current) policy's log-probs of the first `num_tokens` completion tokens, by TRL's own
        `_get_per_token_logps_and_entropies`, for the trainers whose output lacks them per token."""
        ids = torch.cat([output["prompt_ids"], output["completion_ids"][:, :num_tokens]], dim=1)
        attention = torch.cat([output["prompt_mask"], output["completion_mask"][:, :num_tokens]], dim=1)
        with torch.no_grad():
            logps, _, _ = self._get_per_token_logps_and_entropies(
                self.model, ids, attention, num_tokens, batch_size=self.args.per_device_train_batch_size
            )
        return logps


class _RolloutBudgetMixin:
    """Thinking budgets inside training rollouts (`rollout_thinking_budget`, or each prompt's `rollout_budget_column`),
    by budget forcing (`sampling.force_thinking_budget`, evaluation's too) around TRL's `_generate_single_turn`.

    Phase 1 samples every rollout with the token limit lowered to the largest budget of the generation batch (over
    every process) plus the tokens of `</think>`, so that a rollout that closes its thinking exactly at its budget is
    seen closed. A rollout that closed `</think>` within its budget b (or ended) is kept as sampled; one whose thinking
    ran past b becomes its first b tokens + `</think>` + `rollout_answer_cue`; phase 2 samples, for these and for the
    rollouts that closed within budget but are unfinished, the rest on prompt + prefix within what is left of
    max_completion_length (sampled to the largest such remainder, each row cut at its own: autoregressive sampling
    cut afterwards is the same as stopping). A forced prefix that does not fit leaves the rollout truncated as
    sampled. Phase-1 tokens sampled past a row's budget and phase-2 tokens past a row's remainder are the compute
    wasted.

    The forced `</think>` + cue are masked from the loss (TRL's "tool_mask", see the contract block): the policy did
    not sample them, so a policy gradient on them is not the policy's, and with the outcome's advantage it would push
    the probability of closing exactly at the budget up or down by how an answer the policy did not choose to give
    fared. They stay in the completion as context (the attention) and in its length (the length reward counts what
    the user reads). With vLLM, their sampling log-probs are None, as TRL has for tokens it did not sample. Only in
    training (evaluation samples the policy as it is)."""

    _rollout_budget_list: list[int] | None = None  # this generation batch's budgets, per local rollout
    _rollout_forced: list[tuple[int, int]] | None = None  # (start, count) of each local rollout's forced tokens

    def _generate_and_score_completions(self, inputs):
        self._rollout_budget_list = self._rollout_budgets_of(inputs) if self.model.training else None
        self._rollout_forced = None
        try:
            output = super()._generate_and_score_completions(inputs)
        finally:
            self._rollout_budget_list = None
        forced, self._rollout_forced = self._rollout_forced, None
        if forced is None:
            return output
        mask = torch.ones_like(output["completion_mask"])
        for row, (start, count) in enumerate(forced):
            mask[row, start : start + count] = 0
        output["tool_mask"] = mask
        loss_mask = output["completion_mask"] * mask
        output["num_items_in_batch"] = self.accelerator.gather(loss_mask.sum()).sum()
        counts = self.accelerator.gather(torch.tensor([count for _, count in forced], device=mask.device))
        self._metrics["train"]["efficiency/rollout_forced_rate"].append((counts > 0).float().mean().item())
        self._metrics["train"]["efficiency/rollout_forced_tokens"].append(counts.float().mean().item())
        return output

    def _rollout_budgets_of(self, inputs: list[dict[str, Any]]) -> list[int] | None:
        """Each local rollout's thinking budget, from the config's one or the dataset column; None when off."""
        args = self.args
        if not args.rollout_budgets:
            return None
        if getattr(self, "tools", None) or getattr(self, "rollout_func", None) is not None:
            raise ValueError(
                "rollout budgets force the thinking of TRL's own single-turn rollouts; they support neither tools "
                "nor a rollout_func. Drop the rollout budget or the tools / rollout_func."
            )
        if args.rollout_thinking_budget is not None:
            return [args.rollout_thinking_budget] * len(inputs)
        budgets = [row.get(args.rollout_budget_column) for row in inputs]
        bad = [b for b in budgets if isinstance(b, bool) or not isinstance(b, int) or b < 1]
        if bad:
            raise ValueError(
                f"rollout_budget_column={args.rollout_budget_column!r} must hold a positive token count in every "
                f"row, found {bad[0]!r}. Fill the column (budgets.with_sampled_budgets writes one) or fix its values."
            )
        return budgets

    def _generate_single_turn(self, prompt_ids, images, multimodal_fields, num_generations, *args, **kwargs):
        budgets = self._rollout_budget_list
        if budgets is None:
            return super()._generate_single_turn(
                prompt_ids, images, multimodal_fields, num_generations, *args, **kwargs
            )
        if images is not None or multimodal_fields:
            raise ValueError("rollout budgets support text-only prompts; these rollouts have images.")
        if len(budgets) != len(prompt_ids):  # TRL passes one prompt per dataset row, in order
            raise RuntimeError(f"{len(budgets)} rollout budgets for {len(prompt_ids)} prompts; see the TRL contract.")
        limit, end, eos = self.max_completion_length, self._think_end_ids, set(self.eos_token_ids)
        cue = self._tokenizer(self.args.rollout_answer_cue, add_special_tokens=False)["input_ids"]
        phase_1 = min(limit, self._gathered_max(max(budgets) + len(end)))
        with self._sampling_limit(phase_1):
            completions, logprobs = super()._generate_single_turn(
                prompt_ids, images, multimodal_fields, num_generations, *args, **kwargs
            )
        rows = [
            force_thinking_budget(list(ids), bool(ids) and ids[-1] in eos, budget, limit, end, cue)
            for ids, budget in zip(completions, budgets, strict=True)
        ]
        todo = [j for j, row in enumerate(rows) if row.left]
        answers = self._continue_rollouts(
            [list(prompt_ids[j]) + rows[j].tokens for j in todo], [rows[j].left for j in todo], prompt_ids[0],
            images, multimodal_fields, num_generations, *args, **kwargs,
        )  # fmt: skip
        continued = dict(zip(todo, answers, strict=True))
        out_ids, out_logprobs, forced = [], [], []
        for j, row in enumerate(rows):
            answer, answer_logprobs = continued.get(j, ([], []))
            out_ids.append(row.tokens + answer)
            count = len(end) + len(cue) if row.forced else 0
            start = budgets[j] if row.forced else len(row.tokens)
            forced.append((start, count))
            if logprobs is not None:  # the kept prefix's own sampling log-probs; None where forced
                kept = logprobs[j][: min(start, len(row.tokens))]
                out_logprobs.append(list(kept) + [None] * count + list(answer_logprobs or [None] * len(answer)))
        self._rollout_forced = forced
        return out_ids, (out_logprobs if logprobs is not None else None)

    def _continue_rollouts(self, prompts, left, filler, images, multimodal_fields, num_generations, *args, **kwargs):
        """Phase 2: each of `prompts` (prompt + prefix) sampled on, cut at its `left` tokens; (ids, log-probs) each.
        Every process makes the call with as many rows (filler rows, whose output is dropped, make up the count) or,
        when no process has a row, none: generation may be collective (vLLM tensor parallelism, ZeRO-3)."""
        rows = self._gathered_max(len(prompts))
        if rows == 0:
            return []
        padded = prompts + [list(filler)] * (rows - len(prompts))
        with self._sampling_limit(self._gathered_max(max(left, default=1))):
            ids, logprobs = super()._generate_single_turn(
                padded, images, multimodal_fields, num_generations, *args, **kwargs
            )
        logprobs = logprobs if logprobs is not None else [None] * len(ids)
        return [(list(ids[j])[: left[j]], None if logprobs[j] is None else list(logprobs[j])[: left[j]])
                for j in range(len(prompts))]  # fmt: skip

    def _gathered_max(self, value: int) -> int:
        """The largest of `value` over every process (the same generation call on each)."""
        return int(self.accelerator.gather(torch.tensor([value], device=self.accelerator.device)).max())

    @contextmanager
    def _sampling_limit(self, limit: int):
        """TRL's token limit of a generation call set to `limit` for the block (see the contract block)."""
        holder, name = (self.vllm_generation, "max_completion_length") if self.use_vllm else (
            self.generation_config, "max_new_tokens")  # fmt: skip
        before = getattr(holder, name)
        setattr(holder, name, limit)
        try:
            yield
        finally:
            setattr(holder, name, before)


def length_groups(completion_mask: torch.Tensor, groups: int) -> list[tuple[torch.Tensor, int]]:
    """The rows of a batch in `groups` groups of similar completion length (fewer when there are fewer rows), as
    (row indices, width): the group's longest completion, counted to each row's last unmasked token (at least 1)."""
    positions = torch.arange(1, completion_mask.size(1) + 1, device=completion_mask.device)
    widths = (completion_mask.bool() * positions).amax(dim=1).clamp(min=1)
    order = torch.argsort(widths, stable=True)
    return [(rows, int(widths[rows].max())) for rows in order.chunk(min(groups, len(order)))]


class _LengthGroupedPassMixin:
    """`logprob_length_groups`: each log-probability pass runs as TRL's, on groups of rows of similar completion
    length, each cut to its longest completion (TRL pads every row to the batch's longest). Right padding is all
    that is cut: the prompts keep their left padding, so every token keeps its position and its causal context, and
    the numbers differ from TRL's by float noise only (the matmuls have other shapes).
    Positions past a group's width get log-probability (and entropy) 0, under a completion mask of 0."""

    def _get_per_token_logps_and_entropies(
        self, model, input_ids, attention_mask, logits_to_keep, batch_size=None, compute_entropy=False,
        compute_aux_loss=False, **model_inputs,
    ):  # fmt: skip
        groups = self.args.logprob_length_groups
        if groups == 1 or compute_aux_loss or any(value is not None for value in model_inputs.values()):
            return super()._get_per_token_logps_and_entropies(
                model, input_ids, attention_mask, logits_to_keep, batch_size=batch_size,
                compute_entropy=compute_entropy, compute_aux_loss=compute_aux_loss, **model_inputs,
            )  # fmt: skip
        prompt_width = input_ids.size(1) - logits_to_keep
        logps = entropies = None
        for rows, width in length_groups(attention_mask[:, prompt_width:], groups):
            group_logps, group_entropies, _ = super()._get_per_token_logps_and_entropies(
                model, input_ids[rows, : prompt_width + width], attention_mask[rows, : prompt_width + width], width,
                batch_size=batch_size, compute_entropy=compute_entropy,
            )  # fmt: skip
            if logps is None:
                logps = group_logps.new_zeros(input_ids.size(0), logits_to_keep)
                entropies = group_logps.new_zeros(input_ids.size(0), logits_to_keep) if compute_entropy else None
            logps[rows, :width] = group_logps
            if compute_entropy:
                entropies[rows, :width] = group_entropies
        return logps, entropies, None


class EfficientRLOOTrainer(_NoThinkSamplingMixin, _LengthPenaltyMixin, _LengthGroupedPassMixin, RLOOTrainer):
    """`trl.RLOOTrainer` with a length reward in place of correctness: by default the paper's ("sigmoid"), from
    "Training Language Models to Reason Efficiently".

    Takes the same arguments as `RLOOTrainer`, with an `EfficientRLOOConfig`; `reward_funcs` defaults to
    `math_accuracy_reward`; `provenance` (optional) is what `save_model` records in provenance.json. TRL's RLOO
    clips the sequence-level importance ratio and puts the KL term in the reward.
    """

    _config_class = EfficientRLOOConfig
    _provenance_kind = "rloo"


class EfficientGRPOTrainer(
    _NoThinkSamplingMixin, _LengthPenaltyMixin, _RolloutBudgetMixin, _LengthGroupedPassMixin, GRPOTrainer
):
    """`trl.GRPOTrainer` with a length reward (by default the paper's, "sigmoid") and exact RLOO advantages (per-token
    PPO clipping).

    Takes the same arguments as `GRPOTrainer`, with an `EfficientGRPOConfig`; `reward_funcs` defaults to
    `math_accuracy_reward`; `provenance` (optional) is what `save_model` records in provenance.json. GRPO's
    centred reward `R_i - mean_j R_j` is scaled by G / (G - 1), which makes it exactly the leave-one-out advantage
    `R_i - mean_{j != i} R_j`.
    """

    _config_class = EfficientGRPOConfig
    _provenance_kind = "grpo"

    def _trl_advantages_to_rloo(self, advantages: torch.Tensor, num_generations: int) -> torch.Tensor:
        return advantages * num_generations / (num_generations - 1)
