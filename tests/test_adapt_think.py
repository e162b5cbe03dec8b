"""AdaptThink (arXiv:2505.13417) on the toolkit: the `adapt_think` reward, the start-accuracy recipe that its dataset
column comes from, the forced no-thinking openings of `forced_no_think_share` and their correction in the loss, and
the recipes for R1-Distill-Qwen 1.5B and 7B."""

import json
import math
import re
from pathlib import Path

import pytest
import torch
from accelerate.commands.config.config_args import load_config_from_file
from datasets import load_from_disk

from efficient_trl import EfficientGRPOConfig, EfficientGRPOTrainer, EfficientRLOOConfig, EfficientRLOOTrainer
from efficient_trl.evaluation import load_samples, start_accuracies
from efficient_trl.length_rewards import AS_PUBLISHED, adapt_think, resolve_length_reward
from efficient_trl.no_think_sampling import forced_rows, importance_sampled_logps, no_think_opening, opens_with
from efficient_trl.rewards import rloo_advantages
from efficient_trl.sampling import EvaluationSample
from efficient_trl.scripts.start_accuracy import main as start_accuracy_main
from efficient_trl.synthetic import sum_problems
from efficient_trl.testing import TWO_TERM_SUMS
from efficient_trl.thinking import opens_without_thinking, think_end_ids
from efficient_trl.training import check_batch_sizes, parse_training_arguments

from . import test_distributed
from .recording import even_token_sum, expected_advantages, recording_losses

ROOT = Path(__file__).resolve().parents[1]
TRAINERS = {"grpo": (EfficientGRPOTrainer, EfficientGRPOConfig), "rloo": (EfficientRLOOTrainer, EfficientRLOOConfig)}
CPU = ["--bf16", "false", "--use_cpu", "true"]

# --- The reward: delta * 1{no thinking} + 1{correct} - start accuracy (section 4.1; AdaptThinkRewardManager)


def test_reward_is_the_papers_formula_on_hand_made_groups():
    # Two prompts of four completions: start accuracies 0.5 and 0.25; the first two of each answered without thinking.
    correct = torch.tensor([True, False, True, False, True, True, False, False])
    no_think = torch.tensor([True, True, False, False, True, True, False, False])
    start = torch.tensor([0.5] * 4 + [0.25] * 4)
    got = adapt_think(correct, torch.tensor([3, 5, 90, 80, 4, 6, 70, 75]), 4, start_accuracy=start, no_think=no_think)
    # delta 0.05 (the authors' nothinking_bonus): 0.05 + 1 - 0.5, 0.05 + 0 - 0.5, 1 - 0.5, 0 - 0.5, ...
    assert got.dtype == torch.float32
    assert got.tolist() == pytest.approx([0.55, -0.45, 0.5, -0.5, 0.8, 0.8, -0.25, -0.25])
    at_delta_0 = adapt_think(correct, torch.ones(8, dtype=torch.long), 4, start_accuracy=start, no_think=no_think,
                             delta=0.0)  # fmt: skip
    assert at_delta_0.tolist() == pytest.approx((correct.float() - start).tolist())  # lengths play no part
    # The start accuracy is a per-prompt baseline: under the trainers' RLOO advantages it cancels.
    other_start = adapt_think(correct, torch.ones(8), 4, start_accuracy=start * 0, no_think=no_think)
    assert torch.allclose(rloo_advantages(got, 4), rloo_advantages(other_start, 4), atol=1e-6)
    assert not torch.allclose(got, other_start)
    assert resolve_length_reward("adapt_think", None, 0.0) == ("adapt_think", {"delta": 0.05})
    assert AS_PUBLISHED["adapt_think"].normalization == "none"
    assert "compute_naive_outcome_advantage" in AS_PUBLISHED["adapt_think"].citation


def test_reward_refuses_bad_inputs():
    correct, lengths = torch.tensor([True, False]), torch.tensor([1, 2])
    start, no_think = torch.tensor([0.5, 0.5]), torch.tensor([True, False])
    with pytest.raises(ValueError, match=r"start_accuracy must hold accuracies in \[0, 1\]"):
        adapt_think(correct, lengths, 2, start_accuracy=torch.tensor([1.5, 1.5]), no_think=no_think)
    with pytest.raises(ValueError, match="no_think must be a bool tensor"):
        adapt_think(correct, lengths, 2, start_accuracy=start, no_think=torch.tensor([1, 0]))
    with pytest.raises(ValueError, match="one value per completion"):
        adapt_think(correct, lengths, 2, start_accuracy=torch.tensor([0.5]), no_think=no_think)
    with pytest.raises(ValueError, match="delta must be >= 0"):
        adapt_think(correct, lengths, 2, start_accuracy=start, no_think=no_think, delta=-0.1)


@pytest.mark.parametrize("name", sorted(TRAINERS))
def test_a_dataset_without_start_accuracy_is_refused_naming_the_recipe(name, tiny_model_path, tmp_path):
    trainer_class, config_class = TRAINERS[name]
    args = config_class(output_dir=str(tmp_path), use_cpu=True, bf16=False, per_device_train_batch_size=4,
                        num_generations=4, beta=0.0, report_to="none", length_reward="adapt_think")  # fmt: skip
    with pytest.raises(ValueError, match=r"no 'start_accuracy' column.*python recipes/start_accuracy\.py") as error:
        trainer_class(model=tiny_model_path, reward_funcs=[even_token_sum], args=args,
                      train_dataset=sum_problems(4, seed=0, **TWO_TERM_SUMS))  # fmt: skip
    assert "length_reward='adapt_think'" in str(error.value)


# --- The start-accuracy recipe


def test_start_accuracies_count_truncated_samples_wrong():
    def sample(problem, correct, truncated=False):
        return EvaluationSample(problem, 0, "", 5, truncated, "1", correct)

    samples = [sample(0, True), sample(0, False), sample(1, True), sample(1, True, truncated=True), sample(1, True)]
    assert start_accuracies(samples, 2) == [0.5, 2 / 3]
    with pytest.raises(ValueError, match=r"problems \[2\] have no samples"):
        start_accuracies(samples, 3)
    with pytest.raises(ValueError, match="grade the samples"):
        start_accuracies([EvaluationSample(0, 0, "", 5, False)], 1)


@pytest.mark.slow
def test_the_recipe_writes_the_start_accuracy_column_on_the_demo_task(tmp_path, tiny_model_path):
    out = tmp_path / "start"
    argv = ["--model", str(ROOT / "efficient_trl" / "demo_model_graded"), "--dataset", "graded", "--num_problems", "6",
            "--num_samples", "3", "--max_new_tokens", "40", "--temperature", "1.0", "--backend", "transformers",
            "--output_dir", str(out)]  # fmt: skip
    start_accuracy_main(argv)
    dataset = load_from_disk(str(out / "dataset"))
    assert len(dataset) == 6 and {"problem", "answer", "tier", "start_accuracy"} <= set(dataset.column_names)
    assert "prompt" not in dataset.column_names  # training writes its own prompts (train.py's prompt_template)
    # Each value is the share of that problem's 3 graded samples that were correct and finished.
    samples = load_samples(out / "samples")
    assert len(samples) == 18
    for index, accuracy in enumerate(dataset["start_accuracy"]):
        mine = [s.correct and not s.truncated for s in samples if s.problem_index == index]
        assert accuracy == pytest.approx(sum(mine) / 3)
    assert 0 < sum(dataset["start_accuracy"]) < 6  # 40 tokens cut the longer solutions: not all right, not all wrong
    report = json.loads((out / "report.json").read_text())
    assert report["mean_start_accuracy"] == pytest.approx(sum(dataset["start_accuracy"]) / 6)
    assert report["problems"] == 6 and report["prompt_template"] == "{problem}"
    # A second run into the same directory is refused before sampling.
    with pytest.raises(FileExistsError, match="already holds data"):
        start_accuracy_main(argv)
    # The dataset is what adapt_think trains on: the trainers accept it.
    from efficient_trl.data import load_problems, to_prompts

    train_dataset = to_prompts(load_problems(str(out / "dataset")), "{problem}")
    args = EfficientGRPOConfig(
        output_dir=str(tmp_path / "run"), use_cpu=True, bf16=False, num_generations=2, per_device_train_batch_size=2,
        beta=0.0, report_to="none", length_reward="adapt_think",
    )  # fmt: skip
    EfficientGRPOTrainer(model=tiny_model_path, reward_funcs=[even_token_sum], args=args, train_dataset=train_dataset)


# --- Importance sampling: the forced openings and their probability in the loss


def test_forced_rows_are_the_first_share_of_each_group_of_the_gathered_batch():
    assert forced_rows(8, 0, 4, 0.5) == [True, True, False, False] * 2
    # a group of 8 split over two processes of 4 rows: the second holds rows 4-7 of the group
    assert forced_rows(4, 0, 8, 0.5) == [True] * 4 and forced_rows(4, 4, 8, 0.5) == [False] * 4
    assert forced_rows(4, 0, 4, 0.0) == [False] * 4 and forced_rows(4, 0, 4, 1.0) == [True] * 4
    assert forced_rows(6, 0, 6, 0.25) == [True, True, False, False, False, False]  # round(1.5) = 2, half up
    with pytest.raises(ValueError, match="in \\[0, 1\\]"):
        forced_rows(4, 0, 4, 1.5)


def test_the_opening_is_what_reads_as_no_thinking(tiny_model_path, tiny_r1_model_path):
    from transformers import AutoTokenizer

    for path, expected in ((tiny_r1_model_path, "</think>"), (tiny_model_path, "<think></think>")):
        tokenizer = AutoTokenizer.from_pretrained(path)
        text = tokenizer.apply_chat_template([{"role": "user", "content": "1+2"}], tokenize=False,
                                             add_generation_prompt=True)  # fmt: skip
        opening = no_think_opening(tokenizer(text, add_special_tokens=False)["input_ids"], tokenizer)
        assert tokenizer.decode(opening) == expected  # R1's template pre-fills `<think>\n`; the tiny one does not
        completion = opening + tokenizer("\\boxed{3}", add_special_tokens=False)["input_ids"]
        assert opens_without_thinking(completion, tokenizer, think_end_ids(tokenizer)) and opens_with(
            completion, opening
        )


def test_importance_sampled_logps_puts_the_mixtures_probability_on_the_opening():
    old = torch.log(torch.tensor([[0.1, 0.5, 0.8, 0.9], [0.3, 0.6, 0.7, 0.2], [0.2, 0.4, 0.6, 0.8]]))
    opened, lengths = torch.tensor([True, False, True]), torch.tensor([2, 2, 1])
    got = importance_sampled_logps(old, opened, lengths, 0.5)
    # opened: log(0.5 + 0.5 * p_old(opening)) on its first token, 0 on its other ones; the rest kept
    assert got[0].tolist() == pytest.approx([math.log(0.5 + 0.5 * 0.1 * 0.5), 0.0, math.log(0.8), math.log(0.9)])
    assert got[2].tolist() == pytest.approx([math.log(0.5 + 0.5 * 0.2), *old[2, 1:].tolist()])
    # sampled freely: its first token's probability times 1 - share
    assert got[1].tolist() == pytest.approx([math.log(0.5 * 0.3), *old[1, 1:].tolist()])
    # The authors' log(share) for a forced row where the old policy never opens so
    never = importance_sampled_logps(torch.tensor([[-1e4, -1.0]]), torch.tensor([True]), torch.tensor([1]), 0.5)
    assert never[0, 0].item() == pytest.approx(math.log(0.5))


def policy_logps(trainer, inputs):
    ids = torch.cat([inputs["prompt_ids"], inputs["completion_ids"]], dim=1)
    mask = torch.cat([inputs["prompt_mask"], inputs["completion_mask"]], dim=1)
    with torch.no_grad():
        return trainer._get_per_token_logps_and_entropies(trainer.model, ids, mask, inputs["completion_ids"].shape[1])[
            0
        ]


@pytest.mark.slow
@pytest.mark.parametrize("name, model", [("grpo", "tiny"), ("grpo", "r1"), ("rloo", "tiny"), ("rloo", "r1")])
def test_a_real_run_forces_the_share_and_trains_on_the_corrected_probability(
    name, model, tiny_model_path, tiny_r1_model_path, tmp_path
):
    trainer_class, config_class = TRAINERS[name]
    path = tiny_r1_model_path if model == "r1" else tiny_model_path
    sequence = {"importance_sampling_level": "sequence"} if name == "grpo" else {}  # the authors' ratio (GRPO)
    # learning rate 0: the policy stays the one that sampled, so its log-probs can be recomputed after training
    args = config_class(
        output_dir=str(tmp_path), use_cpu=True, bf16=False, per_device_train_batch_size=8, num_generations=4,
        max_completion_length=24, max_steps=2, learning_rate=0.0, beta=0.0, report_to="none", save_strategy="no",
        logging_steps=1, seed=1, length_reward="adapt_think", forced_no_think_share=0.5, **sequence,
    )  # fmt: skip
    dataset = sum_problems(4, seed=0, **TWO_TERM_SUMS).add_column("start_accuracy", [0.25, 0.5, 0.75, 1.0])
    trainer = recording_losses(trainer_class)(model=path, reward_funcs=[even_token_sum], args=args,
                                              train_dataset=dataset)  # fmt: skip
    trainer.train()
    tokenizer = trainer.processing_class
    assert len(trainer.losses) == 2
    for inputs, loss in trainer.losses:
        prompt_ids = [
            row[mask.bool()].tolist() for row, mask in zip(inputs["prompt_ids"], inputs["prompt_mask"], strict=True)
        ]
        openings = [no_think_opening(ids, tokenizer) for ids in prompt_ids]
        opened = [opens_with(row.tolist(), o) for row, o in zip(inputs["completion_ids"], openings, strict=True)]
        # 2 of each prompt's 4 rollouts open without thinking, in the completion (the prompt is the data's); TRL
        # shuffles the generation batch before the loss, so they are counted per prompt
        prompts = sorted({tuple(ids) for ids in prompt_ids})
        assert len(prompts) == 2
        assert [sum(f for ids, f in zip(prompt_ids, opened, strict=True) if tuple(ids) == p) for p in prompts] == [
            2,
            2,
        ]
        assert tokenizer.decode(prompt_ids[0]).endswith("<think>\n" if model == "r1" else "<|assistant|>")
        # The old log-probs the loss divides by: the policy's, with the sampling distribution's at the opening.
        current = policy_logps(trainer, inputs)
        mask = inputs["completion_mask"]
        expected = importance_sampled_logps(
            current, torch.tensor(opened), torch.tensor([len(o) for o in openings]), 0.5
        )
        assert all(expected[row, 0] > current[row, 0] for row in range(8) if opened[row])  # 0.5 >> p(opening)
        if name == "grpo":
            old = inputs["old_per_token_logps"]
            assert torch.allclose(old * mask, expected * mask, atol=1e-4)
            ratio = torch.exp(((current - old) * mask).sum(1) / mask.sum(1))  # sequence level: one ratio each
        else:
            old = inputs["old_logps"]
            assert torch.allclose(old, (expected * mask).sum(1), atol=1e-4)
            ratio = torch.exp((current * mask).sum(1) - old)
        advantages = inputs["advantages"]
        recomputed = -torch.min(ratio * advantages, ratio.clamp(0.8, 1.2) * advantages).mean()
        assert loss == pytest.approx(recomputed.item(), abs=1e-5)
        # ... which is not the loss of the uncorrected ratio (1: the policy has not moved)
        assert abs(loss - (-advantages.mean().item())) > 1e-4
    logged = [entry for entry in trainer.state.log_history if "efficiency/no_think_rate" in entry]
    assert all(entry["efficiency/no_think_rate"] >= 0.5 for entry in logged)
    assert all(0 < entry["efficiency/no_think_opening_prob"] < 0.5 for entry in logged)


@pytest.mark.parametrize("name", sorted(TRAINERS))
def test_the_share_option_is_checked(name, tmp_path):
    _, config_class = TRAINERS[name]
    for bad in (-0.1, 1.5, True):
        with pytest.raises(ValueError, match=r"forced_no_think_share must be a share in \[0, 1\]"):
            config_class(output_dir=str(tmp_path), use_cpu=True, bf16=False, forced_no_think_share=bad)
    with pytest.raises(ValueError, match="vllm_mode='colocate'"):
        config_class(output_dir=str(tmp_path), use_cpu=True, bf16=False, forced_no_think_share=0.5, use_vllm=True,
                     vllm_mode="server")  # fmt: skip
    assert config_class(output_dir=str(tmp_path), use_cpu=True, bf16=False).forced_no_think_share == 0.0


# --- Across processes: a group of 8 split 4 + 4, half of it forced


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(TRAINERS))
def test_groups_split_across_processes_force_the_share_of_the_whole_group(name, tiny_model_path, tmp_path):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_path)
    ranks = test_distributed.run_two_processes(tiny_model_path, tmp_path, name, "none", "adapt_think")
    terminators = set(ranks[0]["terminators"])
    for step in range(2):
        local = [rank["records"][step] for rank in ranks]
        completion_ids = local[0]["completion_ids"] + local[1]["completion_ids"]
        opening = no_think_opening(local[0]["prompt_ids"][0], tokenizer)
        # round(0.5 * 8) = 4 of the group are forced: the first four, all on the first process
        assert [opens_with(ids, opening) for ids in local[0]["completion_ids"]] == [True] * 4
        assert not any(opens_with(ids, opening) for ids in local[1]["completion_ids"])  # not 2 + 2 per process
        no_think = torch.tensor([opens_without_thinking(ids, tokenizer, think_end_ids(tokenizer)) for ids in
                                 completion_ids])  # fmt: skip
        start = torch.tensor(local[0]["start_accuracy"] + local[1]["start_accuracy"])
        rewards, expected = expected_advantages(completion_ids, terminators, 8, 0.0, length_reward="adapt_think",
                                                start_accuracy=start, no_think=no_think)  # fmt: skip
        trained = torch.tensor(local[0]["advantages"] + local[1]["advantages"])
        assert torch.allclose(trained, expected, atol=1e-5), (trained, expected)


# --- The recipes (item 6)


@pytest.mark.parametrize("size", ["1.5b", "7b"])
def test_the_adapt_think_recipes_have_the_authors_settings_and_batch(size):
    recipe = ROOT / "recipes" / f"deepseek-r1-distill-qwen-{size}" / "adapt_think.yaml"
    script_args, args, model_args = parse_training_arguments(["--config", str(recipe), *CPU])
    assert model_args.model_name_or_path == f"deepseek-ai/DeepSeek-R1-Distill-Qwen-{size.upper()}"
    assert args.resolved_length_reward() == ("adapt_think", {"delta": 0.05})
    assert (args.forced_no_think_share, args.importance_sampling_level, args.loss_type) == (0.5, "sequence", "grpo")
    assert (args.num_generations, args.temperature, args.max_completion_length) == (16, 0.6, 16384)
    assert (args.learning_rate, args.beta, args.advantage_normalization, args.max_steps) == (2e-6, 0.0, "none", 314)
    assert args.use_vllm and args.vllm_mode == "colocate"
    assert script_args.dataset_name == f"data/start-accuracy-{size}/dataset"
    assert f"--output_dir data/start-accuracy-{size}" in recipe.read_text()  # the header's command writes it
    # The authors' batch: 128 prompts x 16 = 2,048 completions per RL iteration, one optimizer step each, on the
    # process count of the Accelerate config its launch line names.
    launcher = re.search(r"accelerate_configs/(\w+)\.yaml", recipe.read_text()).group(1)
    assert launcher == ("zero2" if size == "1.5b" else "zero3_2nodes")
    processes = load_config_from_file(str(ROOT / "accelerate_configs" / f"{launcher}.yaml")).num_processes
    per_step = args.per_device_train_batch_size * processes * args.gradient_accumulation_steps
    per_iteration = args.per_device_train_batch_size * processes * args.steps_per_generation
    assert per_step == per_iteration == 2048 == 128 * args.num_generations
    check_batch_sizes(script_args, args, processes)
    with pytest.raises(ValueError, match="on 2 processes"):
        check_batch_sizes(script_args, args, 2)


def test_with_vllm_log_probs_the_forced_opening_gets_none_and_the_sampled_tokens_keep_theirs():
    # TRL's vLLM branch of `_generate_single_turn` returns (ids, per-token sampling log-probs); no vLLM here, so a
    # scripted stand-in for that branch checks what the override does with them (not vLLM itself)
    from types import SimpleNamespace

    from transformers import AutoTokenizer

    from efficient_trl.experiments.engine import START_MODELS
    from efficient_trl.trainers import _NoThinkSamplingMixin

    tokenizer = AutoTokenizer.from_pretrained(START_MODELS["graded"])
    prompt = tokenizer("Sum 2 3.", add_special_tokens=False)["input_ids"]
    opening = no_think_opening(prompt, tokenizer)

    class ScriptedVLLMBranch:
        def _generate_single_turn(self, prompt_ids, images, multimodal_fields, num_generations):
            self.prompts = [list(ids) for ids in prompt_ids]
            ids = [[11, 12, tokenizer.eos_token_id] for _ in prompt_ids]
            return ids, [[-1.0, -2.0, -3.0] for _ in ids]

    class Trainer(_NoThinkSamplingMixin, ScriptedVLLMBranch):
        pass

    trainer = Trainer()
    trainer.args = SimpleNamespace(forced_no_think_share=0.5)
    trainer.model, trainer.tools, trainer._tokenizer = SimpleNamespace(training=True), None, tokenizer
    trainer.accelerator, trainer.num_generations = SimpleNamespace(process_index=0), 2
    trainer.max_completion_length = 64
    ids, logprobs = trainer._generate_single_turn([prompt, prompt], None, {}, 2)
    assert trainer.prompts == [prompt + opening, prompt]  # the forced row's prompt ends with the opening
    assert ids[0] == [*opening, 11, 12, tokenizer.eos_token_id] and ids[1] == [11, 12, tokenizer.eos_token_id]
    assert logprobs == [[None] * len(opening) + [-1.0, -2.0, -3.0], [-1.0, -2.0, -3.0]]
