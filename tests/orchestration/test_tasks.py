import json
import re
from fractions import Fraction

import pytest

from orchestration.arithmetic import ArithmeticTasks, split_of
from orchestration.tasks import DataError, ListTasks, TaskItem, batches, distinct, load_code, load_humaneval, load_math


def _write_jsonl(path, rows):
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return str(path)


# ----------------------------------------------------------------------------- arithmetic generator


def _naive_answer(question: str) -> str:
    """Recompute the gold from the question text with plain Python (independent of sympy)."""
    if m := re.fullmatch(r"What is (\d+) ([-+*]) (\d+)\?", question):
        a, op, b = int(m[1]), m[2], int(m[3])
        return str(a + b if op == "+" else a - b if op == "-" else a * b)
    if m := re.fullmatch(r"What is (\d+) \* (\d+) \+ (\d+)\?", question):
        return str(int(m[1]) * int(m[2]) + int(m[3]))
    if m := re.fullmatch(r"Solve for x: (-?\d+)x(?: ([+-]) (\d+))? = (-?\d+)\.", question):
        a, c = int(m[1]), int(m[4])
        b = 0 if m[2] is None else int(m[3]) * (1 if m[2] == "+" else -1)
        value = Fraction(c - b, a)
        return str(value.numerator) if value.denominator == 1 else f"{value}"
    if m := re.fullmatch(r"Compute (\d+)/(\d+) ([+-]) (\d+)/(\d+) as a fraction in lowest terms\.", question):
        left, right = Fraction(int(m[1]), int(m[2])), Fraction(int(m[4]), int(m[5]))
        value = left + right if m[3] == "+" else left - right
        if value.denominator == 1:
            return str(value.numerator)
        sign = "- " if value < 0 else ""
        return f"{sign}\\frac{{{abs(value.numerator)}}}{{{value.denominator}}}"
    if m := re.fullmatch(r"Expand \(x ([+-]) (\d+)\)\(x ([+-]) (\d+)\)\.", question):
        a = int(m[2]) * (1 if m[1] == "+" else -1)
        b = int(m[4]) * (1 if m[3] == "+" else -1)
        return f"{a + b}x{a * b}"  # compared loosely below
    raise AssertionError(f"unexpected question {question!r}")


@pytest.mark.parametrize("level", [1, 2, 3, 4, 5, 6])
def test_arithmetic_gold_matches_naive_computation(level):
    for item in ArithmeticTasks(level, seed=3).take(60):
        question = item.prompt.removesuffix(" Put your final answer in \\boxed{}.")
        expected = _naive_answer(question)
        if question.startswith("Expand"):
            # x^2 + (a+b) x + ab, written by sympy's latex: check the two coefficients appear in order.
            s, p = map(int, re.fullmatch(r"(-?\d+)x(-?\d+)", expected).groups())
            compact = item.gold.replace(" ", "")
            linear = "" if s == 0 else ("+x" if s == 1 else "-x" if s == -1 else f"{s:+d}x")
            assert compact == f"x^{{2}}{linear}{p:+d}", (question, item.gold)
        else:
            assert item.gold == expected, (question, item.gold)
        assert item.verifier == "math" and item.meta["level"] == level


def test_arithmetic_is_deterministic_and_seeded():
    a = ArithmeticTasks([1, 2, 3], seed=7).take(30)
    assert a == ArithmeticTasks([1, 2, 3], seed=7).take(30)
    assert a != ArithmeticTasks([1, 2, 3], seed=8).take(30)
    # item(i) does not depend on what was drawn before: resuming mid-stream gives the same items.
    assert ArithmeticTasks([1, 2, 3], seed=7).item(17) == a[17]


@pytest.mark.parametrize("level", [1, 2, 3, 5])
def test_train_and_held_out_splits_are_disjoint_for_any_seeds(level):
    train = {i.id for seed in range(3) for i in ArithmeticTasks(level, "train", seed).take(300)}
    test = {i.id for seed in range(3) for i in ArithmeticTasks(level, "test", seed).take(100)}
    assert train and test and not (train & test)
    assert all(split_of(i.removeprefix("arith-"), 0.1) == "test" for i in test)


def test_level_2_holds_enough_distinct_problems_for_a_128_problem_held_out_set():
    from orchestration.tasks import distinct

    held_out = distinct((ArithmeticTasks(2, "test", 0, held_out_fraction=0.4).item(i) for i in range(20_000)), 1000)
    assert len(held_out) >= 128
    assert all(int(item.gold) >= 0 for item in held_out)  # subtraction never goes negative


def test_arithmetic_rejects_bad_arguments():
    with pytest.raises(ValueError, match="levels"):
        ArithmeticTasks(7)
    with pytest.raises(ValueError, match="split"):
        ArithmeticTasks(1, split="validation")


def test_distinct_held_out_set_has_no_repeats():
    items = distinct(ArithmeticTasks(1, "test").take(500), 8)
    assert len(items) == len({i.id for i in items}) == 8


# ----------------------------------------------------------------------------- finite sources


def test_list_tasks_visits_every_item_once_per_epoch_and_resumes():
    items = [TaskItem(id=str(i), prompt=f"q{i}", verifier="math", gold=str(i)) for i in range(10)]
    source = ListTasks(items, seed=1)
    epoch0 = [source.item(i).id for i in range(10)]
    epoch1 = [source.item(i).id for i in range(10, 20)]
    assert sorted(epoch0) == sorted(epoch1) == sorted(str(i) for i in range(10))
    assert epoch0 != epoch1  # reshuffled
    stream = batches(source, 4)
    first = [next(stream) for _ in range(3)]
    position = first[1][0]
    resumed = next(batches(ListTasks(items, seed=1), 4, start=position))
    assert resumed[1] == first[2][1] and resumed[0] == first[2][0] == 12


def test_task_item_validates_verifier_fields():
    with pytest.raises(ValueError, match="gold"):
        TaskItem(id="a", prompt="q", verifier="math")
    with pytest.raises(ValueError, match="verifier"):
        TaskItem(id="a", prompt="q", verifier="sql", gold="1")


# ----------------------------------------------------------------------------- math data


def test_load_gsm8k_style(tmp_path):
    path = _write_jsonl(
        tmp_path / "gsm.jsonl",
        [
            {"question": "Tom has 3 apples and buys 1,200 more. How many?", "answer": "3 + 1200 = 1203\n#### 1,203"},
            {"question": "What is 2+2?", "answer": "2+2=4 #### 4"},
        ],
    )
    items = load_math(path)
    assert [i.gold for i in items] == ["1203", "4"]
    assert items[0].prompt.startswith("Tom has") and "\\boxed{}" in items[0].prompt
    assert items[0].meta["format"] == "gsm8k"


def test_load_math_style_takes_last_boxed_answer(tmp_path):
    path = _write_jsonl(
        tmp_path / "math.jsonl",
        [
            {
                "problem": "Compute $\\frac{1}{2}+\\frac{1}{4}$.",
                "solution": "We have $\\boxed{\\frac{1}{2}}$ plus a quarter, so $\\boxed{\\frac{3}{4}}$.",
            },
        ],
    )
    (item,) = load_math(path)
    assert item.gold == "\\frac{3}{4}" and item.meta["format"] == "math"


def test_load_plain_chat_and_column_mapping(tmp_path):
    path = _write_jsonl(
        tmp_path / "chat.jsonl",
        [
            {"uid": "p1", "messages": [{"role": "user", "content": "1+1? Answer in \\boxed{}"}], "target": 2},
        ],
    )
    (item,) = load_math(path, columns={"prompt": "messages", "answer": "target", "id": "uid"})
    assert item.prompt == [{"role": "user", "content": "1+1? Answer in \\boxed{}"}]
    assert item.gold == "2" and item.id == "p1"


def test_load_math_from_saved_datasets_directory(tmp_path):
    import datasets

    datasets.Dataset.from_list([{"question": "q", "answer": "x #### 7"}]).save_to_disk(str(tmp_path / "ds"))
    (item,) = load_math(str(tmp_path / "ds"))
    assert item.gold == "7"


@pytest.mark.parametrize(
    "rows, message",
    [
        (['{"question": "q", "answer": "#### 1"}', "{not json"], r"bad\.jsonl:2: not valid JSON"),
        ([{"question": "q"}], r"bad\.jsonl:1: missing field 'answer'"),
        (
            [{"question": "q", "answer": "#### 1"}, {"question": "q", "answer": "no marker"}],
            r"bad\.jsonl:2: field 'answer' must end in '#### <answer>'",
        ),
        ([{"question": 5, "answer": "1"}], r"bad\.jsonl:1: field 'question' must be str or list, got int"),
        ([{"messages": [{"role": "user"}], "answer": "1"}], r"bad\.jsonl:1: field 'messages' message 0"),
        ([[1, 2]], r"bad\.jsonl:1: expected a JSON object"),
    ],
)
def test_malformed_math_rows_name_file_row_and_field(tmp_path, rows, message):
    path = _write_jsonl(tmp_path / "bad.jsonl", rows)
    with pytest.raises(DataError, match=message):
        load_math(path, format="gsm8k" if "####" in message else "auto")


def test_rows_without_an_answer_are_unlabelled_prompts_only_when_allowed(tmp_path):
    path = _write_jsonl(
        tmp_path / "mixed.jsonl",
        [
            {"question": "2 + 2?", "answer": "4"},
            {"question": "Write a haiku about sums."},
            {"question": "Is 7 lucky?", "answer": None},
        ],
    )
    with pytest.raises(DataError, match=r"mixed\.jsonl:2: missing field 'answer'.*set data.unlabelled true"):
        load_math(path)
    labelled, haiku, lucky = load_math(path, allow_unlabelled=True)
    assert labelled.verifier == "math" and labelled.gold == "4"
    assert (haiku.verifier, haiku.gold, haiku.prompt) == ("none", None, "Write a haiku about sums.")
    assert lucky.verifier == "none"


def test_math_format_without_boxed_is_an_error(tmp_path):
    path = _write_jsonl(tmp_path / "m.jsonl", [{"problem": "p", "solution": "the answer is obvious"}])
    with pytest.raises(DataError, match=r"m\.jsonl:1: field 'solution' has no \\boxed"):
        load_math(path, format="math")


# ----------------------------------------------------------------------------- code data


def test_humaneval_bundled_problems():
    items = load_humaneval()
    assert len(items) == 164 and len({i.id for i in items}) == 164
    for item in items:
        assert item.verifier == "code" and f"def {item.entry_point}" in item.code_prompt
        assert "def check(candidate)" in item.tests and item.code_prompt in item.prompt


def test_load_code_mbpp_style(tmp_path):
    path = _write_jsonl(
        tmp_path / "mbpp.jsonl",
        [
            {
                "task_id": 11,
                "text": "Write a function add(a, b).",
                "test_list": ["assert add(1, 2) == 3", "assert add(0, 0) == 0"],
            },
            {
                "prompt": "Write inc(x).",
                "tests": "def check(candidate):\n    assert candidate(1) == 2\n",
                "entry_point": "inc",
            },
        ],
    )
    first, second = load_code(path, columns={"id": "task_id"})
    assert first.id == "11" and first.tests == "assert add(1, 2) == 3\nassert add(0, 0) == 0"
    assert first.entry_point is None and second.entry_point == "inc"


def test_load_code_rejects_empty_test_list(tmp_path):
    path = _write_jsonl(tmp_path / "c.jsonl", [{"prompt": "p", "tests": []}])
    with pytest.raises(DataError, match=r"c\.jsonl:1: field 'tests' must be a non-empty list"):
        load_code(path)


def test_load_code_rejects_tests_that_cannot_fail(tmp_path):
    path = _write_jsonl(tmp_path / "c.jsonl", [{"prompt": "p", "tests": "x = 1"}])
    with pytest.raises(DataError, match=r"c\.jsonl:1: field 'tests' cannot be run as tests"):
        load_code(path)


def test_a_worked_example_opens_the_prompt_and_is_never_drawn():
    from orchestration.arithmetic import ANSWER_INSTRUCTION, WORKED_EXAMPLES

    for level in (1, 2, 5, 6):
        plain = ArithmeticTasks(level, "train", seed=1).take(20)
        shown = ArithmeticTasks(level, "train", seed=1, worked_example=True).take(20)
        assert [item.id for item in plain] == [item.id for item in shown]  # the same problems, another prompt
        key, question, answer = WORKED_EXAMPLES[level]
        for item, bare in zip(shown, plain):
            assert item.prompt == [
                {"role": "user", "content": f"{question} {ANSWER_INSTRUCTION}"},
                {"role": "assistant", "content": answer},
                {"role": "user", "content": bare.prompt},
            ]
        assert "\\boxed{" in answer  # it shows the asked format
    drawn = {
        item.id
        for split in ("train", "test")
        for item in ArithmeticTasks(1, split, seed=0, held_out_fraction=0.3, worked_example=True).take(400)
    }
    assert "arith-1:2+3" not in drawn and len(drawn) > 60  # every other one-digit sum, never the worked one


def test_the_config_opens_built_in_prompts_with_a_worked_example_and_refuses_it_elsewhere():
    from orchestration.config import load_config
    from orchestration.dataclass_yaml import ConfigError

    assert load_config(None, []).data.worked_example is True
    assert load_config(None, ["--data.worked_example", "false"]).data.worked_example is False
    assert load_config(None, ["--data.source", "humaneval"]).data.worked_example is None
    with pytest.raises(ConfigError, match="has its own prompts: leave worked_example null"):
        load_config(None, ["--data.source", "humaneval", "--data.worked_example", "true"])
