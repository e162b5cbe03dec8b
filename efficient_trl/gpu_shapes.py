"""The paper's model shapes without a download, and a memory model of one RL training step on paper.

`R1_DISTILL_QWEN_1_5B` and `R1_DISTILL_QWEN_7B` are the architecture fields of the hub `config.json` files of
deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B and -7B. `build_random_model` saves a random-weight model of such a shape
with a tokenizer that covers its vocabulary, both made locally, so that `benchmarks/gpu_check.py` measures the
paper's shapes on a host without hub access. `step_memory` estimates the memory of one GPU during an RL step (policy,
reference model, optimizer, gradients, checkpointed activations, logits, colocated vLLM); `benchmarks/gpu_check.py`
prints it and checks it against a measured step.
"""

from __future__ import annotations

import string
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "R1_DISTILL_QWEN_1_5B",
    "R1_DISTILL_QWEN_7B",
    "TINY_SHAPE",
    "MemorySetup",
    "build_random_model",
    "parameter_count",
    "step_memory",
]

# config.json of deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B (architecture fields; Qwen2ForCausalLM).
R1_DISTILL_QWEN_1_5B: dict[str, Any] = {
    "hidden_size": 1536,
    "intermediate_size": 8960,
    "num_hidden_layers": 28,
    "num_attention_heads": 12,
    "num_key_value_heads": 2,
    "vocab_size": 151936,
    "max_position_embeddings": 131072,
    "rope_theta": 10000,
    "rms_norm_eps": 1e-6,
    "hidden_act": "silu",
    "tie_word_embeddings": False,
    "use_sliding_window": False,
    "bos_token_id": 151643,
    "eos_token_id": 151643,
}
# config.json of deepseek-ai/DeepSeek-R1-Distill-Qwen-7B.
R1_DISTILL_QWEN_7B: dict[str, Any] = {
    **R1_DISTILL_QWEN_1_5B,
    "hidden_size": 3584,
    "intermediate_size": 18944,
    "num_attention_heads": 28,
    "num_key_value_heads": 4,
    "vocab_size": 152064,
}
# The same architecture at a size that runs on a CPU in seconds (`gpu_check.py --tiny`).
TINY_SHAPE: dict[str, Any] = {
    **R1_DISTILL_QWEN_1_5B,
    "hidden_size": 64,
    "intermediate_size": 128,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "vocab_size": 1024,
    "bos_token_id": 1000,
    "eos_token_id": 1000,
}

BYTES_PER_GIB = 2**30
# TRL 1.16's fused LM head (trl.kernels.chunked_logprob) projects 4,096 tokens x 32,768 vocabulary entries at a time.
LOGIT_TILE_TOKENS, LOGIT_TILE_VOCAB = 4096, 32768


def parameter_count(shape: dict[str, Any]) -> int:
    """Parameters of a Qwen2ForCausalLM of this shape (q/k/v projections carry biases, no MLP biases)."""
    hidden, inter, vocab = shape["hidden_size"], shape["intermediate_size"], shape["vocab_size"]
    kv = hidden // shape["num_attention_heads"] * shape["num_key_value_heads"]
    attention = hidden * hidden + hidden + 2 * (hidden * kv + kv) + hidden * hidden
    layer = attention + 3 * hidden * inter + 2 * hidden
    embeddings = vocab * hidden * (1 if shape["tie_word_embeddings"] else 2)
    return embeddings + shape["num_hidden_layers"] * layer + hidden


def _build_tokenizer(vocab_size: int):
    """A `PreTrainedTokenizerFast` with one token per model vocabulary entry (characters, then fillers), plus an EOS
    token with id `vocab_size`: past the model's output layer, so sampling can never end a completion early."""
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    from .testing import EOS, PAD, TINY_CHAT_TEMPLATE, UNK, WORD_TOKENS

    characters = sorted(set(string.printable) - set("\r\x0b\x0c"))
    tokens = [PAD, UNK, *WORD_TOKENS, *characters]
    if len(tokens) > vocab_size:
        raise ValueError(f"vocab_size={vocab_size} is below the {len(tokens)} tokens the prompts need; raise it.")
    tokens += [f"<|filler_{index}|>" for index in range(vocab_size - len(tokens))] + [EOS]
    tokenizer = Tokenizer(models.WordLevel(vocab={token: index for index, token in enumerate(tokens)}, unk_token=UNK))
    words = "|".join(token.replace("\\", "\\\\").replace("|", "\\|") for token in WORD_TOKENS)
    tokenizer.pre_tokenizer = pre_tokenizers.Split(Regex(f"{words}|."), behavior="isolated")
    tokenizer.decoder = decoders.Fuse()
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer, pad_token=PAD, eos_token=EOS, unk_token=UNK, chat_template=TINY_CHAT_TEMPLATE
    )


def build_random_model(
    output_dir: str | Path, shape: dict[str, Any], *, device: str = "cpu", dtype: str = "bfloat16", seed: int = 0
) -> str:
    """Save a random-weight `Qwen2ForCausalLM` of `shape` and a local tokenizer to `output_dir`; return the path.

    Random weights never answer correctly (every reward is 0), but cost exactly what trained ones do per token. The
    EOS id is moved past the output vocabulary (see `_build_tokenizer`), so every completion runs to
    `max_new_tokens`, with any generation backend: the measured lengths are the requested ones.
    """
    import torch
    from transformers import GenerationConfig, Qwen2Config, Qwen2ForCausalLM

    tokenizer = _build_tokenizer(shape["vocab_size"])
    architecture = {key: value for key, value in shape.items() if not key.endswith("_token_id")}
    # The EOS id lives in the generation config and the tokenizer: a model config rejects an id past its vocabulary.
    config = Qwen2Config(**architecture, pad_token_id=tokenizer.pad_token_id, eos_token_id=None, bos_token_id=None)
    with torch.random.fork_rng(devices=[] if device == "cpu" else None), torch.device(device):
        torch.manual_seed(seed)
        model = Qwen2ForCausalLM(config).to(getattr(torch, dtype))  # initialised on the device: seconds, not minutes
    model.generation_config = GenerationConfig(
        eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id, bos_token_id=None
    )
    model.save_pretrained(output_dir)
    tokenizer.save_pretrained(output_dir)
    del model
    return str(output_dir)


@dataclass
class MemorySetup:
    """One GPU's share of an RL training step, as the recipes run it."""

    name: str = field(metadata={"help": "Row label."})
    shape: dict[str, Any] = field(metadata={"help": "Model config values, e.g. R1_DISTILL_QWEN_1_5B."})
    gpus: int = field(default=1, metadata={"help": "Training processes (one GPU each) sharing ZeRO partitions."})
    zero_stage: int = field(
        default=0,
        metadata={
            "help": "0: no DeepSpeed (bf16 weights, bf16 gradients, torch AdamW states in bf16, as a single-GPU "
            "TRL run with bf16 weights); 2 or 3: DeepSpeed bf16 (fp32 master weights, Adam states and gradient "
            "partitions split over the GPUs; ZeRO-3 splits the bf16 weights too)."
        },
    )
    prompt_tokens: int = field(default=256, metadata={"help": "Prompt length of the sequence trained on."})
    completion_tokens: int = field(default=32000, metadata={"help": "Completion length of the sequence."})
    micro_batch: int = field(default=1, metadata={"help": "Sequences per forward/backward (per_device_train_batch)."})
    reference_model: bool = field(default=True, metadata={"help": "A reference model is held (beta > 0)."})
    vllm_memory_fraction: float = field(
        default=0.0, metadata={"help": "vllm_gpu_memory_utilization of a colocated vLLM; 0 for none."}
    )
    gpu_memory_gib: float = field(default=80.0, metadata={"help": "Memory of one GPU, for the vLLM share."})


def step_memory(setup: MemorySetup) -> dict[str, float]:
    """GiB allocated on one GPU by each part of a training step, and the peaks of the generation and training phases.

    Activations assume gradient checkpointing of every decoder layer: each layer's input is kept (layers x tokens x
    hidden, bf16), and one layer is recomputed at a time (its q/k/v, attention output, norms and MLP tensors, plus
    their gradients: (7 hidden + 2 kv + 6 intermediate) bf16 values per token). Attention itself is taken to run
    in a memory-efficient kernel (no tokens x tokens matrix). Logits never exist whole: TRL's fused LM head projects
    one tile at a time (bf16, forward and backward). A colocated vLLM holds its share while generating and, with
    sleep mode, gives it back before the training step, so it counts in the generation phase only. The figures are
    allocated tensor memory (`torch.cuda.max_memory_allocated`), not the CUDA context or allocator slack.
    """
    shape, gpus = setup.shape, setup.gpus
    params = parameter_count(shape)
    hidden, inter, layers = shape["hidden_size"], shape["intermediate_size"], shape["num_hidden_layers"]
    kv = hidden // shape["num_attention_heads"] * shape["num_key_value_heads"]
    tokens = setup.micro_batch * (setup.prompt_tokens + setup.completion_tokens)
    sharded = 1 / gpus if setup.zero_stage >= 2 else 1.0
    if setup.zero_stage not in (0, 2, 3):
        raise ValueError(f"zero_stage={setup.zero_stage}: the recipes use 0 (none), 2 or 3.")
    weights_share = 1 / gpus if setup.zero_stage == 3 else 1.0
    parts = {
        "weights (bf16)": 2 * params * weights_share,
        "reference model (bf16)": 2 * params * weights_share if setup.reference_model else 0.0,
        # ZeRO-3 gathers a layer's weights to use them; count one layer gathered ahead of the one computing.
        "gathered layers (ZeRO-3)": 2 * 2 * (params - 2 * shape["vocab_size"] * hidden) / layers
        if setup.zero_stage == 3
        else 0.0,
        "optimizer states": (4 * params if setup.zero_stage == 0 else 12 * params) * sharded,
        "gradients": (2 * params if setup.zero_stage == 0 else 4 * params) * sharded,
        "activations (checkpointed)": 2 * tokens * (layers * hidden + 7 * hidden + 2 * kv + 6 * inter),
        "logits (fused LM head tile)": 2 * 2 * min(tokens, LOGIT_TILE_TOKENS) * LOGIT_TILE_VOCAB,
        "vLLM (colocated)": setup.vllm_memory_fraction * setup.gpu_memory_gib * BYTES_PER_GIB,
    }
    gib = {name: value / BYTES_PER_GIB for name, value in parts.items()}
    resident = sum(
        gib[name]
        for name in ("weights (bf16)", "reference model (bf16)", "gathered layers (ZeRO-3)", "optimizer states")
    )
    # DeepSpeed keeps its fp32 gradient partition between steps; a plain torch run frees .grad after each step.
    resident_gradients = gib["gradients"] if setup.zero_stage else 0.0
    gib["generation peak"] = resident + resident_gradients + gib["vLLM (colocated)"]
    gib["training peak"] = (
        resident + gib["gradients"] + gib["activations (checkpointed)"] + gib["logits (fused LM head tile)"]
    )
    gib["peak"] = max(gib["generation peak"], gib["training peak"])
    gib["unfused logits would add"] = 4 * tokens * shape["vocab_size"] / BYTES_PER_GIB  # fp32 logits, for contrast
    return gib


def paper_setups(completion_tokens: int = 32000) -> list[MemorySetup]:
    """The recipes at the paper's completion limit: the 1.5B on 4 GPUs with ZeRO-2 and the 7B with ZeRO-3 on the
    recipe's 8 GPUs (2 nodes x 4) and on 16 (2 nodes x 8); vLLM colocated at the recipes' memory fractions."""
    return [
        MemorySetup("1.5B, 4 GPUs, ZeRO-2", R1_DISTILL_QWEN_1_5B, 4, 2, completion_tokens=completion_tokens,
                    vllm_memory_fraction=0.35),
        MemorySetup("7B, 8 GPUs, ZeRO-3", R1_DISTILL_QWEN_7B, 8, 3, completion_tokens=completion_tokens,
                    vllm_memory_fraction=0.3),
        MemorySetup("7B, 16 GPUs, ZeRO-3", R1_DISTILL_QWEN_7B, 16, 3, completion_tokens=completion_tokens,
                    vllm_memory_fraction=0.3),
    ]  # fmt: skip


def setup_summary(setup: MemorySetup) -> dict[str, Any]:
    """The setup's fields with the shape reduced to its size, for JSON output."""
    summary = asdict(setup)
    summary["shape"] = f"{parameter_count(setup.shape) / 1e9:.2f}B parameters, hidden {setup.shape['hidden_size']}"
    return summary
