"""Run by test_distributed.py under `accelerate launch --num_processes 2`: train two steps with groups split across
the processes and write what each process trained on to OUT_DIR/rank<k>.json."""

import json
import os
import sys

from efficient_trl import EfficientGRPOConfig, EfficientGRPOTrainer, EfficientRLOOConfig, EfficientRLOOTrainer
from efficient_trl.synthetic import sum_problems
from efficient_trl.testing import TWO_TERM_SUMS, build_tiny_tokenizer
from tests.recording import even_token_sum, recording

TRAINERS = {"rloo": (EfficientRLOOTrainer, EfficientRLOOConfig), "grpo": (EfficientGRPOTrainer, EfficientGRPOConfig)}


def main() -> None:
    model_path, out_dir, name, normalization, length_reward = sys.argv[1:6]
    # kl_in_reward: the authors' KL placement, with each generation batch used twice (num_iterations=2) so that TRL
    # keeps the sampling policy's log-probabilities, and four steps so that the second batch's policy has moved.
    kl = {"kl_in_reward": True, "beta": 0.5, "num_iterations": 2, "max_steps": 4} if sys.argv[6:] == ["kl"] else {}
    # target_mean_tokens: alpha adjusted after each batch from the batch's mean length (dual_alpha.py)
    target = {"target_mean_tokens": 6, "length_penalty_alpha_step_size": 0.2, "logging_steps": 1}
    target = target if sys.argv[6:] == ["target"] else {}
    trainer_class, config_class = TRAINERS[name]
    train_dataset = sum_problems(16, seed=0, **TWO_TERM_SUMS)
    adapt = {}
    if length_reward == "adapt_think":  # a start accuracy per prompt, and half of each group forced not to think
        train_dataset = train_dataset.add_column("start_accuracy", [i / 16 for i in range(16)])
        adapt = {"forced_no_think_share": 0.5}
    eos_id = build_tiny_tokenizer().eos_token_id
    # The seed was chosen under TRL's "dapo" loss so that a group's halves disagree at the second step; the loss type
    # is beside the point here (the advantages are checked), so that trajectory is kept.
    loss_type = {"loss_type": "dapo"} if name == "grpo" else {}
    args = config_class(
        **loss_type,
        **{"max_steps": 2, "beta": 0.0, **kl, **adapt, **target},
        output_dir=out_dir,
        use_cpu=True,
        bf16=False,
        per_device_train_batch_size=4,  # half a group of 8 per process: every group is split across the two
        num_generations=8,
        max_completion_length=16,
        learning_rate=1e-3,
        length_penalty_alpha=0.3,
        length_reward=length_reward,
        advantage_normalization=normalization,
        save_strategy="no",
        report_to="none",
        seed=0,
        generation_kwargs={"sequence_bias": {(eos_id,): 3.5}},
    )
    trainer = recording(trainer_class)(
        model=model_path,
        reward_funcs=even_token_sum,
        args=args,
        train_dataset=train_dataset,
    )
    trainer.train()
    terminators = sorted({*trainer.eos_token_ids, trainer.processing_class.pad_token_id})
    rank = trainer.accelerator.process_index
    with open(f"{out_dir}/rank{rank}.json", "w") as f:
        alphas = [entry.get("efficiency/alpha") for entry in trainer.state.log_history if "loss" in entry]
        final_alpha = trainer._dual_alpha().alpha if target else None
        record = {"records": trainer.records, "terminators": terminators, "alphas": alphas, "final_alpha": final_alpha}
        json.dump(record, f)
    # Leave together, then exit without the process group's C++ teardown: a rank that tears down while the other
    # still holds the gloo connection can abort ("terminate called without an active exception"), and
    # destroy_process_group after the other rank has gone can wait forever (seen once in CI). The results are written.
    trainer.accelerator.wait_for_everyone()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
