import os
import re

import pytest
import torch

from orchestration.config import load_config
from orchestration.reward_terms import (
    RewardTermConfig,
    RewardTermError,
    TermBatch,
    combine_terms,
    implied_source,
    length_penalty,
    repetition_penalty,
    shorthand_terms,
    term_values,
)
from orchestration.rewards import verify
from orchestration.tasks import TaskItem
from verifiers import Outcome
from verifiers.outcome import UNLABELLED

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

MATH = TaskItem(id="m", prompt="What is 2 + 3? Put your final answer in \\boxed{}.", verifier="math", gold="5")
CODE = TaskItem(id="c", prompt="Write inc.", verifier="code", tests="assert inc(1) == 2\n", entry_point="inc")
OUTCOMES = [Outcome(True, 1.0, "correct"), Outcome(False, 0.0, "wrong_answer"), Outcome(False, 0.5, "1/2 tests")]


def batch(outcomes=OUTCOMES, live=None, frozen=None, items=None, texts=None, lengths=None, max_new_tokens=64):
    n = len(outcomes)
    return TermBatch(
        items or [MATH] * n,
        texts or ["x"] * n,
        [[1] * m for m in (lengths or [3] * n)],
        [False] * n,
        outcomes,
        live,
        frozen,
        max_new_tokens,
    )


def rewards(source, live, mix_weight=0.5, outcomes=OUTCOMES):
    return combine_terms(shorthand_terms(source, mix_weight), batch(outcomes, live=live, frozen=live))[0]


def test_the_reward_source_shorthands():
    scores = torch.tensor([0.8, 0.2, 0.6])  # RM scores on the [0, 1] scale (ScalarRewardModel.reward)
    assert rewards("verifier", scores).tolist() == [1.0, 0.0, 0.5]
    for source in ("rm", "frozen_rm"):
        assert rewards(source, scores).tolist() == pytest.approx([0.8, 0.2, 0.6])
        assert rewards(source, None).tolist() == [1.0, 0.0, 0.5]  # warm-up: no RM yet
    # mix 0.25: 0.25 * rm + 0.75 * verifier = [0.2 + 0.75, 0.05 + 0, 0.15 + 0.375]
    mixed = rewards("mix", scores, 0.25)
    assert mixed.tolist() == pytest.approx([0.95, 0.05, 0.525])
    assert ((mixed >= 0) & (mixed <= 1)).all()  # both terms in [0, 1]: so is every blend


def test_unlabelled_prompts_get_the_rm_score_whatever_the_source():
    outcomes = [Outcome(True, 1.0, "correct"), Outcome(False, 0.0, UNLABELLED)]
    scores = torch.tensor([0.6, 0.3])
    assert rewards("verifier", scores, outcomes=outcomes).tolist() == pytest.approx([1.0, 0.3])
    assert rewards("mix", scores, outcomes=outcomes).tolist() == pytest.approx([0.8, 0.3])  # not blended with 0
    assert rewards("rm", scores, outcomes=outcomes).tolist() == pytest.approx([0.6, 0.3])
    assert rewards("rm", None, outcomes=outcomes).tolist() == [1.0, 0.0]  # no RM yet: no signal
    unlabelled = TaskItem(id="u", prompt="Write a haiku.", verifier="none")
    assert [o.reason for o in verify([unlabelled, MATH], ["a haiku", "\\boxed{5}"], timeout=5.0)] == [
        UNLABELLED,
        "correct",
    ]


def test_the_frozen_rm_term_reads_the_frozen_scores():
    live, frozen = torch.tensor([0.9, 0.1, 0.5]), torch.tensor([0.2, 0.7, 0.4])
    values = term_values(RewardTermConfig("frozen_rm"), batch(live=live, frozen=frozen))
    assert values.tolist() == pytest.approx([0.2, 0.7, 0.4])


def test_length_penalty_by_hand():
    # max 64, buffer 16: free up to 48 tokens, then -1/16 per token, -1 at 64 (a completion cut at the limit)
    assert [length_penalty(n, 64, 16) for n in (0, 48, 49, 56, 64, 70)] == [0.0, 0.0, -1 / 16, -0.5, -1.0, -1.0]
    # too short: 5 of 10 tokens is -0.5; both penalties together never pass -1
    assert length_penalty(5, 64, 16, min_tokens=10) == -0.5
    assert length_penalty(0, 64, 16, min_tokens=10) == -1.0
    assert length_penalty(5, 8, 4, min_tokens=10) == -0.75  # -0.25 overlong, -0.5 short
    assert length_penalty(8, 8, 2, min_tokens=16) == -1.0  # -1 overlong, -0.5 short: floored at -1
    values = term_values(RewardTermConfig("length"), batch(lengths=[10, 56, 64]))  # buffer = 64 // 4 = 16
    assert values.tolist() == [0.0, -0.5, -1.0]


def test_repetition_penalty_by_hand():
    # "a b c a b c": 3-grams abc bca cab abc -> 3 distinct of 4 -> -(1 - 3/4)
    assert repetition_penalty("a b c a b c") == pytest.approx(-0.25)
    assert repetition_penalty("A b c a B c") == pytest.approx(-0.25)  # case-folded
    assert repetition_penalty("the cat sat on the mat") == 0.0
    assert repetition_penalty("two words") == 0.0  # shorter than one 3-gram
    assert repetition_penalty("go go go go go", n=1) == pytest.approx(-0.8)  # 1 distinct of 5
    assert repetition_penalty("yes " * 100) == pytest.approx(-(1 - 1 / 98))


def test_format_term_wants_the_box_for_math_and_a_fence_for_code():
    texts = ["so \\boxed{5}.", "so 5.", "```python\ndef inc(x):\n    return x + 1\n```", "def inc(x): return x + 1"]
    values = term_values(
        RewardTermConfig("format"), batch(OUTCOMES + [OUTCOMES[0]], items=[MATH, MATH, CODE, CODE], texts=texts)
    )
    assert values.tolist() == [1.0, 0.0, 1.0, 0.0]


def test_combine_terms_weights_each_term():
    terms = [
        RewardTermConfig("verifier", 1.0),
        RewardTermConfig("format", 0.1),
        RewardTermConfig("length", 0.5, buffer=4),
        RewardTermConfig("repetition", 0.0),
    ]
    texts = ["\\boxed{5}", "no box", "a b c a b c"]
    total, values = combine_terms(terms, batch(texts=texts, lengths=[2, 62, 64]))
    # verifier [1, 0, 0.5]; format [1, 0, 0]; length (max 64, buffer 4) [0, -0.5, -1]; repetition weight 0
    assert total.tolist() == pytest.approx([1.1, -0.25, 0.0])
    expected = {
        "verifier": [1.0, 0.0, 0.5],
        "format": [1.0, 0.0, 0.0],
        "length": [0.0, -0.5, -1.0],
        "repetition": [0.0, 0.0, -0.25],
    }
    assert list(values) == list(expected)
    for name, v in values.items():
        assert v.tolist() == pytest.approx(expected[name]), name


def good_term(prompts, completions, answer, **kwargs):
    return [1.0 if a in c else None for c, a in zip(completions, answer)]


def wrong_length_term(prompts, completions, **kwargs):
    return [1.0]


def nan_term(prompts, completions, **kwargs):
    return [float("nan")] * len(completions)


def test_user_terms_are_called_like_trl_reward_functions():
    texts = ["\\boxed{5}", "\\boxed{6}", "5"]
    trl_math = term_values(RewardTermConfig("verifiers.trl.math_reward"), batch(texts=texts))
    assert trl_math.tolist() == [1.0, 0.0, 1.0]  # our verifier, as TRL would call it, with the task's answer
    mine = term_values(RewardTermConfig(f"{__name__}.good_term"), batch(texts=["5", "6", "55"]))
    assert mine.tolist() == [1.0, 0.0, 1.0]  # None ("does not apply") counts 0
    with pytest.raises(RewardTermError, match=r"wrong_length_term' returned 1 values for 3 completions"):
        term_values(RewardTermConfig(f"{__name__}.wrong_length_term"), batch())
    with pytest.raises(RewardTermError, match=r"nan_term' returned nan for completion 0 \(task m\)"):
        term_values(RewardTermConfig(f"{__name__}.nan_term"), batch())


def test_implied_source():
    def terms(*names):
        return [RewardTermConfig(name) for name in names]

    assert implied_source(terms("verifier", "format")) == "verifier"
    assert implied_source(terms("rm", "length")) == "rm"
    assert implied_source(terms("rm", "verifier")) == "mix"
    assert implied_source(terms("frozen_rm")) == "frozen_rm"
    assert implied_source([RewardTermConfig("rm", 0.0), RewardTermConfig("verifier")]) == "verifier"  # logged only
    with pytest.raises(ValueError, match="either rm .* or frozen_rm"):
        implied_source(terms("rm", "frozen_rm"))


@pytest.mark.parametrize(
    "overrides, message",
    [
        (
            ["--loop.reward_terms", "[{name: verifier}]", "--loop.reward_source", "rm"],
            r"reward_source=rm disagrees with reward_terms \['verifier'\], which amount to reward_source=verifier",
        ),
        (
            ["--loop.reward_terms", "[{name: nosuchpackage.fn}]"],
            r"loop.reward_terms\[0\]: reward term 'nosuchpackage.fn': cannot import it",
        ),
        (["--loop.reward_terms", "[{name: brevity}]"], "neither a built-in"),
        (["--loop.reward_terms", "[{name: format}, {name: format, weight: 2}]"], r"names \['format'\] more than once"),
        (["--loop.reward_terms", "[{name: length, buffer: 0}]"], "buffer must be >= 1"),
        (
            ["--loop.reward_terms", "[{name: format}]", "--loop.algorithm", "online_rft"],
            "reward_terms would be ignored",
        ),
    ],
)
def test_reward_term_config_errors(overrides, message):
    from orchestration.dataclass_yaml import ConfigError

    with pytest.raises(ConfigError, match=message):
        load_config(None, overrides)


def _plan(overrides):
    cfg = load_config(None, overrides).loop
    return cfg.reward_source, cfg.format_weight, [(t.name, t.weight) for t in cfg.terms]


@pytest.mark.parametrize(
    "overrides, plan",
    [
        ([], ("mix", 0.1, [("rm", 0.5), ("verifier", 0.5), ("format", 0.1)])),  # the default
        (["--loop.reward_source", "rm"], ("rm", 0.1, [("rm", 1.0), ("format", 0.1)])),
        (["--loop.format_weight", "0"], ("mix", 0.0, [("rm", 0.5), ("verifier", 0.5)])),
        (
            ["--loop.reward_source", "verifier", "--loop.format_weight", "0.3"],
            ("verifier", 0.3, [("verifier", 1.0), ("format", 0.3)]),
        ),
        # what the algorithm needs, when the user chose nothing: no complaint about a default they never set
        (["--loop.algorithm", "online_rft"], ("verifier", 0.0, [("verifier", 1.0)])),
        (["--loop.algorithm", "rft"], ("verifier", 0.0, [("verifier", 1.0)])),
        (["--loop.supervision", "process", "--data.source", "multistep"], ("verifier", 0.0, [("verifier", 1.0)])),
        # terms given: they are the reward, and reward_source says what they amount to
        (
            ["--loop.reward_terms", "[{name: verifier}, {name: format, weight: 0.1}]"],
            ("verifier", 0.0, [("verifier", 1.0), ("format", 0.1)]),
        ),
    ],
)
def test_unset_reward_keys_resolve_to_what_the_config_needs(overrides, plan):
    assert _plan(overrides) == plan


@pytest.mark.parametrize(
    "overrides, message",
    [
        (["--loop.algorithm", "online_rft", "--loop.reward_source", "mix"], "set reward_source=verifier"),
        (["--loop.algorithm", "online_rft", "--loop.format_weight", "0.1"], "set format_weight 0"),
        (
            ["--loop.reward_terms", "[{name: verifier}]", "--loop.format_weight", "0.1"],
            "list {name: format, weight: ...} among them",
        ),
        (["--loop.format_weight", ".nan"], "format_weight must be finite"),
    ],
)
def test_a_reward_conflict_the_user_wrote_stays_an_error(overrides, message):
    from orchestration.dataclass_yaml import ConfigError

    with pytest.raises(ConfigError, match=re.escape(message)):
        load_config(None, overrides)


def test_a_resolved_config_reloads_to_the_same_config(tmp_path):
    """config.yaml holds the resolved values; loading it back (or resuming) gives the same config, and a partly
    given loop section derives anew what it left unset."""
    from orchestration.dataclass_yaml import dump_yaml, to_dict

    cfg = load_config(None, ["--loop.algorithm", "online_rft"])
    dump_yaml(cfg, str(tmp_path / "config.yaml"))
    assert to_dict(load_config(str(tmp_path / "config.yaml"), [])) == to_dict(cfg)
    assert load_config(None, ["--loop.max_steps", "3"]).loop.reward_source == "mix"


def test_reward_plan_says_what_rewards_a_completion():
    plan = load_config(None, []).plan.describe()
    assert plan.startswith("reward plan: 0.5 * rm + 0.5 * verifier + 0.1 * format, one per completion")
    assert (
        "until the RM's first version exists (its first update, or rm.init_from) the RM terms read the verifier" in plan
    )
    assert "coefficient 1 on verifier-correct" in load_config(None, ["--loop.algorithm", "rft"]).plan.describe()
    unlabelled = load_config(
        None,
        [
            "--loop.reward_source",
            "mix",
            "--data.source",
            "math",
            "--data.path",
            os.path.join(REPO, "configs", "data", "gsm8k_sample.jsonl"),
            "--data.unlabelled",
            "true",
        ],
    ).plan.describe()
    assert "on prompts without a gold answer (data.unlabelled) the verifier term reads the live RM" in unlabelled


@pytest.mark.parametrize(
    "args, rm, source, step_level, names",
    [
        ([], "live", "mix", False, ["rm", "verifier", "format"]),
        (["--loop.reward_source", "rm"], "live", "rm", False, ["rm", "format"]),
        (["--loop.reward_source", "frozen_rm"], "frozen", "frozen_rm", False, ["frozen_rm", "format"]),
        (["--loop.reward_source", "verifier"], None, "verifier", False, ["verifier", "format"]),
        (
            ["--loop.reward_terms", "[{name: verifier}, {name: rm, weight: 0.3}]"],
            "live",
            "mix",
            False,
            ["verifier", "rm"],
        ),
        (["--loop.algorithm", "online_rft"], None, "verifier", False, ["verifier"]),
        (
            ["--loop.supervision", "process", "--data.source", "multistep", "--loop.reward_source", "frozen_rm"],
            "frozen",
            "frozen_rm",
            True,
            ["frozen_rm"],
        ),
    ],
)
def test_the_plan_is_resolved_once_from_any_spelling(args, rm, source, step_level, names):
    plan = load_config(None, args).plan
    assert (plan.rm, plan.source, plan.step_level, [t.name for t in plan.terms]) == (rm, source, step_level, names)


def test_reward_source_and_terms_resolve_to_one_reward():
    cfg = load_config(None, []).loop
    assert cfg.source == "mix"
    # the shorthand written out in full agrees with it, even where a zero weight hides a term
    cfg = load_config(
        None,
        [
            "--loop.reward_source",
            "mix",
            "--loop.mix_weight",
            "1.0",
            "--loop.reward_terms",
            "[{name: rm, weight: 1.0}, {name: verifier, weight: 0.0}]",
        ],
    ).loop
    assert cfg.source == "mix"
