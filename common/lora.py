"""One validated LoRA settings type for the policy's adapters (`policy.lora.LoraConfig`) and the reward model's
(`reward_model.model.RMLoraSettings`): the same keys, the same checks, one translation into peft's config.

    settings = LoraSettings(r=16, alpha=32)          # a wrong value fails here, naming the key
    peft_config = settings.to_peft(task_type="CAUSAL_LM")
"""

from __future__ import annotations

from dataclasses import dataclass, field

ALL_LINEAR = "all-linear"  # peft's shorthand: every linear layer but the output head


@dataclass
class LoraSettings:
    r: int = field(default=16, metadata={"help": "adapter rank"})
    alpha: float = field(default=32.0, metadata={"help": "scaling numerator: the update is (alpha / r) * B @ A"})
    dropout: float = field(
        default=0.0,
        metadata={
            "help": "dropout on the adapters' input (needs grpo.disable_dropout false, which zeroes every dropout)"
        },
    )
    target_modules: list[str] = field(
        default_factory=lambda: ["q_proj", "k_proj", "v_proj", "o_proj"],
        metadata={
            "help": "names of the linear layers that get adapters (Llama-style attention by default); [all-linear] = "
            "every linear layer but the output head"
        },
    )

    def __post_init__(self) -> None:
        if isinstance(self.r, bool) or not isinstance(self.r, int) or self.r < 1:
            raise ValueError(f"lora.r must be an integer >= 1, got {self.r!r} (lora: null turns LoRA off)")
        if isinstance(self.alpha, bool) or not isinstance(self.alpha, (int, float)) or not self.alpha > 0:
            raise ValueError(f"lora.alpha must be > 0, got {self.alpha!r}")
        if (
            isinstance(self.dropout, bool)
            or not isinstance(self.dropout, (int, float))
            or not 0.0 <= self.dropout < 1.0
        ):
            raise ValueError(f"lora.dropout must be in [0, 1), got {self.dropout!r}")
        targets = self.target_modules
        if isinstance(targets, str) or not targets or not all(isinstance(m, str) and m for m in targets):
            raise ValueError(f"lora.target_modules must list at least one layer name, got {targets!r}")
        self.alpha, self.dropout, self.target_modules = float(self.alpha), float(self.dropout), list(targets)

    def to_peft(self, **kwargs):
        """peft's `LoraConfig` for these settings (`kwargs`: e.g. task_type)."""
        peft = require_peft()
        targets = ALL_LINEAR if self.target_modules == [ALL_LINEAR] else list(self.target_modules)
        return peft.LoraConfig(
            r=self.r, lora_alpha=self.alpha, lora_dropout=self.dropout, target_modules=targets, bias="none", **kwargs
        )


def require_peft(who: str = "policy.lora"):
    """The `peft` module, or an ImportError that says how to install it."""
    try:
        import peft
    except ImportError as e:
        raise ImportError(f'{who} needs peft: pip install -e ".[lora]" (or pip install peft)') from e
    return peft
