import pytest

from orchestration.config import load_config
from orchestration.data_sources import build_sources
from orchestration.multistep import LEVELS, OPERATIONS, WORKED_EXAMPLES, MultiStepTasks
from orchestration.rewards import prompt_text
from verifiers.math import check_steps


@pytest.mark.parametrize("level", LEVELS)
def test_problems_are_deterministic_split_and_their_golds_right(level):
    train = MultiStepTasks(level, "train", seed=0)
    items = [train.item(i) for i in range(50)]
    assert [i.id for i in items] == [MultiStepTasks(level, "train", seed=0).item(i).id for i in range(50)]
    held_out = {MultiStepTasks(level, "test", seed=5).item(i).id for i in range(200)}
    assert not held_out & {train.item(i).id for i in range(200)}
    for item in items:
        question = prompt_text(item)  # the last user turn: the problem, after the worked example
        assert item.meta["level"] == level and "one calculation per line" in question and "\\boxed{}" in question
        assert item.meta["max_rewarded_steps"] == OPERATIONS[level] + 1
        claim = question.split(": ", 1)[1] if level == 4 else question[len("Compute ") :].split(". ")[0]
        claim = claim.split(". ")[0].rstrip(".")
        if level == 4:  # the equation holds at the gold solution, and not one off it
            assert [s.verdict for s in check_steps(claim, substitute=item.meta["substitute"])] == ["true"]
            assert [s.verdict for s in check_steps(claim, substitute={"x": str(int(item.gold) + 1)})] == ["false"]
        else:  # the expression equals the gold, exactly (integer division is exact by construction)
            assert [s.verdict for s in check_steps(f"{claim} = {item.gold}")] == ["true"], claim
            assert claim.count("+") + claim.count("*") + claim.count("-") + claim.count("/") == level + 1


def test_an_honest_step_by_step_answer_is_labelled_good_throughout():
    item = MultiStepTasks(3, "train").item(0)  # ((a + b) * c - d) / e
    expression = prompt_text(item)[len("Compute ") :].split(". ")[0]
    a_b = expression.split(")")[0].lstrip("(")
    a, b = (int(x) for x in a_b.split(" + "))
    rest = expression.split(")", 1)[1]
    c = int(rest.split("*")[1].split("-")[0])
    d = int(rest.split("-")[1].split(")")[0])
    e = int(rest.split("/")[1])
    lines = [
        f"{a} + {b} = {a + b}",
        f"{a + b} * {c} = {(a + b) * c}",
        f"{(a + b) * c} - {d} = {(a + b) * c - d}",
        f"{(a + b) * c - d} / {e} = {((a + b) * c - d) // e}",
        f"The answer is \\boxed{{{item.gold}}}.",
    ]
    judged = check_steps("\n".join(lines), item.gold, substitute=item.meta.get("substitute"))
    assert [s.label for s in judged] == [1.0] * 5


def test_the_data_source_and_its_level_check():
    cfg = load_config(None, ["--data.source", "multistep", "--data.levels", "[2, 4]", "--data.eval_size", "8"])
    train, held_out = build_sources(cfg.data, seed=0)
    assert [train.item(i).meta["level"] for i in range(4)] == [2, 4, 2, 4]
    assert len(held_out) == 8 and {item.meta["level"] for item in held_out} == {2, 4}
    with pytest.raises(ValueError, match="multistep levels must be a non-empty subset"):
        build_sources(load_config(None, ["--data.source", "multistep", "--data.levels", "[5]"]).data, seed=0)


@pytest.mark.parametrize("level", LEVELS)
def test_the_format_is_shown_once_by_a_worked_example(level):
    """The prompt is a chat: the level's worked example (its solution one calculation per line, every line true
    and the answer right), then the problem."""
    key, question, solution = WORKED_EXAMPLES[level]
    gold = solution.rsplit("\\boxed{", 1)[1].rstrip("}")
    judged = check_steps(solution, gold, substitute={"x": gold} if level == 4 else None)
    assert [s.label for s in judged] == [1.0] * (OPERATIONS[level] + 1)  # the bound: as many steps as it takes
    item = MultiStepTasks(level, "train").item(0)
    assert [m["role"] for m in item.prompt] == ["user", "assistant", "user"]
    assert item.prompt[0]["content"].startswith(question) and item.prompt[1]["content"] == solution
    inline = MultiStepTasks(level, "train", worked_example=False).item(0)  # the earlier prompt, one question
    assert inline.id == item.id and isinstance(inline.prompt, str) and "such as `4 + 7 = 11`" in inline.prompt


def test_the_worked_problem_is_skipped_when_drawn(monkeypatch):
    import orchestration.multistep as multistep

    key, question, _ = WORKED_EXAMPLES[1]
    draws = iter([(key, question, 21, [7, 21]), ("1:(3 + 5) * 2", "Compute (3 + 5) * 2.", 16, [8, 16])] * 2)
    monkeypatch.setattr(multistep, "_chain", lambda rng, level: next(draws))
    monkeypatch.setattr(multistep, "split_of", lambda k, fraction: "train")  # both fall in the split asked for
    assert MultiStepTasks(1, "train").item(0).id == "multistep-1:(3 + 5) * 2"


@pytest.mark.parametrize("level", LEVELS)
def test_each_problem_lists_the_values_an_honest_solution_computes(level):
    """meta["path"] (for loop.path_labels): the value of each calculation an honest solution makes, in order, the
    last being the gold; derived here from the problem's own numbers."""
    import re

    for i in range(20):
        item = MultiStepTasks(level, "train").item(i)
        question = prompt_text(item).split(". Work")[0]
        if level == 4:  # "Solve for x: ax + b = c": ax = c - b, then x
            match = re.fullmatch(r"Solve for x: (-?\d+)x(?: ([+-]) (\d+))? = (-?\d+)", question)
            sign, magnitude, c = match.group(2), match.group(3), int(match.group(4))
            b = 0 if sign is None else int(magnitude) if sign == "+" else -int(magnitude)
            expected = [c - b, int(item.gold)]
        else:  # "Compute ((a + b) * c - d) / e": a + b, then * c, - d, / e
            numbers = [int(n) for n in re.findall(r"\d+", question)]
            expected = [numbers[0] + numbers[1], (numbers[0] + numbers[1]) * numbers[2]]
            if level >= 2:
                expected.append(expected[-1] - numbers[3])
            if level >= 3:
                expected.append(expected[-1] // numbers[4])
        assert item.meta["path"] == [str(v) for v in expected] and item.meta["path"][-1] == item.gold


def test_rule_step_labels_mark_off_path_steps_only_when_asked():
    from orchestration.step_labels import rule_step_labels
    from orchestration.tasks import TaskItem
    from verifiers.math import check

    item = TaskItem(id="m", prompt="Compute (6 + 4) * 9.", verifier="math", gold="90", meta={"path": ["10", "90"]})
    text = "6 + 4 = 10\n10 * 2 = 20\n\\boxed{20}"
    outcome = check(text, "90")
    plain = rule_step_labels([item], [text], [outcome], timeout=5.0)
    marked = rule_step_labels([item], [text], [outcome], timeout=5.0, path=True)
    assert [s.label for s in plain[0]] == [1.0, 1.0, 0.0]
    assert [s.label for s in marked[0]] == [1.0, 0.0, 0.0] and [s.off_path for s in marked[0]] == [False, True, False]
    bare = TaskItem(id="g", prompt="Compute (6 + 4) * 9.", verifier="math", gold="90")  # no path: left as it is
    assert [s.label for s in rule_step_labels([bare], [text], [outcome], timeout=5.0, path=True)[0]] == [1.0, 1.0, 0.0]


@pytest.mark.parametrize(
    "overrides",
    [
        ["--loop.path_labels", "true"],  # outcome supervision
        ["--loop.path_labels", "true", "--loop.supervision", "process", "--loop.step_labels", "mc_hard"],
    ],
)
def test_path_labels_need_rule_labelled_process_supervision(overrides):
    with pytest.raises(ValueError, match="path_labels marks rule step labels"):
        load_config(None, ["--data.source", "multistep", "--data.levels", "[1]", *overrides])
