"""Scarce labels: the labelled draws, the withheld answers, what rewards the rows without one, and the audit."""

import json

import pytest
import torch

from orchestration.arithmetic import ArithmeticTasks, split_of
from orchestration.config import load_config
from orchestration.reward_terms import RewardTermConfig, TermBatch, term_values
from orchestration.scarce_labels import ScarceLabels, is_labelled_draw, withheld_figures, withheld_gold
from orchestration.tasks import TaskItem
from verifiers import Outcome
from verifiers.outcome import UNLABELLED

PHRASINGS = ("bare", "worded", "word")


def stream(seed=0, n=8, share=0.25, withhold=True, levels=(2,)):
    base = ArithmeticTasks(list(levels), "train", seed, 0.3, PHRASINGS, worked_example=True)
    return base, ScarceLabels(base, n, share, withhold)


def test_labelled_draws_come_at_the_share_and_visit_each_problem_once_per_round():
    assert [i for i in range(12) if is_labelled_draw(i, 0.25)] == [3, 7, 11]
    assert [i for i in range(6) if is_labelled_draw(i, 0.5)] == [1, 3, 5]
    assert all(is_labelled_draw(i, 1.0) for i in range(5))
    base, scarce = stream(n=8)
    assert len(set(scarce.keys)) == 8 and all(split_of(k, 0.3) == "train" for k in scarce.keys)
    labelled = [scarce.item(i) for i in range(200) if is_labelled_draw(i, 0.25)]  # 50 draws
    keys = [item.id.removeprefix("arith-").removesuffix("-worded").removesuffix("-word") for item in labelled]
    for start in range(0, 48, 8):  # each round of 8 draws asks each labelled problem exactly once
        assert sorted(keys[start : start + 8]) == sorted(scarce.keys)
    assert all(item.verifier == "math" and item.gold == withheld_gold(item.id) for item in labelled)
    # the phrasings in turn, as the plain stream takes them
    assert [item.meta["phrasing"] for item in labelled[:3]] == ["bare", "worded", "word"]


def test_every_seed_shares_the_labelled_problems_but_not_their_order():
    _, zero = stream(seed=0)
    _, one = stream(seed=1)
    assert zero.keys == one.keys
    order = [[s.item(i).id for i in range(3, 64, 4)] for s in (zero, one)]
    assert order[0] != order[1] and sorted(order[0]) != [] and len(order[0]) == 16


def test_the_other_rows_are_the_plain_stream_with_the_answer_withheld_or_kept():
    base, withheld = stream(withhold=True)
    _, oracle = stream(withhold=False)
    for i in range(40):
        if is_labelled_draw(i, 0.25):
            assert withheld.item(i) == oracle.item(i)
            continue
        plain, hidden, kept = base.item(i), withheld.item(i), oracle.item(i)
        assert kept == plain and kept.gold  # the oracle: the same row, its answer kept
        assert (hidden.id, hidden.prompt) == (plain.id, plain.prompt)  # the same prompt
        assert hidden.verifier == "none" and hidden.gold is None and hidden.meta["labelled"] is False
        assert withheld_gold(hidden.id) == plain.gold  # recoverable afterwards, never held by the loop


def test_more_labelled_problems_than_a_level_has_is_an_error():
    with pytest.raises(ValueError, match=r"labelled_problems=500: levels \[1\] have only \d+ distinct"):
        stream(n=500, levels=(1,))
    with pytest.raises(ValueError, match="share in \\(0, 1\\]"):
        stream(share=0.0)


@pytest.mark.parametrize(
    "task_id, gold",
    [
        ("arith-1:3+4", "7"),
        ("arith-2:7*8-worded", "56"),
        ("arith-2:12-5-word", "7"),
        ("arith-3:12-47", "-35"),
        ("arith-4:7*12+5-word", "89"),
        ("arith-5:2x+3=11", None),
        ("multistep-1:(6+4)*9", None),
        ("q17", None),
        ("arith-2:7*8+1", None),  # a level-2 key never has a third operand
    ],
)
def test_withheld_gold_is_recomputed_from_the_task_id(task_id, gold):
    assert withheld_gold(task_id) == gold


def test_withheld_gold_agrees_with_the_generator_on_every_level_it_reads():
    for level in (1, 2, 3, 4):
        for item in ArithmeticTasks(level, "train", 5, 0.3, PHRASINGS).take(60):
            assert withheld_gold(item.id) == item.gold, item.id


def test_scarce_label_config_errors_name_the_key():
    with pytest.raises(ValueError, match="data.labelled_problems .* needs data.source=arithmetic"):
        load_config(None, ["--data.source", "multistep", "--data.labelled_problems", "8"])
    with pytest.raises(ValueError, match="set data.labelled_problems"):
        load_config(None, ["--data.unlabelled", "true"])
    with pytest.raises(ValueError, match="labelled_share is the share of labelled draws"):
        load_config(None, ["--data.labelled_share", "0.5"])
    with pytest.raises(ValueError, match="there are none without data.unlabelled"):
        load_config(None, ["--loop.unlabelled_reward", "none"])
    scarce = ["--data.labelled_problems", "8", "--data.unlabelled", "true"]
    with pytest.raises(ValueError, match="the reward's rm term already scores every prompt"):
        load_config(None, [*scarce, "--loop.reward_source", "rm", "--loop.unlabelled_reward", "frozen_rm"])
    assert load_config(None, scarce).data.labelled_share == 0.25


@pytest.mark.parametrize(
    "source, unlabelled_reward, resolved, plan_rm",
    [
        ("verifier", None, "rm", "live"),
        ("verifier", "frozen_rm", "frozen_rm", "frozen"),
        ("verifier", "none", "none", None),
        ("frozen_rm", None, "frozen_rm", "frozen"),
        ("mix", None, "rm", "live"),
    ],
)
def test_unlabelled_reward_resolves_with_the_reward(source, unlabelled_reward, resolved, plan_rm):
    args = ["--data.labelled_problems", "8", "--data.unlabelled", "true", "--loop.reward_source", source]
    cfg = load_config(None, args + (["--loop.unlabelled_reward", unlabelled_reward] if unlabelled_reward else []))
    assert (cfg.loop.unlabelled_reward, cfg.plan.rm) == (resolved, plan_rm)


def test_the_verifier_term_reads_the_named_rm_on_rows_without_an_answer():
    item = TaskItem(id="x", prompt="p", verifier="math", gold="1")
    outcomes = [Outcome(True, 1.0, "correct"), Outcome(False, 0.0, UNLABELLED), Outcome(False, 0.0, "wrong")]
    live, frozen = torch.tensor([0.9, 0.7, 0.2]), torch.tensor([0.6, 0.4, 0.3])

    def values(fill):
        batch = TermBatch([item] * 3, ["a"] * 3, [[1]] * 3, [False] * 3, outcomes, live, frozen, 8, fill)
        return term_values(RewardTermConfig("verifier"), batch).tolist()

    assert values("live") == pytest.approx([1.0, 0.7, 0.0])
    assert values("frozen") == pytest.approx([1.0, 0.4, 0.0])
    assert values(None) == [1.0, 0.0, 0.0]


def test_bootstrap_samples_only_prompts_with_an_answer():
    from orchestration.bootstrap import labelled_items

    _, scarce = stream(n=8)
    items = labelled_items(scarce, 5)
    assert [i.id for i in items] == [scarce.item(i).id for i in (3, 7, 11, 15, 19)]
    assert all(i.gold for i in items)


def test_withheld_figures_re_verify_what_the_rm_paid(tmp_path):
    rows = []
    # step 1: two withheld rows of 7 * 8 (one right, one wrong), one labelled row (right); step 2: one withheld, wrong
    # (the two withheld rows of step 1 are one group: the RM scored the right one higher, brevity the wrong one)
    for step, task_id, response, reason, correct, reward in [
        (1, "arith-2:7*8", "7 * 8 = 56. \\boxed{56}", UNLABELLED, False, 0.9),
        (1, "arith-2:7*8", "\\boxed{54}", UNLABELLED, False, 0.5),
        (1, "arith-2:8+1", "\\boxed{9}", "correct", True, 1.0),
        (2, "arith-2:5-3-word", "\\boxed{3}", UNLABELLED, False, 0.8),
        (2, "arith-2:8+1", "\\boxed{10}", "wrong_answer", False, 0.0),
    ]:
        rows.append(
            {
                "step": step,
                "task_id": task_id,
                "group": f"{step}:0:0",
                "prompt": "p",
                "response": response,
                "outcome": float(correct),
                "correct": correct,
                "reason": reason,
                "verifier": "none" if reason == UNLABELLED else "math",
                "reward": reward,
                "rm_score": reward if reason == UNLABELLED else None,
                "truncated": False,
            }
        )
    (tmp_path / "outcomes.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    figures = withheld_figures(str(tmp_path), window=1)
    assert figures["first"] == {
        "accuracy": 0.5,
        "reward": pytest.approx(0.7),
        "labelled_accuracy": 1.0,
        "rm_ranking": 1.0,
        "withheld_rows": 2,
        "labelled_rows": 1,
        "pairs": 1,
    }
    assert figures["last"]["accuracy"] == 0.0 and figures["last"]["reward"] == pytest.approx(0.8)
    assert figures["last"]["labelled_accuracy"] == 0.0 and figures["last"]["pairs"] == 0  # one withheld row: no pair
    assert figures["ranking"] == {"rm": 1.0, "shorter": 0.0, "pairs": 1}


def _pushed(group: str, reward, withheld: bool):
    from types import SimpleNamespace

    return SimpleNamespace(group=group, reward=reward, reason=UNLABELLED if withheld else "correct")


def test_advantage_push_reforms_each_batchs_advantages_with_the_runs_scale():
    from orchestration.scarce_labels import advantage_push

    rows = [
        # step 1, process 0: a withheld group scored 0.9 / 0.8, a labelled one right / wrong, a withheld tie
        *(_pushed("1:0:0", r, True) for r in (0.9, 0.8)),
        *(_pushed("1:0:1", r, False) for r in (1.0, 0.0)),
        *(_pushed("1:0:2", r, True) for r in (0.5, 0.5)),
        # step 2: a row without a reward, so the batch is left out
        *(_pushed("2:0:0", r, True) for r in (0.3, None)),
    ]
    counts = {"withheld_groups": 2, "withheld_moved": 1, "labelled_groups": 1, "labelled_moved": 1}
    # group scale: |r - mean| / (std + 1e-4) with the unbiased std, sqrt(2) * |r - mean| for a pair, so each moved
    # pair carries nearly the same push however small its difference
    withheld = 2 * 0.05 / (0.05 * 2**0.5 + 1e-4)
    labelled = 2 * 0.5 / (0.5 * 2**0.5 + 1e-4)
    assert advantage_push(rows, "group") == {
        "withheld_share": pytest.approx(withheld / (withheld + labelled)),
        **counts,
        "batches_skipped": 1,
    }
    # batch scale (and none): one divisor for the batch, so the shares are those of |r - group mean|: 0.1 vs 1.0
    for scale in ("batch", "none"):
        assert advantage_push(rows, scale)["withheld_share"] == pytest.approx(0.1 / 1.1)
    # groups of unequal size in one batch: not the loop's shape, left out
    ragged = [_pushed("1:0:0", 1.0, False), _pushed("1:0:0", 0.0, False), _pushed("1:0:1", 1.0, False)]
    assert advantage_push(ragged, "group")["batches_skipped"] == 1
    assert advantage_push(ragged, "group")["labelled_groups"] == 0
