"""Offline test kit: a tiny character-level tokenizer and Qwen2 model built locally, and small synthetic datasets.

Tests, examples and benchmarks use these instead of hub downloads so that they run with `HF_HUB_OFFLINE=1` on a
2-core CPU. The model is random (a few hundred thousand parameters); it exercises every code path of the trainers
but solves nothing until it is trained.

Two tokenizer styles: "tiny" (the default: no BOS, a minimal chat template) and "r1-distill", which behaves like
DeepSeek-R1-Distill-Qwen's tokenizer where it matters to the toolkit: the same special tokens, BOS prepended when
text is tokenized with special tokens (the real `LlamaTokenizerFast` has `add_bos_token: true`), EOS doubling as the
pad token, and the real chat template (TRL's copy), which opens every prompt with BOS, pre-fills `<think>\n` after
`<｜Assistant｜>` and deletes everything up to `</think>` from an assistant turn.
"""

from __future__ import annotations

import json
import string
from pathlib import Path
from typing import Any

__all__ = [
    "R1_BOS",
    "R1_EOS",
    "TINY_CHAT_TEMPLATE",
    "TOKENIZER_STYLES",
    "TWO_TERM_SUMS",
    "build_tiny_model",
    "build_tiny_tokenizer",
]

PAD, EOS, UNK = "<|pad|>", "<|endoftext|>", "<|unk|>"
# Tokens that reasoning completions use; kept whole so that a short completion can close its thoughts and box.
WORD_TOKENS = ("<think>", "</think>", "\\boxed", "\\frac", "<|user|>", "<|assistant|>", "<|system|>")
# An assistant turn ends with EOS, so that a model fine-tuned on chats learns to stop.
TINY_CHAT_TEMPLATE = (
    "{% for message in messages %}<|{{ message['role'] }}|>{{ message['content'] }}"
    "{% if message['role'] == 'assistant' %}<|endoftext|>{% else %}\n{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>{% endif %}"
)

# DeepSeek-R1-Distill-Qwen's special tokens (tokenizer_config.json of the hub checkpoints).
R1_BOS, R1_EOS = "<｜begin▁of▁sentence｜>", "<｜end▁of▁sentence｜>"
R1_ROLE_TOKENS = ("<｜User｜>", "<｜Assistant｜>")
TOKENIZER_STYLES = ("tiny", "tiny-byte-level", "r1-distill")

# `synthetic.sum_problems` options for the small addition problems of tests, the quickstart and the benchmarks
# ("37+5=": two terms in 0-99, from the whole problem space): `sum_problems(n, seed=0, **TWO_TERM_SUMS)`.
TWO_TERM_SUMS = {"split": "all", "num_terms": 2, "term_range": (0, 99), "prompt_suffix": "="}


def build_tiny_tokenizer(style: str = "tiny"):
    """A character-level `PreTrainedTokenizerFast` (about 110 tokens) with a chat template, made with `tokenizers`.

    `style="r1-distill"` gives it DeepSeek-R1-Distill-Qwen's special tokens, BOS post-processor and chat template
    (see the module docstring); `<think>` and `</think>` are ordinary tokens there, as in the real tokenizer, so
    decoding with `skip_special_tokens=True` keeps them.
    """
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    if style not in TOKENIZER_STYLES:
        raise ValueError(f"style must be one of {TOKENIZER_STYLES}, got {style!r}.")
    characters = sorted(set(string.printable) - set("\r\x0b\x0c"))
    words = "|".join(token.replace("\\", "\\\\").replace("|", "\\|") for token in WORD_TOKENS)
    if style == "tiny-byte-level":
        # "tiny"'s vocabulary and ids, stored the way AutoTokenizer rebuilds a saved Qwen2 checkpoint's tokenizer
        # (transformers 5 forces `Qwen2Tokenizer` for model_type qwen2, whatever tokenizer_config.json declares, and
        # builds it from the vocabulary alone: byte-level characters, BPE, Qwen's pre-tokenizer). Characters are
        # byte-level (space is "Ġ") and the multi-character words are added tokens, so the rebuilt tokenizer encodes
        # every text exactly as this one; "tiny" itself reloads as characters without spaces or whole words.
        to_byte_level = _bytes_to_unicode()
        byte_level_characters = [to_byte_level[ord(c)] for c in characters]
        vocab = {token: index for index, token in enumerate([PAD, EOS, UNK, *WORD_TOKENS, *byte_level_characters])}
        tokenizer = Tokenizer(models.BPE(vocab=vocab, merges=[], unk_token=None))
        tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
        tokenizer.decoder = decoders.ByteLevel()
        tokenizer.add_tokens([AddedToken(word, special=False, normalized=False) for word in WORD_TOKENS])
        return _with_tiny_template(tokenizer)
    if style == "tiny":
        vocab = {token: index for index, token in enumerate([PAD, EOS, UNK, *WORD_TOKENS, *characters])}
        tokenizer = Tokenizer(models.WordLevel(vocab=vocab, unk_token=UNK))
        tokenizer.pre_tokenizer = pre_tokenizers.Split(Regex(f"{words}|."), behavior="isolated")
        tokenizer.decoder = decoders.Fuse()  # characters join without spaces
        return _with_tiny_template(tokenizer)
    from trl.chat_template_utils import deepseek_r1_distill_chat_template

    # Byte-level like the real one (space is "Ġ", newline "Ċ"), so that a saved copy loads back as this tokenizer
    # (transformers loads a byte-level tokenizer.json declared as LlamaTokenizerFast as it is) and keeps every
    # character of R1-style text ("...\n</think>\n\n\\boxed{2}").
    to_byte_level = _bytes_to_unicode()
    byte_level_words = ["".join(to_byte_level[ord(c)] for c in word) for word in WORD_TOKENS]
    byte_level_characters = [to_byte_level[ord(c)] for c in characters]
    specials = [R1_BOS, R1_EOS, UNK, *R1_ROLE_TOKENS]
    vocab = {token: index for index, token in enumerate([*specials, *byte_level_words, *byte_level_characters])}
    tokenizer = Tokenizer(models.WordLevel(vocab=vocab, unk_token=UNK))
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(f"{words}|[\\s\\S]"), behavior="isolated"),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    tokenizer.decoder = decoders.ByteLevel()
    # As the real tokenizer: text tokenized with special tokens starts with BOS (and so does the chat template).
    tokenizer.post_processor = processors.TemplateProcessing(
        single=f"{R1_BOS} $A", pair=f"{R1_BOS} $A {R1_BOS} $B", special_tokens=[(R1_BOS, vocab[R1_BOS])]
    )
    # `<think>` and `</think>` are single, non-special added tokens in the real tokenizer: decoding with
    # skip_special_tokens=True keeps them.
    tokenizer.add_tokens([AddedToken(word, special=False, normalized=False) for word in ("<think>", "</think>")])
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        bos_token=R1_BOS,
        eos_token=R1_EOS,
        pad_token=R1_EOS,
        unk_token=UNK,
        additional_special_tokens=list(R1_ROLE_TOKENS),
        chat_template=deepseek_r1_distill_chat_template,
        model_max_length=4096,
    )


def _with_tiny_template(tokenizer: Any) -> Any:
    """A "tiny" style tokenizer object as transformers uses it: its special tokens and the tiny chat template."""
    from transformers import PreTrainedTokenizerFast

    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        pad_token=PAD,
        eos_token=EOS,
        unk_token=UNK,
        chat_template=TINY_CHAT_TEMPLATE,
        model_max_length=4096,
    )


def _bytes_to_unicode() -> dict[int, str]:
    """GPT-2's byte-to-character table that byte-level tokenizers (Qwen's, R1-distill's) use."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    table, extra = {}, 0
    for byte in range(256):
        if byte in printable:
            table[byte] = chr(byte)
        else:
            table[byte] = chr(256 + extra)
            extra += 1
    return table


def build_tiny_model(
    output_dir: str | Path,
    *,
    hidden_size: int = 64,
    num_layers: int = 2,
    seed: int = 0,
    tokenizer_style: str = "tiny",
) -> str:
    """Save a random tiny `Qwen2ForCausalLM` and its tokenizer to `output_dir`; return the path to load them from.

    The directory can be passed wherever a model name is expected (trainers rebuild their reference model from it).
    `tokenizer_style="r1-distill"` saves a tokenizer that behaves like DeepSeek-R1-Distill-Qwen's (BOS, EOS as pad,
    the real chat template), for testing the paths a real R1-distilled model takes.
    """
    import torch
    from transformers import GenerationConfig, Qwen2Config, Qwen2ForCausalLM

    tokenizer = build_tiny_tokenizer(tokenizer_style)
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
        bos_token_id=tokenizer.bos_token_id,
    )
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model = Qwen2ForCausalLM(config)
    model.generation_config = GenerationConfig(
        eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id, bos_token_id=tokenizer.bos_token_id
    )
    output_dir = Path(output_dir)
    model.save_pretrained(output_dir)
    tokenizer.save_pretrained(output_dir)
    if tokenizer_style == "r1-distill":  # the class the real checkpoints declare; it loads tokenizer.json as saved
        config_path = output_dir / "tokenizer_config.json"
        tokenizer_config = json.loads(config_path.read_text())
        config_path.write_text(json.dumps({**tokenizer_config, "tokenizer_class": "LlamaTokenizerFast"}, indent=2))
    return str(output_dir)
