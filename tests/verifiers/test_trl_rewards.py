"""Our verifiers and reward model as TRL reward functions: their signature, values, and one real TRL step."""

import importlib.util

import pytest
import torch

from verifiers.trl import code_reward, completion_text, math_reward


@pytest.fixture
def tiny_rm(tiny_encoder_dir):
    from reward_model import ScalarRewardModel

    return ScalarRewardModel.from_encoder(tiny_encoder_dir, max_length=64, seed=0)


TESTS = "def check(candidate):\n    assert candidate(2, 3) == 5\n    assert candidate(-1, 1) == 0\n"


def test_completion_text_of_plain_and_conversational_completions():
    assert completion_text("so \\boxed{5}") == "so \\boxed{5}"
    assert completion_text([{"role": "assistant", "content": "it is 5."}]) == "it is 5."
    assert (
        completion_text(
            [{"role": "assistant", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]}]
        )
        == "ab"
    )
    assert completion_text([]) == ""


def test_math_reward_scores_each_completion_against_its_answer():
    completions = [
        "2 + 3 = 5, so \\boxed{5}.",
        [{"role": "assistant", "content": "The answer is 6."}],
        "\\boxed{5} or \\boxed{6}",
        "I am not sure",
    ]
    # TRL passes every dataset column, one value per completion, plus its own extras (trainer_state, ...).
    rewards = math_reward(
        prompts=["q"] * 4, completions=completions, answer=["5", "6", "5", 5], trainer_state=None, log_metric=print
    )
    assert rewards == [1.0, 1.0, 0.0, 0.0]  # hedging between two answers earns nothing
    with pytest.raises(ValueError, match="2 completions but 1 values in column 'answer'"):
        math_reward(prompts=["q", "q"], completions=["1", "2"], answer=["1"])


def test_code_reward_runs_tests_in_the_sandbox():
    right = "```python\ndef add(a, b):\n    return a + b\n```"
    half = "def add(a, b):\n    return 5"  # passes the first assert only
    body_only = "    return a + b\n"
    rewards = code_reward(
        prompts=["p"] * 3,
        completions=[right, half, [{"role": "assistant", "content": body_only}]],
        tests=[TESTS] * 3,
        entry_point=["add"] * 3,
        code_prompt=[None, None, 'def add(a, b):\n    """a + b"""\n'],
    )
    assert rewards == [1.0, 0.5, 1.0]  # the fraction of the asserts that passed
    asserts = ["assert add(2, 3) == 5", "assert add(0, 0) == 0", "assert add(1, 1) == 2"]
    assert code_reward(prompts=["p"], completions=[half], tests=[asserts]) == [pytest.approx(1 / 3)]  # MBPP style


def test_reward_model_as_a_trl_reward_function(tiny_rm):
    reward = tiny_rm.as_reward_function(batch_size=2)
    prompts = ["What is 2 + 3?", [{"role": "system", "content": "be brief"}, {"role": "user", "content": "1 + 1?"}]]
    completions = ["5", [{"role": "assistant", "content": "2"}]]
    expected = tiny_rm.reward(["What is 2 + 3?", "1 + 1?"], ["5", "2"])
    assert reward(prompts=prompts, completions=completions, answer=["5", "2"]) == pytest.approx(expected.tolist())
    assert all(0.0 <= r <= 1.0 for r in reward(prompts=prompts, completions=completions))


@pytest.mark.skipif(importlib.util.find_spec("trl") is None, reason="TRL is not installed (pip install -e '.[bench]')")
@pytest.mark.filterwarnings("ignore:.*checkpointing.*deprecated:FutureWarning")  # TRL 1.16's calls, not ours
def test_one_trl_grpo_step_with_our_reward_functions(tiny_policy_dir, tiny_rm, tmp_path):
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import GRPOConfig, GRPOTrainer

    calls = []

    def spied_math_reward(prompts, completions, answer, **kwargs):
        rewards = math_reward(prompts, completions, answer, **kwargs)
        calls.append((len(completions), rewards))
        return rewards

    rows = [{"prompt": [{"role": "user", "content": f"What is {i} + 1?"}], "answer": str(i + 1)} for i in range(4)]
    args = GRPOConfig(
        output_dir=str(tmp_path),
        per_device_train_batch_size=4,
        num_generations=4,
        max_completion_length=8,
        max_steps=1,
        learning_rate=1e-3,
        report_to=[],
        save_strategy="no",
        use_cpu=True,
        logging_steps=1,
        bf16=False,
    )
    trainer = GRPOTrainer(
        model=AutoModelForCausalLM.from_pretrained(tiny_policy_dir),
        processing_class=AutoTokenizer.from_pretrained(tiny_policy_dir),
        reward_funcs=[spied_math_reward, tiny_rm.as_reward_function()],
        args=args,
        train_dataset=Dataset.from_list(rows),
    )
    before = {k: v.clone() for k, v in trainer.model.state_dict().items()}
    trainer.train()
    assert calls and calls[0][0] == 4 and all(r in (0.0, 1.0) for r in calls[0][1])
    assert trainer.state.global_step == 1
    assert any(not torch.equal(v, before[k]) for k, v in trainer.model.state_dict().items()) or all(
        r == calls[0][1][0] for r in calls[0][1]
    )  # equal rewards in a group: zero advantage, no update
