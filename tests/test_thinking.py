import subprocess
import sys

from transformers import AutoTokenizer

from efficient_trl.thinking import THINK_END, after_thinking, think_end_ids, thinking_length


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
