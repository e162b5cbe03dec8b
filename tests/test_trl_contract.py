"""The TRL contract of efficient_trl/trainers.py (its commented block): every private TRL hook and attribute the
trainers touch still exists, with the signature we call. A failure names the TRL change to adapt to."""

import inspect

import pytest
import torch
import trl
from trl import GRPOConfig, GRPOTrainer, RLOOConfig, RLOOTrainer

from efficient_trl import EfficientGRPOConfig, EfficientGRPOTrainer, EfficientRLOOConfig, EfficientRLOOTrainer
from efficient_trl.synthetic import sum_problems
from efficient_trl.testing import TWO_TERM_SUMS

from .recording import even_token_sum

# Hook -> the parameters we override it with and call it with.
HOOKS = {
    "_calculate_rewards": ["self", "inputs", "prompts", "completions", "completion_ids_list"],
    "_generate_and_score_completions": ["self", "inputs"],
    "_log_metric": ["self", "name", "value"],
    "save_model": ["self", "output_dir", "_internal_call"],  # transformers' Trainer's, public
}
CONFIG_FIELDS = {GRPOConfig: ["scale_rewards", "multi_objective_aggregation"], RLOOConfig: ["normalize_advantages"]}


def broken(what: str, expected: str, got: str) -> str:
    return (
        f"TRL {trl.__version__} changed {what}: efficient_trl relies on {expected}, found {got}. Adapt "
        "efficient_trl/trainers.py (see its 'TRL contract' block) to the new TRL."
    )


@pytest.mark.parametrize("trl_class", [GRPOTrainer, RLOOTrainer], ids=["grpo", "rloo"])
@pytest.mark.parametrize("hook", sorted(HOOKS))
def test_hooks_keep_their_signature(trl_class, hook):
    method = getattr(trl_class, hook, None)
    assert method is not None, broken(f"{trl_class.__name__}.{hook}", "this method", "none")
    parameters = list(inspect.signature(method).parameters)
    assert parameters == HOOKS[hook], broken(f"{trl_class.__name__}.{hook}", f"parameters {HOOKS[hook]}", parameters)


# Where TRL's GRPO code does what kl_in_reward relies on (see the contract block): source fragments of each method.
GRPO_SOURCE = {
    "_generate_and_score_completions": [
        "if self.beta != 0.0:",  # reference log-probs computed only then
        "self.args.gradient_accumulation_steps % generate_every != 0",  # when old_per_token_logps is kept
        'output["old_per_token_logps"] = old_per_token_logps',
        'output["ref_per_token_logps"] = ref_per_token_logps',
    ],
    "_compute_loss": [
        "if advantages.dim() == 1:",  # (B, T) advantages are taken as they are
        "per_token_loss = per_token_loss + self.beta * per_token_kl",
    ],
}


@pytest.mark.parametrize("method", sorted(GRPO_SOURCE))
def test_grpo_code_kl_in_reward_relies_on(method):
    source = inspect.getsource(getattr(GRPOTrainer, method))
    for fragment in GRPO_SOURCE[method]:
        assert fragment in source, broken(f"GRPOTrainer.{method}", repr(fragment), "no such line")


@pytest.mark.parametrize("config_class", sorted(CONFIG_FIELDS, key=lambda c: c.__name__))
def test_pinned_config_fields_exist(config_class):
    fields = config_class.__dataclass_fields__
    for name in CONFIG_FIELDS[config_class]:
        assert name in fields, broken(f"{config_class.__name__}", f"the field {name!r}", "no such field")


@pytest.mark.parametrize(
    "trainer_class, config_class",
    [(EfficientGRPOTrainer, EfficientGRPOConfig), (EfficientRLOOTrainer, EfficientRLOOConfig)],
    ids=["grpo", "rloo"],
)
def test_attributes_on_a_constructed_trainer(trainer_class, config_class, tiny_model_path, tmp_path):
    args = config_class(
        output_dir=str(tmp_path), use_cpu=True, bf16=False, per_device_train_batch_size=8, num_generations=4,
        max_completion_length=8, beta=0.0, report_to="none",
    )  # fmt: skip
    trainer = trainer_class(
        model=tiny_model_path,
        reward_funcs=[even_token_sum],
        args=args,
        train_dataset=sum_problems(4, seed=0, **TWO_TERM_SUMS),
    )
    trl_class_name = next(c for c in trainer_class.__mro__ if c.__module__.startswith("trl.")).__name__

    def check(attribute: str, expected: str, ok) -> None:
        value = getattr(trainer, attribute, None)
        assert value is not None and ok(value), broken(f"{trl_class_name}.{attribute}", expected, repr(value)[:200])

    check("_tokenizer", "a tokenizer (callable on text)", lambda t: "input_ids" in t("</think>"))
    check("eos_token_ids", "a list of token ids", lambda ids: all(isinstance(i, int) for i in ids) and ids)
    check("reward_func_names", "a list of the reward functions' names", lambda names: names == ["length_reward"])
    check(
        "reward_weights",
        "a 1-D tensor with one weight per reward function",
        lambda w: isinstance(w, torch.Tensor) and w.shape == (1,),
    )
    check("num_generations", "the training group size", lambda g: g == 4)
    check("num_generations_eval", "the evaluation group size", lambda g: g == 4)
    check(
        "_logs", "a dict whose 'advantages' entry is a list-like log", lambda logs: hasattr(logs["advantages"], "pop")
    )
    check("_metrics", "a dict of modes to lists of metric values", lambda m: m["train"]["any"] == [])
    if trainer_class is EfficientGRPOTrainer:
        check("beta", "the KL coefficient, args.beta", lambda beta: beta == args.beta)
        # rollout budgets set a generation call's token limit there (transformers)
        check("generation_config", "a GenerationConfig with the token limit", lambda c: c.max_new_tokens == 8)
        check("use_vllm", "whether vLLM generates", lambda use: use is False)


# forced_no_think_share (AdaptThink's importance sampling; see the contract block): the hooks it overrides and calls,
# with their leading parameters, and where TRL's losses read the old log-probs it corrects.
NO_THINK_HOOKS = {
    (GRPOTrainer, "_generate_single_turn"): ["self", "prompt_ids", "images", "multimodal_fields", "num_generations"],
    (RLOOTrainer, "_generate_single_turn"): ["self", "prompt_ids", "images", "multimodal_fields"],
    (GRPOTrainer, "_get_per_token_logps_and_entropies"): ["self", "model", "input_ids", "attention_mask",
                                                          "logits_to_keep", "batch_size"],
    (RLOOTrainer, "_get_per_token_logps_and_entropies"): ["self", "model", "input_ids", "attention_mask",
                                                          "logits_to_keep", "batch_size"],
}  # fmt: skip
NO_THINK_SOURCE = {
    (GRPOTrainer, "_compute_loss"): [
        "old_per_token_logps = per_token_logps.detach() if old_per_token_logps is None else old_per_token_logps"
    ],
    (RLOOTrainer, "_compute_loss"): ['old_logps = inputs["old_logps"]', "log_ratio = logps - old_logps"],
    (RLOOTrainer, "_generate_and_score_completions"): ['"old_logps": old_logps'],
    (GRPOTrainer, "_generate"): [
        "self._generate_single_turn(",
        "prompt_ids, images, multimodal_fields = self._tokenize_prompts(prompts)",
    ],
    (RLOOTrainer, "_generate"): ["completion_ids = self._generate_single_turn(prompt_ids, images, multimodal_fields)"],
}


@pytest.mark.parametrize("trl_class, hook", sorted(NO_THINK_HOOKS, key=str), ids=lambda x: getattr(x, "__name__", x))
def test_no_think_sampling_hooks_keep_their_signature(trl_class, hook):
    expected = NO_THINK_HOOKS[trl_class, hook]
    parameters = list(inspect.signature(getattr(trl_class, hook)).parameters)[: len(expected)]
    assert parameters == expected, broken(f"{trl_class.__name__}.{hook}", f"parameters {expected}", parameters)


# Rollout budgets (see the contract block): the token limit of a generation call, where TRL's GRPO reads it, and the
# loss mask and token count the forced tokens are taken out of.
ROLLOUT_BUDGET_SOURCE = {
    (GRPOTrainer, "_generate_single_turn"): [
        "self.vllm_generation.generate(",
        "generation_config=self.generation_config",  # transformers and continuous batching
    ],
    (GRPOTrainer, "_compute_loss"): [
        'mask = completion_mask if "tool_mask" not in inputs else completion_mask * inputs["tool_mask"]',
        'inputs["num_items_in_batch"]',
    ],
    (GRPOTrainer, "_generate_and_score_completions"): ['"num_items_in_batch": num_items_in_batch'],
}


# logprob_length_groups (see the contract block): the pass it overrides and calls per group, with its parameters, and
# what of it the groups rely on: a model input of ids and mask alone (positions count from the left edge, which the
# groups keep), log-probabilities of the last logits_to_keep positions, three outputs.
LENGTH_GROUP_PARAMETERS = [
    "self", "model", "input_ids", "attention_mask", "logits_to_keep", "batch_size", "compute_entropy",
    "compute_aux_loss",
]  # fmt: skip
LENGTH_GROUP_SOURCE = {
    (trl_class, "_get_per_token_logps_and_entropies"): [
        'model_inputs = {"input_ids": input_ids_batch, "attention_mask": attention_mask_batch}',
        "all_logps.append(outputs.log_probs[:, -logits_to_keep:])",
        "return logps, entropies, aux_loss",
    ]
    for trl_class in (GRPOTrainer, RLOOTrainer)
}


@pytest.mark.parametrize("trl_class", [GRPOTrainer, RLOOTrainer], ids=["grpo", "rloo"])
def test_the_log_probability_pass_the_length_groups_split_keeps_its_signature(trl_class):
    method = trl_class._get_per_token_logps_and_entropies
    parameters = list(inspect.signature(method).parameters)[: len(LENGTH_GROUP_PARAMETERS)]
    assert parameters == LENGTH_GROUP_PARAMETERS, broken(
        f"{trl_class.__name__}._get_per_token_logps_and_entropies", f"parameters {LENGTH_GROUP_PARAMETERS}", parameters
    )


# The lines of TRL's code each feature relies on, per TRL method
SOURCE_FRAGMENTS = {
    "no_think_sampling": NO_THINK_SOURCE, "rollout_budgets": ROLLOUT_BUDGET_SOURCE,
    "logprob_length_groups": LENGTH_GROUP_SOURCE,
}  # fmt: skip


@pytest.mark.parametrize(
    "feature, trl_class, method",
    [(feature, *place) for feature, table in SOURCE_FRAGMENTS.items() for place in sorted(table, key=str)],
    ids=lambda x: getattr(x, "__name__", x),
)
def test_trl_code_each_feature_relies_on(feature, trl_class, method):
    source = inspect.getsource(getattr(trl_class, method))
    for fragment in SOURCE_FRAGMENTS[feature][trl_class, method]:
        assert fragment in source, broken(f"{trl_class.__name__}.{method}", repr(fragment), "no such line")


def test_the_token_limits_rollout_budgets_set_are_trls():
    from trl.generation.vllm_generation import VLLMGeneration

    source = inspect.getsource(VLLMGeneration.generate)
    assert "max_completion_length = self.max_completion_length" in source, broken(
        "VLLMGeneration.generate", "its token limit read from self.max_completion_length", "no such line"
    )
    init = inspect.getsource(GRPOTrainer.__init__)
    assert '"max_new_tokens": self.max_completion_length' in init, broken(
        "GRPOTrainer.__init__", "generation_config's max_new_tokens from max_completion_length", "no such line"
    )
