"""Training arguments of the efficient trainers: TRL's RLOO/GRPO configs plus the length reward's own fields."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

from trl import GRPOConfig, RLOOConfig

from .budgets import check_rollout_thinking_budget
from .length_rewards import AS_PUBLISHED, LENGTH_REWARDS, penalty_warmup_steps, resolve_length_reward
from .rewards import ADVANTAGE_NORMALIZATIONS
from .sampling import FORCED_ANSWER_CUE

__all__ = [
    "LENGTH_PENALTY_MEASURES",
    "EfficientGRPOConfig",
    "EfficientRLOOConfig",
    "LengthGroupedPassArguments",
    "LengthPenaltyArguments",
    "NoThinkSamplingArguments",
    "RolloutBudgetArguments",
]

LENGTH_PENALTY_MEASURES = ("completion", "thinking")


def json_object(value: Any, name: str, example: str) -> Any:
    """A dict-valued field as the command line gives it, a JSON string (as TRL reads model_init_kwargs), parsed;
    any other value (a dict from YAML, None) as it is."""
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except json.JSONDecodeError as error:
        raise ValueError(f"{name} must be a JSON object, e.g. '{example}', got {value!r} ({error}).") from None


def _is_real(value: Any) -> bool:
    """A number a range can be checked on: an int or float, not a bool (YAML's `true` would pass as 1)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


@dataclass
class LengthPenaltyArguments:
    """Fields shared by both efficient configs (mixed into each, so one YAML file works with either trainer)."""

    length_penalty_alpha: float = field(
        default=0.0,
        metadata={
            "help": "alpha in [0, 1) of the paper's reward (length_reward 'sigmoid'): a correct completion earns "
            "1 - alpha * sigmoid(z), z being its length's z-score among the correct completions of the same prompt. "
            "0 trains on correctness alone; the paper sweeps 0.05, 0.1, 0.2 and 0.4. Other length rewards take "
            "their parameters from length_reward_kwargs."
        },
    )
    target_mean_tokens: float | None = field(
        default=None,
        metadata={
            "help": "A target mean length instead of a fixed alpha (length_reward 'sigmoid' only): after each "
            "training generation batch, alpha (starting at length_penalty_alpha) takes one projected dual-ascent "
            "step, alpha + length_penalty_alpha_step_size * (mean - target) / target clipped to [0, "
            "length_penalty_alpha_max], where mean is the batch's mean LEN over all its completions (tokens as "
            "length_penalty_measure counts them: every completion token, or the thinking tokens). Logged every step "
            "as efficiency/alpha, efficiency/mean_penalized_tokens and efficiency/target_gap ((mean - target) / "
            "target); alpha is saved with each checkpoint and restored on resume. None: alpha stays "
            "length_penalty_alpha."
        },
    )
    length_penalty_alpha_step_size: float = field(
        default=0.1,
        metadata={
            "help": "Step size of the dual ascent on alpha (with target_mean_tokens): a batch a tenth longer than the "
            "target raises alpha by 0.1 * this value."
        },
    )
    length_penalty_alpha_max: float = field(
        default=0.5,
        metadata={
            "help": "Upper bound of the controlled alpha (with target_mean_tokens), in (0, 1): below 1, a correct "
            "answer always earns more than a wrong one."
        },
    )
    advantage_normalization: str = field(
        default="none",
        metadata={
            "help": "How RLOO advantages are rescaled: 'none' (the paper's method), 'group' (divide by the std of the "
            "prompt's rewards: the paper's ablation, which makes the length push independent of alpha and collapses "
            "accuracy), 'batch' (whiten the per-sequence advantages over the batch, TRL's normalize_advantages: a "
            "pure rescale, since RLOO advantages have zero mean) or 'batch_token' (the authors' released OpenRLHF "
            "code: whiten all completion tokens of the generation batch, over every process, with their mean and "
            "population variance; the token-weighted mean is not zero, so every advantage also shifts by the same "
            "amount, which under loss_type 'grpo' favours shorter completions).",
            "choices": list(ADVANTAGE_NORMALIZATIONS),
        },
    )
    kl_in_reward: bool = field(
        default=False,
        metadata={
            "help": "Place the KL penalty as the authors' released code does (EfficientGRPOTrainer only): k1 = "
            "log pi_old - log pi_ref per token, subtracted from the token's reward, so token t's advantage is the "
            "RLOO advantage minus beta * the sum of k1 over tokens t..end, before advantage_normalization (which "
            "must be 'none' or 'batch_token'); the loss then has no KL term. Needs beta > 0 and TRL's log-"
            "probabilities of the sampling policy, which it keeps when steps_per_generation * num_iterations does "
            "not divide gradient_accumulation_steps (as in the recipes) or with vLLM's importance-sampling "
            "correction. False: TRL's k3 estimate added to the loss (GRPO).",
        },
    )
    length_penalty_measure: str = field(
        default="completion",
        metadata={
            "help": "What LEN(z) counts: 'completion' (every completion token, EOS included: the paper's) or "
            "'thinking' (the completion tokens before `</think>`; a completion without `</think>` counts whole).",
            "choices": list(LENGTH_PENALTY_MEASURES),
        },
    )
    length_reward: str = field(
        default="sigmoid",
        metadata={
            "help": "Which length reward replaces the correctness reward, from efficient_trl.LENGTH_REWARDS: "
            "'sigmoid' is the paper's reward (efficient_trl.rewards.length_penalized_rewards, alpha = "
            "length_penalty_alpha); the others ("
            + ", ".join(list(LENGTH_REWARDS)[1:])
            + ") are other papers', documented in efficient_trl/length_rewards.py. All are computed per prompt "
            "over the completions gathered from every process.",
            "choices": list(LENGTH_REWARDS),
        },
    )
    length_reward_kwargs: dict[str, Any] | str | None = field(
        default=None,
        metadata={
            "help": "Parameters of the chosen length reward, overriding its paper's defaults: a dict in YAML, or a "
            "JSON string on the command line, e.g. '{\"weight\": 0.5}' for kimi. The paper's reward ('sigmoid') "
            "takes its alpha from length_penalty_alpha, not from here."
        },
    )
    correctness_reward_func: str | None = field(
        default=None,
        metadata={
            "help": "Name (`__name__`) of the reward function whose output is the binary correctness signal that "
            "the length reward is computed from. Defaults to the first reward function."
        },
    )
    length_penalty_warmup_steps: float = field(
        default=0.0,
        metadata={
            "help": "Optimizer steps at the start of training without the length penalty (the binary correctness "
            "reward instead), as Kimi k1.5 trains: an integer, or a float in [0, 1) for that share of the steps (as "
            "warmup_steps reads). 0: the penalty from the first step."
        },
    )
    reward_as_published: bool = field(
        default=False,
        metadata={
            "help": "Train the chosen length reward as its authors did: advantage_normalization and "
            "length_penalty_warmup_steps take the values efficient_trl.length_rewards.AS_PUBLISHED records for it "
            "(e.g. 'group' for the rewards trained with verl's GRPO, a warm-up for kimi; each with where it was "
            "read). Setting either field to another value as well is an error. False: the fields as given (the "
            "common setting of the comparison: no normalization, no warm-up)."
        },
    )

    def _check_length_penalty_arguments(self) -> None:
        alpha = self.length_penalty_alpha
        if not (isinstance(alpha, (int, float)) and 0.0 <= alpha < 1.0):
            raise ValueError(
                f"length_penalty_alpha must be in [0, 1), got {alpha!r}: at 1 the longest correct answer would earn "
                "no more than a wrong one. The paper uses 0.05 to 0.4."
            )
        self._check_length_target()
        if self.length_penalty_measure not in LENGTH_PENALTY_MEASURES:
            raise ValueError(
                f"length_penalty_measure must be one of {LENGTH_PENALTY_MEASURES}, got "
                f"{self.length_penalty_measure!r}."
            )
        if self.advantage_normalization not in ADVANTAGE_NORMALIZATIONS:
            raise ValueError(
                f"advantage_normalization must be one of {ADVANTAGE_NORMALIZATIONS}, got "
                f"{self.advantage_normalization!r}."
            )
        self.length_reward_kwargs = json_object(self.length_reward_kwargs, "length_reward_kwargs", '{"weight": 0.5}')
        if self.length_reward_kwargs is not None and not isinstance(self.length_reward_kwargs, dict):
            raise ValueError(
                f"length_reward_kwargs must be a dict of parameter names to values, got {self.length_reward_kwargs!r}."
            )
        self.resolved_length_reward()  # unknown names, parameters or values fail at construction
        if self.reward_as_published:
            self._take_published_training()
        penalty_warmup_steps(self.length_penalty_warmup_steps, 1)  # a negative or non-numeric warm-up fails here
        if self.kl_in_reward and self.advantage_normalization not in ("none", "batch_token"):
            raise ValueError(
                f"kl_in_reward gives every token its own advantage, which advantage_normalization="
                f"{self.advantage_normalization!r} (one value per sequence) cannot rescale: use 'batch_token' (the "
                f"authors' code) or 'none'{' (reward_as_published set it)' if self.reward_as_published else ''}."
            )

    def _check_length_target(self) -> None:
        """target_mean_tokens and its dual ascent's fields: a positive target, on the paper's reward, with a step size
        > 0 and an alpha_max in (0, 1) at least the starting alpha."""
        target = self.target_mean_tokens
        if target is None:
            return
        if not _is_real(target) or not 0 < target < math.inf:
            raise ValueError(
                f"target_mean_tokens must be a positive number of tokens (the mean length to train towards), got "
                f"{target!r}; leave it None to train at a fixed length_penalty_alpha."
            )
        if self.length_reward != "sigmoid":
            raise ValueError(
                f"target_mean_tokens adjusts the paper's alpha (length_reward 'sigmoid'), but length_reward="
                f"{self.length_reward!r}: set length_reward='sigmoid', or drop target_mean_tokens and set "
                f"{self.length_reward}'s own parameters in length_reward_kwargs."
            )
        step = self.length_penalty_alpha_step_size
        if not _is_real(step) or not 0 < step < math.inf:
            raise ValueError(f"length_penalty_alpha_step_size must be a positive number, got {step!r}.")
        alpha_max = self.length_penalty_alpha_max
        if not _is_real(alpha_max) or not 0 < alpha_max < 1:
            raise ValueError(
                f"length_penalty_alpha_max must be in (0, 1), got {alpha_max!r}: at 1 the longest correct answer "
                "would earn no more than a wrong one."
            )
        if self.length_penalty_alpha > alpha_max:
            raise ValueError(
                f"length_penalty_alpha={self.length_penalty_alpha!r}, the starting alpha of the target's dual ascent, "
                f"is above length_penalty_alpha_max={alpha_max!r}: lower it or raise length_penalty_alpha_max."
            )

    def _take_published_training(self) -> None:
        """Set the fields `reward_as_published` decides to the chosen reward's `AS_PUBLISHED` values; a field the
        user set to a third value is an error naming both."""
        published = AS_PUBLISHED[self.length_reward]
        for name, value in (
            ("advantage_normalization", published.normalization),
            ("length_penalty_warmup_steps", published.warmup),
        ):
            given, default = getattr(self, name), self.__dataclass_fields__[name].default
            if given not in (default, value):
                raise ValueError(
                    f"reward_as_published=True sets {name} to {value!r}, as the authors of length_reward="
                    f"{self.length_reward!r} trained, but {name}={given!r} is given too: drop one of the two."
                )
            setattr(self, name, value)

    def resolved_length_reward(self) -> tuple[str, dict[str, Any]]:
        """The chosen length reward's registry name and every parameter it is called with (defaults included)."""
        return resolve_length_reward(self.length_reward, self.length_reward_kwargs, self.length_penalty_alpha)


@dataclass
class NoThinkSamplingArguments:
    """AdaptThink's importance sampling (efficient_trl/no_think_sampling.py), a field of both efficient configs."""

    forced_no_think_share: float = field(
        default=0.0,
        metadata={
            "help": "Share in [0, 1] of each prompt's training rollouts forced to open without thinking (with "
            "`</think>` after a prompt that pre-fills `<think>`, else with `<think></think>`), the importance "
            "sampling of AdaptThink (arXiv:2505.13417; the authors force half: 0.5), for length_reward "
            "'adapt_think'; the loss replaces the old policy's probability of the opening by the sampling "
            "distribution's. Evaluation is never forced. 0: off. Not with vllm_mode 'server', which samples a "
            "prompt's rollouts in one request."
        },
    )

    def _refuse_vllm_server(self, needs: str) -> None:
        """Refuse TRL's vllm_mode 'server' for a feature that sends each rollout on its own (`needs` says which)."""
        if self.use_vllm and self.vllm_mode == "server":
            raise ValueError(
                f"{needs}, which TRL's vllm_mode='server' does not do (it samples a prompt's rollouts in one "
                "request): use vllm_mode='colocate'."
            )

    def _check_no_think_sampling(self) -> None:
        share = self.forced_no_think_share
        if not _is_real(share) or not 0.0 <= share <= 1.0:
            raise ValueError(f"forced_no_think_share must be a share in [0, 1] (0: off), got {share!r}.")
        if share > 0:
            self._refuse_vllm_server("forced_no_think_share needs each rollout's prompt sent on its own")


@dataclass
class RolloutBudgetArguments:
    """Thinking budgets enforced inside training rollouts (budget forcing, as evaluation's `thinking_budget`), a field
    of both efficient configs; EfficientGRPOTrainer implements it (see `_RolloutBudgetMixin` in trainers.py)."""

    rollout_thinking_budget: int | None = field(
        default=None,
        metadata={
            "help": "A thinking budget for every training rollout: a rollout that has not closed `</think>` within "
            "this many tokens has its thinking cut there, `</think>` and rollout_answer_cue appended, and goes on to "
            "its answer, within max_completion_length in all (one without room for them is left truncated). The "
            "appended tokens, which the policy did not sample, are masked from the loss. Evaluation is never "
            "forced. None: off. At most one of rollout_thinking_budget and rollout_budget_column."
        },
    )
    rollout_budget_column: str | None = field(
        default=None,
        metadata={
            "help": "A dataset column holding each prompt's thinking budget (e.g. 'budget', the column L1's prompts "
            "and the l1_exact / l1_max rewards use), enforced in its training rollouts as rollout_thinking_budget "
            "enforces one budget. None: off."
        },
    )
    rollout_answer_cue: str = field(
        default=FORCED_ANSWER_CUE,
        metadata={
            "help": "Text appended after a forced `</think>` in a training rollout, so that the model answers at once "
            "(evaluation's answer_cue by default)."
        },
    )

    @property
    def rollout_budgets(self) -> bool:
        """Whether training rollouts are generated under a thinking budget."""
        return self.rollout_thinking_budget is not None or self.rollout_budget_column is not None

    def _check_rollout_budgets(self) -> None:
        budget, column = self.rollout_thinking_budget, self.rollout_budget_column
        if budget is not None and column is not None:
            raise ValueError(
                f"rollout_thinking_budget={budget!r} and rollout_budget_column={column!r} are both set: give one "
                "budget for every rollout, or each prompt's from a column, not both."
            )
        check_rollout_thinking_budget(budget, self.max_completion_length)
        if column is not None and (not isinstance(column, str) or not column):
            raise ValueError(f"rollout_budget_column must name a dataset column, e.g. 'budget', got {column!r}.")
        if not self.rollout_budgets:
            return
        if not isinstance(self.rollout_answer_cue, str):
            raise ValueError(f"rollout_answer_cue must be a string, got {self.rollout_answer_cue!r}.")
        self._refuse_vllm_server("rollout budgets continue each forced rollout on its own")
        if self.forced_no_think_share:
            raise ValueError(
                "rollout budgets and forced_no_think_share both rewrite the training rollouts, and are not combined: "
                "a forced no-thinking rollout has no thinking to budget. Set forced_no_think_share=0 or drop the "
                "rollout budget."
            )


@dataclass
class LengthGroupedPassArguments:
    """Log-probability passes over rows of similar completion length, a field of both efficient configs
    (`_LengthGroupedPassMixin` in trainers.py)."""

    logprob_length_groups: int = field(
        default=1,
        metadata={
            "help": "Split each log-probability pass over a batch (the policy's forward and backward, the reference "
            "model's, the sampling policy's) into this many groups of rows of similar completion length, each cut "
            "to its own longest completion instead of the batch's longest: the same log-probabilities up to float "
            "noise (a row's causal forward sees the same tokens at the same positions), less compute on padding. "
            "Each group is still split by TRL's batch size. 1: TRL's single pass padded to the batch's longest "
            "completion. The CPU experiments use 4 (README, Benchmarks). Not with image inputs or MoE "
            "load-balancing losses, which take TRL's pass."
        },
    )

    def _check_logprob_length_groups(self) -> None:
        groups = self.logprob_length_groups
        if not isinstance(groups, int) or isinstance(groups, bool) or groups < 1:
            raise ValueError(
                f"logprob_length_groups must be a whole number of groups, at least 1 (1: TRL's single padded pass), "
                f"got {groups!r}."
            )


@dataclass
class _ActivationCheckpointingDefault:
    """TRL's default, activation checkpointing on, under transformers 5's name.

    TRL 1.16 defaults the deprecated `gradient_checkpointing` to True, so transformers warns (FutureWarning) on every
    config built, whatever the user writes. Here both names start unset and `activation_checkpointing` becomes True
    when neither is given: the same setting, and the old name warns only where a user writes it.
    """

    activation_checkpointing: bool | None = field(
        default=None,
        metadata={
            "help": "Recompute each layer's activations in the backward pass instead of keeping them (less memory, "
            "more compute). Unset, with gradient_checkpointing unset too: on (TRL's default).",
            "nargs": "?",
            "const": True,
        },
    )
    gradient_checkpointing: bool | None = field(
        default=None,
        metadata={
            "help": "Deprecated alias of activation_checkpointing (transformers 5), removed in transformers 6.",
            "nargs": "?",
            "const": True,
        },
    )

    def _default_activation_checkpointing(self) -> None:
        if self.activation_checkpointing is None and self.gradient_checkpointing is None:
            self.activation_checkpointing = True


_KL_HELP = (
    "KL coefficient against the reference (starting) model. The paper uses 1e-3. If 0, no reference model is loaded."
)


@dataclass
class EfficientRLOOConfig(
    LengthPenaltyArguments,
    NoThinkSamplingArguments,
    RolloutBudgetArguments,
    LengthGroupedPassArguments,
    _ActivationCheckpointingDefault,
    RLOOConfig,
):
    """`trl.RLOOConfig` for `EfficientRLOOTrainer`, with the paper's group size and KL coefficient as defaults.

    TRL's `normalize_advantages` is replaced by `advantage_normalization` and must stay False.
    """

    num_generations: int | None = field(
        default=8,
        metadata={"help": "Completions sampled per prompt (G). The paper uses 8."},
    )
    beta: float = field(default=1e-3, metadata={"help": _KL_HELP})

    def __post_init__(self):
        self._check_length_penalty_arguments()
        self._check_no_think_sampling()
        self._check_logprob_length_groups()
        self._default_activation_checkpointing()
        if self.normalize_advantages:
            raise ValueError(
                "EfficientRLOOConfig rescales advantages itself: leave normalize_advantages=False and set "
                "advantage_normalization='batch' for global whitening (or 'batch_token', the authors' token-level "
                "one)."
            )
        if self.kl_in_reward:
            raise ValueError(
                "kl_in_reward needs per-token advantages, which TRL's RLOO loss (one clipped ratio per sequence) does "
                "not take; TRL's RLOO already subtracts beta * the summed k1 KL from each sequence's reward. Use "
                "trainer grpo (EfficientGRPOConfig) for the authors' per-token placement."
            )
        if self.rollout_budgets:
            raise ValueError(
                "rollout budgets mask the appended `</think>` and answer cue, which the policy did not sample, from "
                "the loss; TRL's RLOO loss takes one log-probability sum per sequence and has no token mask for "
                "them. Use trainer grpo (EfficientGRPOConfig / EfficientGRPOTrainer), which masks them."
            )
        super().__post_init__()


@dataclass
class EfficientGRPOConfig(
    LengthPenaltyArguments,
    NoThinkSamplingArguments,
    RolloutBudgetArguments,
    LengthGroupedPassArguments,
    _ActivationCheckpointingDefault,
    GRPOConfig,
):
    """`trl.GRPOConfig` for `EfficientGRPOTrainer`: GRPO's per-token clipped loss with exact RLOO advantages.

    TRL's `scale_rewards` is replaced by `advantage_normalization` and must stay 'none'.
    """

    num_generations: int | None = field(
        default=8,
        metadata={"help": "Completions sampled per prompt (G). The paper uses 8."},
    )
    beta: float = field(default=1e-3, metadata={"help": _KL_HELP})
    loss_type: str = field(
        default="grpo",
        metadata={
            "help": "How per-token losses are averaged (TRL's choices). Default 'grpo': over each sequence's tokens, "
            "then over sequences, as the authors' OpenRLHF loss does (TRL's own default is 'dapo', a mean over all "
            "tokens of the batch, which weights long completions more)."
        },
    )
    vllm_importance_sampling_correction: bool = field(
        default=False,
        metadata={
            "help": "TRL's correction for the mismatch between vLLM's and the trainer's log-probabilities. Off by "
            "default: the authors' code has none, and TRL's default mode ('sequence_mask' at ratio 3) drops whole "
            "completions whose sequence-level ratio leaves [0, 3], which long completions do more often, so it "
            "would weight completions by length on top of the penalty. To turn it on, prefer "
            "vllm_importance_sampling_mode='token_truncate'."
        },
    )
    scale_rewards: str = field(
        default="none",
        metadata={
            "help": "Must stay 'none': the trainer turns GRPO's centred rewards into RLOO advantages and applies "
            "`advantage_normalization` itself."
        },
    )

    def __post_init__(self):
        self._check_length_penalty_arguments()
        self._check_no_think_sampling()
        self._check_rollout_budgets()
        self._check_logprob_length_groups()
        self._default_activation_checkpointing()
        if self.scale_rewards not in ("none", False):
            raise ValueError(
                f"EfficientGRPOConfig rescales advantages itself: leave scale_rewards='none' (got "
                f"{self.scale_rewards!r}) and use advantage_normalization='group' or 'batch' instead."
            )
        if self.multi_objective_aggregation != "sum_then_normalize":
            raise ValueError(
                "EfficientGRPOConfig needs multi_objective_aggregation='sum_then_normalize': the RLOO advantage is "
                "computed from the weighted sum of the rewards."
            )
        super().__post_init__()
        self._check_kl_in_reward()

    def _check_kl_in_reward(self) -> None:
        """kl_in_reward needs a KL coefficient and the sampling policy's log-probabilities, which TRL computes only
        when a generation batch outlives one optimizer step (or for vLLM's importance sampling)."""
        if not self.kl_in_reward:
            return
        if self.beta <= 0:
            raise ValueError(f"kl_in_reward needs beta > 0 (the KL coefficient), got beta={self.beta!r}.")
        generate_every = self.steps_per_generation * self.num_iterations
        keeps_old_logps = self.gradient_accumulation_steps % generate_every != 0 or (
            self.use_vllm and self.vllm_importance_sampling_correction
        )
        if not keeps_old_logps:
            raise ValueError(
                "kl_in_reward computes k1 from the log-probabilities of the policy that sampled, which TRL 1.16 keeps "
                "only when steps_per_generation * num_iterations does not divide gradient_accumulation_steps (here "
                f"{self.steps_per_generation} * {self.num_iterations} divides {self.gradient_accumulation_steps}). "
                "Set steps_per_generation to twice gradient_accumulation_steps (the recipes' two optimizer steps "
                "per generation batch), or num_iterations to 2."
            )
