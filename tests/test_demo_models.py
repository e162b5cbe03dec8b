"""The shipped demo models (every efficient_trl/demo_model* directory): their tokenizers reload exactly through
AutoTokenizer (each id to its vocabulary string, text back as it was, spaces and thinking markers included), and
the demo model's prompts keep the token ids it was trained on."""

import json
from pathlib import Path

import pytest

import efficient_trl

SHIPPED = sorted(path for path in Path(efficient_trl.__file__).parent.glob("demo_model*") if path.is_dir())
# Text with every kind of token a demo model meets: role tokens, the thinking markers, spaces, a newline, a box, EOS
TEXT = "<|user|>3 + 5\n<|assistant|><think>\nThe sum is 3 + 5 = 8.\n</think>\n\nFinal Answer: \\boxed{8}<|endoftext|>"


def _bytes_to_text(token: str) -> str:
    """A byte-level vocabulary string ("Ġ" for a space) as text."""
    from efficient_trl.testing import _bytes_to_unicode

    to_byte = {character: byte for byte, character in _bytes_to_unicode().items()}
    return bytes(to_byte[character] for character in token).decode() if all(c in to_byte for c in token) else token


def test_every_demo_model_is_tested():
    assert {path.name for path in SHIPPED} >= {"demo_model", "demo_model_multi_sums"}


@pytest.mark.parametrize("model", SHIPPED, ids=lambda path: path.name)
def test_shipped_tokenizer_reloads_exactly(model, tmp_path):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model)
    vocabulary = tokenizer.get_vocab()
    assert len(vocabulary) == len(tokenizer) == json.loads((model / "config.json").read_text())["vocab_size"]
    for token, index in vocabulary.items():  # each id decodes to its own string: no id lost or remapped
        assert tokenizer.decode([index]) == _bytes_to_text(token), (token, index)
    ids = tokenizer(TEXT, add_special_tokens=False)["input_ids"]
    assert tokenizer.unk_token_id not in ids
    assert tokenizer.decode(ids) == TEXT  # spaces, newlines and markers all come back
    assert tokenizer.decode(ids, skip_special_tokens=True) == TEXT.removesuffix("<|endoftext|>")
    # a trained checkpoint saves a copy of the tokenizer: the copy encodes as the original
    tokenizer.save_pretrained(tmp_path)
    assert AutoTokenizer.from_pretrained(tmp_path)(TEXT, add_special_tokens=False)["input_ids"] == ids


def test_demo_model_prompts_keep_the_ids_it_was_trained_on():
    """The demo model was trained with its words spelled out character by character (`<|user|>`, `<think>`: ids 3
    to 9 exist but it never saw them) and without spaces or newlines: its prompts and `</think>` must still encode
    so, or it no longer solves anything (1 of 40 held-out sums with `<|user|>` as one token)."""
    from transformers import AutoTokenizer

    from efficient_trl.synthetic import sum_problems

    tokenizer = AutoTokenizer.from_pretrained(SHIPPED[0])
    assert SHIPPED[0].name == "demo_model"
    prompt = sum_problems(1, seed=3, split="held_out")["prompt"][0]
    text = tokenizer.apply_chat_template(prompt, tokenize=False, add_generation_prompt=True)
    assert text == f"<|user|>{prompt[0]['content']}<|assistant|>"
    characters = [tokenizer.convert_tokens_to_ids(character) for character in "<|user|>"]
    assert characters == [40, 104, 97, 95, 81, 94, 104, 42]  # as the tokenizer it was trained with encoded them
    assert tokenizer("<|user|>", add_special_tokens=False)["input_ids"] == characters
    assert tokenizer("</think>", add_special_tokens=False)["input_ids"] == [40, 27, 96, 84, 85, 90, 87, 42]
    assert tokenizer(prompt[0]["content"], add_special_tokens=False)["input_ids"] == [
        tokenizer.convert_tokens_to_ids(character) for character in prompt[0]["content"]
    ]


def test_multi_sums_model_has_its_words_as_single_tokens():
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(SHIPPED[0].parent / "demo_model_multi_sums")
    assert tokenizer("<|user|><think></think>", add_special_tokens=False)["input_ids"] == [7, 3, 4]
