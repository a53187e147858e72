import pytest

from orchestration.buffer import OutcomeBuffer
from orchestration.config import load_config
from orchestration.curriculum import Curriculum
from orchestration.dataclass_yaml import ConfigError
from orchestration.metrics import read_metrics
from orchestration.online import OnlineTrainer
from verifiers import Outcome


def levels_of(items):
    return [item.meta["level"] for item in items]


def test_starts_on_the_first_level_and_opens_the_next_as_it_saturates():
    c = Curriculum([1, 2], seed=0, held_out_fraction=0.3, window=4)
    assert levels_of(c.draw(4)) == [1] * 4
    c.record([(1, 1.0), (1, 0.75), (1, 1.0)])
    assert c.opened == 1 and c.accuracy(1) is None  # the window is not full yet
    c.record([(1, 0.75)])  # mean 0.875 > 0.8: saturated
    assert c.opened == 2 and c.accuracy(1) == pytest.approx(0.875)
    assert levels_of(c.draw(4)) == [2] * 4  # a saturated level is no longer drawn
    assert c.metrics() == {"curriculum/level": 2.0, "curriculum/level1_accuracy": pytest.approx(0.875)}


def test_levels_in_the_band_share_the_prompts_in_turn():
    c = Curriculum([1, 2, 3], seed=0, held_out_fraction=0.3, window=2)
    c.record([(1, 1.0), (1, 1.0)])  # opens 2
    c.record([(2, 0.5), (2, 0.5), (1, 0.5), (1, 0.5)])  # level 1 falls back into the band; 2 is in it
    assert c.opened == 2 and c.active() == [1, 2]
    assert levels_of(c.draw(5)) == [1, 2, 1, 2, 1]


def test_when_no_level_is_in_the_band_the_nearest_one_is_drawn():
    c = Curriculum([1, 2, 3], seed=0, held_out_fraction=0.3, band=(0.25, 0.75), window=2)
    c.record([(1, 1.0), (1, 1.0), (2, 0.875), (2, 0.875)])  # 1 and 2 saturate: 3 opens
    assert c.opened == 3
    c.record([(3, 0.125), (3, 0.125)])  # too hard, 0.125 below the band; level 2 is 0.125 above: a tie
    assert c.active() == [3]  # ties go to the harder level
    c.record([(3, 0.0), (3, 0.0)])  # now 0.25 away
    assert c.active() == [2] and levels_of(c.draw(3)) == [2, 2, 2]
    assert Curriculum([4], seed=0, held_out_fraction=0.3, window=1).active() == [4]


def test_draws_are_deterministic_and_resume_from_the_state():
    a = Curriculum([1, 2], seed=3, held_out_fraction=0.3, window=2)
    b = Curriculum([1, 2], seed=3, held_out_fraction=0.3, window=2)
    assert a.draw(3) == b.draw(3)
    a.record([(1, 1.0), (1, 1.0)])
    saved = a.state_dict()
    resumed = Curriculum([1, 2], seed=3, held_out_fraction=0.3, window=2)
    resumed.load_state_dict(saved)
    assert resumed.draw(6) == a.draw(6) and resumed.state_dict() == a.state_dict()
    ids = [item.id for item in a.draw(40) if item.meta["level"] == 2]
    assert len(ids) == 40 and all(item_id.startswith("arith-2:") for item_id in ids)


@pytest.mark.parametrize(
    "overrides, message",
    [
        (["--data.curriculum", "true", "--data.source", "humaneval"], "has none"),
        (["--data.curriculum", "true", "--data.curriculum_band", "[0.2]"], r"must be \[low, high\]"),
    ],
)
def test_curriculum_config_errors(overrides, message):
    with pytest.raises(ConfigError, match=message):
        load_config(None, overrides)


def level_one_is_easy(self, items, rollouts):
    return [Outcome(item.meta["level"] == 1, float(item.meta["level"] == 1), "x") for item in items]


def test_a_loop_run_moves_on_to_level_two_and_resumes_exactly(tiny_run_args, tmp_path, monkeypatch):
    monkeypatch.setattr(OnlineTrainer, "_verify", level_one_is_easy)
    args = tiny_run_args(
        **{
            "data.levels": [1, 2],
            "data.curriculum": True,
            "data.curriculum_window": 3,
            "data.eval_size": 4,
            "loop.reward_source": "verifier",
            "loop.max_steps": 4,
        }
    )
    full, split = tmp_path / "full", tmp_path / "split"
    OnlineTrainer(load_config(None, args), str(full)).run()
    rows = read_metrics(str(full / "metrics.jsonl"))
    # 2 prompts a step: level 1's window of 3 groups is full after step 2, at accuracy 1: level 2 opens
    assert [m["curriculum/level"] for m in rows] == [1.0, 2.0, 2.0, 2.0]
    assert rows[-1]["curriculum/level2_accuracy"] == 0.0
    for name in ("greedy", "sampled"):  # held out on both levels, each reported
        assert rows[-1][f"eval/{name}_accuracy_level1"] == 1.0 and rows[-1][f"eval/{name}_accuracy_level2"] == 0.0
        assert rows[0][f"eval/initial_{name}_accuracy_level1"] == 1.0
    buffer = OutcomeBuffer(str(full / "outcomes.jsonl"))
    stored = buffer.read(range(len(buffer)))
    assert [row.task_id.split(":")[0] for row in stored[::4]] == ["arith-1"] * 4 + ["arith-2"] * 4
    # stopped after step 2 (a checkpoint) and resumed: the same prompts, in the same order
    OnlineTrainer(load_config(None, args + ["--loop.max_steps", "2"]), str(split)).run()
    OnlineTrainer(load_config(None, args), str(split)).run()
    resumed = OutcomeBuffer(str(split / "outcomes.jsonl"))
    assert [row.task_id for row in resumed.read(range(len(resumed)))] == [row.task_id for row in stored]
