"""Offline test kit: a tiny character-level tokenizer and Qwen2 model built locally, and small synthetic datasets.

Tests, examples and benchmarks use these instead of hub downloads so that they run with `HF_HUB_OFFLINE=1` on a
2-core CPU. The model is random (a few hundred thousand parameters); it exercises every code path of the trainers
but solves nothing until it is trained.
"""

from __future__ import annotations

import random
import string
from pathlib import Path

__all__ = ["TINY_CHAT_TEMPLATE", "arithmetic_dataset", "build_tiny_model", "build_tiny_tokenizer"]

PAD, EOS, UNK = "<|pad|>", "<|endoftext|>", "<|unk|>"
# Tokens that reasoning completions use; kept whole so that a short completion can close its thoughts and box.
WORD_TOKENS = ("<think>", "</think>", "\\boxed", "\\frac", "<|user|>", "<|assistant|>", "<|system|>")
# An assistant turn ends with EOS, so that a model fine-tuned on chats learns to stop.
TINY_CHAT_TEMPLATE = (
    "{% for message in messages %}<|{{ message['role'] }}|>{{ message['content'] }}"
    "{% if message['role'] == 'assistant' %}<|endoftext|>{% else %}\n{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>{% endif %}"
)


def build_tiny_tokenizer():
    """A character-level `PreTrainedTokenizerFast` (about 110 tokens) with a chat template, made with `tokenizers`."""
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    characters = sorted(set(string.printable) - set("\r\x0b\x0c"))
    vocab = {token: index for index, token in enumerate([PAD, EOS, UNK, *WORD_TOKENS, *characters])}
    tokenizer = Tokenizer(models.WordLevel(vocab=vocab, unk_token=UNK))
    words = "|".join(token.replace("\\", "\\\\").replace("|", "\\|") for token in WORD_TOKENS)
    tokenizer.pre_tokenizer = pre_tokenizers.Split(Regex(f"{words}|."), behavior="isolated")
    tokenizer.decoder = decoders.Fuse()  # characters join without spaces
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        pad_token=PAD,
        eos_token=EOS,
        unk_token=UNK,
        chat_template=TINY_CHAT_TEMPLATE,
        model_max_length=4096,
    )


def build_tiny_model(
    output_dir: str | Path,
    *,
    hidden_size: int = 64,
    num_layers: int = 2,
    seed: int = 0,
) -> str:
    """Save a random tiny `Qwen2ForCausalLM` and its tokenizer to `output_dir`; return the path to load them from.

    The directory can be passed wherever a model name is expected (trainers rebuild their reference model from it).
    """
    import torch
    from transformers import GenerationConfig, Qwen2Config, Qwen2ForCausalLM

    tokenizer = build_tiny_tokenizer()
    config = Qwen2Config(
        vocab_size=len(tokenizer),
        hidden_size=hidden_size,
        intermediate_size=2 * hidden_size,
        num_hidden_layers=num_layers,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=4096,
        tie_word_embeddings=True,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        bos_token_id=None,
    )
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model = Qwen2ForCausalLM(config)
    model.generation_config = GenerationConfig(
        eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id, bos_token_id=None
    )
    output_dir = Path(output_dir)
    model.save_pretrained(output_dir)
    tokenizer.save_pretrained(output_dir)
    return str(output_dir)


def arithmetic_dataset(num_examples: int, *, seed: int = 0, conversational: bool = True):
    """Addition problems with a `prompt` and a gold `answer` column, in the shape the math reward reads."""
    from datasets import Dataset

    rng = random.Random(seed)
    rows = []
    for _ in range(num_examples):
        a, b = rng.randint(0, 99), rng.randint(0, 99)
        question = f"{a}+{b}="
        prompt = [{"role": "user", "content": question}] if conversational else question
        rows.append({"prompt": prompt, "answer": str(a + b)})
    return Dataset.from_list(rows)
