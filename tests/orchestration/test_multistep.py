import pytest

from orchestration.config import load_config
from orchestration.data_sources import build_sources
from orchestration.multistep import LEVELS, MultiStepTasks
from verifiers.math import check_steps


@pytest.mark.parametrize("level", LEVELS)
def test_problems_are_deterministic_split_and_their_golds_right(level):
    train = MultiStepTasks(level, "train", seed=0)
    items = [train.item(i) for i in range(50)]
    assert [i.id for i in items] == [MultiStepTasks(level, "train", seed=0).item(i).id for i in range(50)]
    held_out = {MultiStepTasks(level, "test", seed=5).item(i).id for i in range(200)}
    assert not held_out & {train.item(i).id for i in range(200)}
    for item in items:
        assert item.meta["level"] == level and "one step per line" in item.prompt and "\\boxed{}" in item.prompt
        claim = item.prompt.split(": ", 1)[1] if level == 4 else item.prompt[len("Compute "):].split(". ")[0]
        claim = claim.split(". ")[0].rstrip(".")
        if level == 4:  # the equation holds at the gold solution, and not one off it
            assert [s.verdict for s in check_steps(claim, substitute=item.meta["substitute"])] == ["true"]
            assert [s.verdict for s in check_steps(claim, substitute={"x": str(int(item.gold) + 1)})] == ["false"]
        else:  # the expression equals the gold, exactly (integer division is exact by construction)
            assert [s.verdict for s in check_steps(f"{claim} = {item.gold}")] == ["true"], claim
            assert claim.count("+") + claim.count("*") + claim.count("-") + claim.count("/") == level + 1


def test_an_honest_step_by_step_answer_is_labelled_good_throughout():
    item = MultiStepTasks(3, "train").item(0)  # ((a + b) * c - d) / e
    expression = item.prompt[len("Compute "):].split(". ")[0]
    a_b = expression.split(")")[0].lstrip("(")
    a, b = (int(x) for x in a_b.split(" + "))
    rest = expression.split(")", 1)[1]
    c = int(rest.split("*")[1].split("-")[0])
    d = int(rest.split("-")[1].split(")")[0])
    e = int(rest.split("/")[1])
    lines = [f"{a} + {b} = {a + b}", f"{a + b} * {c} = {(a + b) * c}", f"{(a + b) * c} - {d} = {(a + b) * c - d}",
             f"{(a + b) * c - d} / {e} = {((a + b) * c - d) // e}", f"The answer is \\boxed{{{item.gold}}}."]
    judged = check_steps("\n".join(lines), item.gold, substitute=item.meta.get("substitute"))
    assert [s.label for s in judged] == [1.0] * 5


def test_the_data_source_and_its_level_check():
    cfg = load_config(None, ["--data.source", "multistep", "--data.levels", "[2, 4]", "--data.eval_size", "8"])
    train, held_out = build_sources(cfg.data, seed=0)
    assert [train.item(i).meta["level"] for i in range(4)] == [2, 4, 2, 4]
    assert len(held_out) == 8 and {item.meta["level"] for item in held_out} == {2, 4}
    with pytest.raises(ValueError, match="multistep levels must be a non-empty subset"):
        build_sources(load_config(None, ["--data.source", "multistep", "--data.levels", "[5]"]).data, seed=0)
