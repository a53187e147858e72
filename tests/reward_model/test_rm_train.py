"""RM training on a tiny random BERT: it learns a separable task, fits continue, checkpoints restore."""

import copy

import pytest
import torch

from reward_model import ScalarRewardModel
from reward_model.data import OutcomeRecord
from reward_model.metrics import ranking_accuracy
from reward_model.train import RMTrainConfig, RMTrainer, train

FAST = dict(lr_encoder=1e-3, lr_head=3e-3, epochs=4, batch_size=16, progress_bar=False)


def heldout_accuracy(rm, records):
    scores = rm.score([r.prompt for r in records], [r.response for r in records])
    return ranking_accuracy(scores, [r.outcome for r in records], [r.group_key for r in records])


@pytest.mark.parametrize("loss", ["bce", "mse", "bradley_terry"])
def test_tiny_bert_learns_separable_task(tiny_rm, toy_task, loss):
    train_records, heldout = toy_task
    before, n_pairs = heldout_accuracy(tiny_rm, heldout)
    metrics = train(tiny_rm, train_records, RMTrainConfig(loss=loss, **FAST))
    after, _ = heldout_accuracy(tiny_rm, heldout)
    assert n_pairs == 16 * 4 and after >= 0.95, (loss, before, after)
    assert metrics["val_ranking_accuracy_after"] >= 0.95 and metrics["steps"] > 0
    assert tiny_rm.trained_with == loss


def test_fit_continues_with_replay_and_keeps_optimizer_state(tiny_rm, toy_task):
    train_records, _ = toy_task
    trainer = RMTrainer(tiny_rm, RMTrainConfig(max_steps=3, val_fraction=0.0, **{**FAST, "epochs": 1}))
    first = trainer.fit(train_records[:64])
    assert first["steps"] == 3 and trainer.global_step == 3
    adam_steps = float(next(iter(trainer.optimizer.state_dict()["state"].values()))["step"])
    second = trainer.fit(train_records[64:128], replay=train_records[:16])
    assert second["n_examples"] == 64 + 16 and second["n_replay"] == 16
    assert trainer.global_step == 6 and trainer.fits == 2
    assert next(iter(trainer.optimizer.state_dict()["state"].values()))["step"] == adam_steps + 3


def test_state_dict_round_trip_resumes_identically(tiny_encoder_dir, toy_task, tmp_path):
    train_records, heldout = toy_task
    cfg = RMTrainConfig(max_steps=2, val_fraction=0.0, **{**FAST, "epochs": 1})

    def fresh():
        return ScalarRewardModel.from_encoder(tiny_encoder_dir, max_length=64, seed=0)

    rm = fresh()
    trainer = RMTrainer(rm, cfg)
    trainer.fit(train_records[:64])
    rm.save_pretrained(str(tmp_path / "rm"))
    state = copy.deepcopy(trainer.state_dict())  # what a checkpoint file would hold
    trainer.fit(train_records[64:])  # the uninterrupted run
    resumed_rm = ScalarRewardModel.from_pretrained(str(tmp_path / "rm"))
    resumed = RMTrainer(resumed_rm, cfg)
    resumed.load_state_dict(state)
    resumed.fit(train_records[64:])
    prompts, responses = [r.prompt for r in heldout], [r.response for r in heldout]
    torch.testing.assert_close(resumed_rm.score(prompts, responses), rm.score(prompts, responses))
    assert resumed.global_step == trainer.global_step == 4


def test_fit_is_seeded_and_leaves_global_rng_alone(tiny_encoder_dir, toy_task):
    train_records, heldout = toy_task
    scores = []
    for _ in range(2):
        rm = ScalarRewardModel.from_encoder(tiny_encoder_dir, max_length=64, seed=0)
        rng_before = torch.get_rng_state()
        RMTrainer(rm, RMTrainConfig(max_steps=2, **FAST)).fit(train_records)
        assert torch.equal(torch.get_rng_state(), rng_before)
        scores.append(rm.score([r.prompt for r in heldout], [r.response for r in heldout]))
    assert torch.equal(scores[0], scores[1])


def test_bradley_terry_skips_groups_without_pairs(tiny_rm):
    records = [
        OutcomeRecord("p", "a", 1.0),
        OutcomeRecord("p", "b", 0.0),
        OutcomeRecord("q", "c", 1.0),
        OutcomeRecord("q", "d", 1.0),
    ]
    metrics = RMTrainer(tiny_rm, RMTrainConfig(loss="bradley_terry", val_fraction=0.0, **FAST)).fit(records)
    assert metrics["n_examples"] == 2


def test_optimizer_groups_use_their_learning_rates_and_freeze_embeddings(tiny_rm):
    trainer = RMTrainer(tiny_rm, RMTrainConfig(lr_encoder=1e-5, lr_head=1e-3, progress_bar=False))
    lrs = {g["name"]: (g["lr"], g["weight_decay"]) for g in trainer.optimizer.param_groups}
    assert lrs == {
        "encoder": (1e-5, 0.01),
        "encoder_no_decay": (1e-5, 0.0),
        "head": (1e-3, 0.01),
        "head_no_decay": (1e-3, 0.0),
    }
    embeddings = tiny_rm.encoder.get_input_embeddings().weight
    assert not embeddings.requires_grad
    assert all(p is not embeddings for g in trainer.optimizer.param_groups for p in g["params"])


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"loss": "hinge"}, "loss must be one of"),
        ({"epochs": 0}, "epochs must be >= 1"),
        ({"max_steps": 0}, "max_steps must be >= 1"),
        ({"val_fraction": 1.0}, r"val_fraction must be in \[0, 1\)"),
        ({"lr_head": 0.0}, "lr_head must be > 0"),
        ({"warmup_ratio": -0.1}, "warmup_ratio must be in"),
    ],
)
def test_config_invariants(changes, message):
    with pytest.raises(ValueError, match=message):
        RMTrainConfig(**changes)


def test_warmup_then_constant_learning_rate(tiny_rm, toy_task):
    trainer = RMTrainer(
        tiny_rm, RMTrainConfig(max_steps=10, warmup_ratio=0.4, val_fraction=0.0, **{**FAST, "epochs": 1})
    )
    seen = []
    step = trainer._step
    trainer._step = lambda *a: (seen.append(trainer.optimizer.param_groups[2]["lr"]), step(*a))[1]
    trainer.fit(toy_task[0])
    assert seen[:5] == pytest.approx([3e-3 * f for f in (0.25, 0.5, 0.75, 1.0, 1.0)])  # warm-up over 4 steps


def test_best_epoch_stops_after_patience_and_restores_weights_with_optimizer_state(tiny_rm, toy_task):
    from reward_model.trainer import _BestEpoch

    records = toy_task[0][:16]
    trainer = RMTrainer(tiny_rm, RMTrainConfig(val_fraction=0.0, **FAST))
    encoded = tiny_rm.encode([r.prompt for r in records], [r.response for r in records])
    keeper, snapshots = _BestEpoch(patience=2), []
    for epoch, val in enumerate([0.6, 0.8, 0.7, 0.75]):
        trainer._step(list(range(16)), encoded, records)  # one "epoch" of one step
        snapshots.append(copy.deepcopy({"model": tiny_rm.state_dict(), **trainer.state_dict()}))
        keeper.update(val, trainer)
        assert keeper.stopped == (epoch == 3)  # two epochs without beating 0.8
    assert keeper.restore_best(0.75, trainer) == 0.8
    best = snapshots[1]  # epoch 1: its weights, and the AdamW moments and step count that went with them
    assert all(torch.equal(v, best["model"][k]) for k, v in tiny_rm.state_dict().items())
    adam, best_adam = trainer.optimizer.state_dict()["state"], best["optimizer"]["state"]
    assert all(torch.equal(adam[i]["exp_avg"], best_adam[i]["exp_avg"]) for i in best_adam)
    assert trainer.global_step == 2 and trainer.scheduler.last_epoch == best["scheduler"]["last_epoch"]
    off = _BestEpoch(patience=0)
    off.update(0.9, trainer)
    off.update(0.1, trainer)
    assert not off.stopped and off.restore_best(0.1, trainer) == 0.1
