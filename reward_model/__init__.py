"""The reward model: a BERT-style encoder with a scalar head, trained on verifier-labelled outcomes.

from reward_model import ScalarRewardModel
python -m reward_model.synthetic --output-dir rm_data        # policy-shaped example data
python -m reward_model.train --data rm_data/train.jsonl --output rm_dir
python -m reward_model.evaluate --model rm_dir --data rm_data/heldout.jsonl --train-data rm_data/train.jsonl
"""

from reward_model.model import ScalarRewardModel
from reward_model.step_model import StepRewardModel  # registers the step level for from_pretrained

__all__ = ["ScalarRewardModel", "StepRewardModel"]
