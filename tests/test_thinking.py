import subprocess
import sys
from pathlib import Path

from transformers import AutoTokenizer

from efficient_trl.thinking import (
    THINK_END,
    after_thinking,
    opens_without_thinking,
    think_end_ids,
    thinking_length,
    without_thinking,
)

DEMO_MODEL = Path(__file__).parents[1] / "efficient_trl" / "demo_model"


def test_think_end_ids_are_the_tokens_of_the_marker(tiny_model_path, tiny_r1_model_path):
    r1 = AutoTokenizer.from_pretrained(tiny_r1_model_path)
    assert THINK_END == "</think>" and think_end_ids(r1) == r1.convert_tokens_to_ids(["</think>"])  # one token
    byte_level = AutoTokenizer.from_pretrained(tiny_model_path)
    ids = think_end_ids(byte_level)
    assert len(ids) > 1 and byte_level.decode(ids) == THINK_END  # spelled out


def test_thinking_length_counts_the_tokens_before_the_first_marker():
    assert thinking_length([5, 6, 7, 1, 2, 8, 1, 2], [1, 2]) == 3  # the first marker closes the thinking
    assert thinking_length([1, 3, 1, 2], [1, 2]) == 2  # a marker's first token alone does not
    assert thinking_length([5, 6, 1], [1, 2]) == 3  # nor a marker cut off at the end: never closed, all count
    assert thinking_length([4, 4], [9]) == 2 and thinking_length([], [9]) == 0
    assert thinking_length([9, 4], [9]) == 0


def test_after_thinking_is_the_text_after_the_last_marker():
    assert after_thinking("<think>a</think>b</think>c") == "c"
    assert after_thinking("no thoughts closed") == "no thoughts closed"
    assert after_thinking("<think>a</think>") == ""


def test_the_grader_side_stays_light():
    # The grader's worker processes import math_grader, which takes its marker from thinking.py: neither may pull in
    # torch or transformers.
    code = (
        "import sys, efficient_trl.thinking, efficient_trl.math_grader; "
        "print(sorted({'torch', 'transformers'} & set(sys.modules)))"
    )
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout == "[]\n"


def test_without_thinking_on_the_demo_models_chat_template():
    # The shipped demo model's template has no pre-fill: the completion opens the thinking itself, as in its
    # training data (synthetic.py's "<think>...</think>\\boxed{18}").
    tokenizer = AutoTokenizer.from_pretrained(DEMO_MODEL)
    user = [{"role": "user", "content": "3+5"}]
    prompt = tokenizer.apply_chat_template(user, tokenize=False, add_generation_prompt=True)
    assert prompt.endswith("<|assistant|>")

    def completion(content: str) -> str:  # the assistant turn as the template writes it, after the prompt
        turn = user + [{"role": "assistant", "content": content}]
        text = tokenizer.apply_chat_template(turn, tokenize=False)
        assert text.startswith(prompt)
        return text[len(prompt) :]

    assert not without_thinking(completion("<think>3+5=8.Check:5+3=8.</think>\\boxed{8}"))
    assert without_thinking(completion("<think></think>\\boxed{8}"))
    assert without_thinking(completion("<think>\n \n</think>\n\\boxed{8}"))
    assert without_thinking(completion("</think>\\boxed{8}"))
    assert not without_thinking(completion("<think>3+5=8."))  # never closed: thinking (cut off or stopped)
    assert not without_thinking(completion("\\boxed{8}"))  # no marker at all: counted as thinking


def test_without_thinking_after_the_r1_prefill(tiny_r1_model_path):
    # R1-distill's template pre-fills "<think>\n": the completion starts inside the thinking, and an immediate
    # `</think>` is AdaptThink's NoThinking mode. The same rule reads the text and the token ids the trainers see.
    tokenizer = AutoTokenizer.from_pretrained(tiny_r1_model_path)
    prompt = tokenizer.apply_chat_template(
        [{"role": "user", "content": "1+1"}], tokenize=False, add_generation_prompt=True
    )
    assert prompt.endswith("<think>\n")
    cases = {
        "</think>\n\nThe sum is \\boxed{2}.": True,
        "\n\n</think>\n\n\\boxed{2}": True,
        "Okay, 1+1=2.\n</think>\n\n\\boxed{2}": False,
        "Okay, 1+1=2 so \\boxed{2}": False,  # never closed
        "</think>\\boxed{2}</think>": True,  # the first marker decides
    }
    marker = think_end_ids(tokenizer)
    for text, expected in cases.items():
        assert without_thinking(text) is expected, text
        ids = tokenizer(text, add_special_tokens=False)["input_ids"]
        assert opens_without_thinking(ids, tokenizer, marker) is expected, text


def _opens_without(text: str, tokenizer) -> bool:
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    return opens_without_thinking(ids, tokenizer, think_end_ids(tokenizer))


def test_opens_without_thinking_decodes_long_thoughts_only_while_they_are_empty(tiny_model_path, tiny_r1_model_path):
    # Whitespace past the first 64 tokens is still empty thinking, and a long thought is thinking (decided from its
    # first 64 tokens); a byte-level tokenizer spells `</think>` in several tokens, which must all be there.
    for path in (tiny_r1_model_path, tiny_model_path):
        tokenizer = AutoTokenizer.from_pretrained(path)
        assert _opens_without("<think></think>\\boxed{2}", tokenizer) and _opens_without("</think>", tokenizer)
        assert not _opens_without("x" * 100 + "</think>\\boxed{2}", tokenizer)
        assert not _opens_without("x</think>", tokenizer)
        assert not _opens_without("<think></thin", tokenizer)  # the marker cut off: never closed
        assert not opens_without_thinking([], tokenizer, think_end_ids(tokenizer))
    assert len(think_end_ids(tokenizer)) > 1  # the byte-level tokenizer's
    tokenizer = AutoTokenizer.from_pretrained(tiny_r1_model_path)  # keeps whitespace, unlike the byte-level one
    spaces = " \n" * 50
    assert len(tokenizer(spaces, add_special_tokens=False)["input_ids"]) > 64
    for text, expected in (
        (f"<think>{spaces}</think>\\boxed{{2}}", True),
        (f"{spaces}</think>\\boxed{{2}}", True),
        (f"{spaces}y</think>\\boxed{{2}}", False),
        (f"{spaces}<think>y</think>", False),
    ):
        assert _opens_without(text, tokenizer) is expected
