"""A run, a checkpoint and a resume print no library warning: every warning is an error here, so an API
we use that a library deprecates fails this test long before the release that removes it."""

import logging

import pytest

from orchestration.metrics import read_metrics
from orchestration.train_loop import main

LIBRARIES = ("transformers", "accelerate", "torch", "datasets", "huggingface_hub", "safetensors")


@pytest.mark.filterwarnings("error")
def test_run_checkpoint_and_resume_without_warnings(tmp_path, tiny_run_args, caplog):
    run = str(tmp_path / "run")
    with caplog.at_level(logging.WARNING):
        main(["--output-dir", run, *tiny_run_args(**{"loop.max_steps": 2})])  # checkpoint at step 2
        main(["--output-dir", run, *tiny_run_args(**{"loop.max_steps": 3})])  # resume, run step 3
    assert [m["step"] for m in read_metrics(f"{run}/metrics.jsonl")] == [1, 2, 3]
    # Libraries also warn through `logging` (transformers' deprecation notices do): none of that either.
    assert not [r.getMessage() for r in caplog.records if r.name.startswith(LIBRARIES)]
