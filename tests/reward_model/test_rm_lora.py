"""LoRA on the reward model's backbone (peft's inject_adapter_in_model): a fresh adapter changes nothing, only
the adapters and the head train, save/load rebuilds the same model, a saved optimizer state resumes exactly,
and wrong settings fail with messages that say what to change."""

import copy
import json

import pytest
import torch

pytest.importorskip("peft")

from orchestration.config import load_config  # noqa: E402
from reward_model import ScalarRewardModel  # noqa: E402
from reward_model.model import lora_settings  # noqa: E402
from reward_model.step_model import StepRewardModel  # noqa: E402
from reward_model.train import RMTrainConfig, RMTrainer, main  # noqa: E402

FAST = dict(lr_encoder=1e-2, lr_head=3e-3, batch_size=16, val_fraction=0.0, progress_bar=False)
PROMPTS, RESPONSES = ["what is 1 + 1?", "q"], ["2", "a long answer " * 3]


@pytest.fixture(params=["encoder", "decoder"])
def backbone(request, tiny_encoder_dir, tiny_policy_dir):
    return tiny_encoder_dir if request.param == "encoder" else tiny_policy_dir


def test_a_fresh_adapter_computes_what_the_backbone_did(backbone):
    plain = ScalarRewardModel.from_encoder(backbone, max_length=64, seed=0)
    lora = ScalarRewardModel.from_encoder(backbone, max_length=64, seed=0, lora={"r": 4})
    assert lora.lora == {"r": 4, "alpha": 32.0, "dropout": 0.0, "target_modules": ["all-linear"]}
    assert any(".lora_A." in name for name, _ in lora.named_parameters())
    torch.testing.assert_close(lora.score(PROMPTS, RESPONSES), plain.score(PROMPTS, RESPONSES))  # B = 0, same head


def test_only_the_adapters_and_the_head_train(backbone, toy_task):
    train_records, _ = toy_task
    rm = ScalarRewardModel.from_encoder(backbone, max_length=64, seed=0, lora={"r": 4, "alpha": 8})
    before = {n: p.detach().clone() for n, p in rm.named_parameters()}
    RMTrainer(rm, RMTrainConfig(max_steps=3, **FAST)).fit(train_records[:32])
    trainable = {n for n, p in rm.named_parameters() if p.requires_grad}
    moved = {n for n, p in rm.named_parameters() if not torch.equal(p, before[n])}
    assert trainable == {n for n in before if ".lora_" in n or n.startswith("head.")}
    # B starts at 0, so the first step moves only B and the head; later steps move A too
    assert moved <= trainable and any(".lora_B." in n for n in moved) and any(".lora_A." in n for n in moved)


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_lora_rm_learns_the_separable_task(tiny_encoder_dir, toy_task, seed):
    from reward_model.metrics import ranking_accuracy

    train_records, heldout = toy_task
    rm = ScalarRewardModel.from_encoder(tiny_encoder_dir, max_length=64, seed=seed, lora={"r": 8})
    # The adapters at FAST's 1e-2 sometimes diverge (held-out 0.30 at seed 3, 0.91 at seed 0 on one thread of an AMD
    # EPYC, 0.98 on two): 3e-3 ranked every held-out pair right at seeds 0-4, on one thread and on two.
    RMTrainer(rm, RMTrainConfig(epochs=4, **{**FAST, "lr_encoder": 3e-3})).fit(train_records)
    scores = rm.score([r.prompt for r in heldout], [r.response for r in heldout])
    accuracy, _ = ranking_accuracy(scores, [r.outcome for r in heldout], [r.group_key for r in heldout])
    assert accuracy >= 0.95, seed


def test_step_rm_round_trip(tiny_policy_dir, tmp_path):
    rm = StepRewardModel.from_encoder(
        tiny_policy_dir, max_length=64, seed=0, lora={"r": 4, "target_modules": ["q_proj"]}
    )
    rm.save_pretrained(str(tmp_path / "rm"))
    loaded = StepRewardModel.from_pretrained(str(tmp_path / "rm"))
    assert loaded.lora == rm.lora and loaded.aggregate == rm.aggregate
    torch.testing.assert_close(loaded.score(PROMPTS, RESPONSES), rm.score(PROMPTS, RESPONSES))


def test_round_trip_and_exact_resume(tiny_policy_dir, toy_task, tmp_path):
    train_records, heldout = toy_task
    cfg = RMTrainConfig(max_steps=2, **FAST)
    rm = ScalarRewardModel.from_encoder(
        tiny_policy_dir, max_length=64, seed=0, lora={"r": 4, "target_modules": ["q_proj"]}
    )
    trainer = RMTrainer(rm, cfg)
    trainer.fit(train_records[:64])
    rm.save_pretrained(str(tmp_path / "rm"))
    saved = json.loads((tmp_path / "rm" / "reward_model.json").read_text())
    assert saved["lora"] == {"r": 4, "alpha": 32.0, "dropout": 0.0, "target_modules": ["q_proj"]}
    state = copy.deepcopy(trainer.state_dict())
    loaded = ScalarRewardModel.from_pretrained(str(tmp_path / "rm"))
    torch.testing.assert_close(loaded.score(PROMPTS, RESPONSES), rm.score(PROMPTS, RESPONSES))
    assert {n for n, p in loaded.named_parameters() if p.requires_grad} == {
        n for n, p in rm.named_parameters() if p.requires_grad
    }
    trainer.fit(train_records[64:])  # the uninterrupted run
    resumed = RMTrainer(loaded, cfg)
    resumed.load_state_dict(state)
    resumed.fit(train_records[64:])
    prompts, responses = [r.prompt for r in heldout], [r.response for r in heldout]
    torch.testing.assert_close(loaded.score(prompts, responses), rm.score(prompts, responses))


def test_wrong_settings_say_what_to_change(tiny_encoder_dir, tiny_policy_dir):
    with pytest.raises(ValueError, match=r"target_modules=\['q_proj'\].*linear layers are named .*'query'.*all-linear"):
        ScalarRewardModel.from_encoder(tiny_encoder_dir, max_length=64, lora={"target_modules": ["q_proj"]})
    with pytest.raises(ValueError, match=r"unknown keys \['rank'\]"):
        lora_settings({"rank": 4})
    with pytest.raises(ValueError, match="lora.r must be an integer >= 1, got 0"):
        lora_settings({"r": 0})
    with pytest.raises(ValueError, match="must list at least one layer name"):
        lora_settings({"target_modules": "all-linear"})
    rm = ScalarRewardModel.from_encoder(tiny_policy_dir, max_length=64, lora={"r": 2})
    with pytest.raises(ValueError, match="trainable_layers and lora both choose"):
        RMTrainer(rm, RMTrainConfig(trainable_layers=1))


def test_loop_config_rm_lora():
    cfg = load_config(None, ["--rm.lora", "{r: 4}"])
    assert cfg.rm.lora.r == 4 and cfg.rm.lora.target_modules == ["all-linear"]
    assert load_config(None, []).rm.lora is None
    with pytest.raises(ValueError, match=r"^rm.lora: lora.r must be an integer >= 1, got 0 \(lora: null"):
        load_config(None, ["--rm.lora", "{r: 0}"])
    with pytest.raises(ValueError, match="rm.lora and rm.train.trainable_layers both choose"):
        load_config(None, ["--rm.lora", "{r: 4}", "--rm.train.trainable_layers", "2"])
    with pytest.raises(ValueError, match="rm.lora sets up a fresh RM, but rm.init_from"):
        load_config(None, ["--rm.lora", "{r: 4}", "--rm.init_from", "some_rm"])


def test_train_cli_lora(tiny_encoder_dir, toy_task, tmp_path):
    train_records, _ = toy_task
    data = tmp_path / "train.jsonl"
    data.write_text(
        "".join(
            json.dumps({"prompt": r.prompt, "response": r.response, "outcome": r.outcome}) + "\n"
            for r in train_records[:32]
        )
    )
    out = tmp_path / "rm"
    main(
        [
            "--data",
            str(data),
            "--output",
            str(out),
            "--encoder",
            tiny_encoder_dir,
            "--max-length",
            "64",
            "--lora-r",
            "2",
            "--max-steps",
            "1",
            "--no-progress-bar",
            "--val-fraction",
            "0",
        ]
    )
    loaded = ScalarRewardModel.from_pretrained(str(out))
    assert loaded.lora == {"r": 2, "alpha": 4.0, "dropout": 0.0, "target_modules": ["all-linear"]}
    with pytest.raises(SystemExit, match="--init-from excludes --encoder and --lora-r"):
        main(["--data", str(data), "--output", str(tmp_path / "x"), "--init-from", str(out), "--lora-r", "2"])
