"""`StepRewardModel`: the same encoder and scalar head, scoring every reasoning step of a response in one forward.

    rm = StepRewardModel.from_encoder()                              # the embedded MiniLM, offline
    step_scores = rm.score_steps(prompts, responses, spans)         # per response, (n_steps,) logits
    scores = rm.score(prompts, responses)                           # outcome level: min over its steps

Input: `[CLS] prompt [SEP] step_1 [M] step_2 [M] ... step_K [M]`, where the marker M is the tokenizer's separator
token (`[SEP]` for BERT; EOS for a tokenizer without one) and the encoder's closing special token doubles as the
last step's marker when it is M. Each step's score is the head applied to the hidden state at its marker, so
the encoder reads each step in the context of the prompt and every step around it (bidirectionally: an
encoder sees the later steps too, as Math-Shepherd's PRM did not; on the loop's data that is what a step's
verdict may depend on only through its own claims). A step span covers the text from the end of the previous
step to its own end, so nothing between steps is lost.

When the input is too long the prompt is cut first (its head kept), then whole steps from the start, so the
last steps, nearest the answer, survive; a last step longer than the budget alone loses its beginning. Steps
cut away score NaN. Spans are the caller's (the loop passes the rule checker's, `verifiers.steps.segment`);
without them a response's steps are its non-blank lines (`line_spans`, the same spans as `segment`'s default
"lines" rule, which the multi-step prompts ask for). `score` (and so `reward`, `as_reward_function`) scores those
steps and aggregates them by `aggregate`: `min` (a solution is as good as its weakest step, as in
DeepSeekMath's and PRM800K's outcome use of a PRM) or `product` (of probabilities, returned as a logit).

A reference-aware step RM (`reference=True`) reads the outcome RM's reference line before the prompt
(`reward_model.model.REFERENCE_TEMPLATE`), never cut (at most half the budget); the steps and then the prompt are
cut as above in the budget left.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from reward_model.model import ScalarRewardModel

AGGREGATES = ("min", "product")
Spans = list[tuple[int, int]]


def line_spans(response: str) -> Spans:
    """The character spans of the response's non-blank lines, without their surrounding blanks (linear time:
    model text is hostile, and a regex over long blank runs can backtrack quadratically)."""
    spans, start = [], 0
    while start <= len(response):
        end = response.find("\n", start)
        end = len(response) if end < 0 else end
        left, right = start, end
        while left < right and response[left].isspace():
            left += 1
        while right > left and response[right - 1].isspace():
            right -= 1
        if right > left:
            spans.append((left, right))
        start = end + 1
    return spans


@dataclass(frozen=True)
class StepEncoding:
    input_ids: list[int]
    token_type_ids: list[int]
    markers: list[int]  # the marker position of each kept step, in order
    first_kept: int  # index of the first step kept (the steps before it were cut away)


class StepRewardModel(ScalarRewardModel):
    level = "step"

    def __init__(self, encoder, tokenizer, *, aggregate: str = "min", **kwargs):
        super().__init__(encoder, tokenizer, **kwargs)
        if aggregate not in AGGREGATES:
            raise ValueError(f"aggregate must be one of {AGGREGATES}, got {aggregate!r}")
        self.aggregate = aggregate
        marker = tokenizer.sep_token_id if tokenizer.sep_token_id is not None else tokenizer.eos_token_id
        if marker is None:
            raise ValueError("the tokenizer has neither a separator nor an EOS token to mark step ends with")
        self.marker_id = marker
        suffix = self.template.suffix
        self._tail = suffix[1:] if suffix[:1] == [marker] else suffix  # the closing token is the last marker

    def _extra_config(self) -> dict:
        return {"aggregate": self.aggregate, "step_marker": self.marker_id}

    @classmethod
    def _init_kwargs(cls, config: dict) -> dict:
        return {"aggregate": config.get("aggregate", "min")}

    # ------------------------------------------------------------------ tokenisation

    def spans_of(self, response: str) -> Spans:
        """The response's steps when no spans are given: its non-blank lines; a blank response is one empty step."""
        return line_spans(response) or [(0, len(response))]

    def encode_steps(
        self, prompts: list[str], responses: list[str], spans: list[Spans], references: list[str | None] | None = None
    ) -> list[StepEncoding]:
        """One `StepEncoding` per response, at most `max_length` tokens (module docstring: what is cut first);
        `references` for a reference-aware RM."""
        if not len(prompts) == len(responses) == len(spans):
            raise ValueError(f"{len(prompts)} prompts, {len(responses)} responses and {len(spans)} span lists")
        budget = self.max_length - len(self.template.prefix) - len(self.template.middle) - len(self._tail)
        pieces, owner = [], []  # every step's text (from the previous step's end), tokenised in one call
        for i, (response, steps) in enumerate(zip(responses, spans)):
            last = 0
            for start, end in steps:
                if not 0 <= last <= start <= end <= len(response):
                    raise ValueError(
                        f"response {i}: step span ({start}, {end}) is not increasing and inside the "
                        f"{len(response)}-character response"
                    )
                pieces.append(response[last:end])
                owner.append(i)
                last = end
        piece_ids = self._token_ids(pieces) if pieces else []
        prompt_ids = self._token_ids(prompts) if prompts else []
        per_response: list[list[list[int]]] = [[] for _ in responses]
        for i, ids in zip(owner, piece_ids):
            per_response[i].append(ids)
        heads = self._reference_ids(references, len(prompts)) if prompts else []
        return [
            self._layout(p, steps, budget, head[: budget // 2])
            for head, p, steps in zip(heads, prompt_ids, per_response)
        ]

    def _layout(
        self, prompt_ids: list[int], steps: list[list[int]], budget: int, head: list[int] | None = None
    ) -> StepEncoding:
        head = head or []
        budget -= len(head)
        kept, used = len(steps), 0
        while kept > 0 and used + len(steps[kept - 1]) + 1 <= budget:
            kept, used = kept - 1, used + len(steps[kept - 1]) + 1
        kept_steps = steps[kept:]
        if not kept_steps and steps:  # the last step alone is too long: keep its end
            kept, kept_steps = len(steps) - 1, [steps[-1][len(steps[-1]) - (budget - 1) :]]
            used = budget
        first = self.template.prefix + head + prompt_ids[: budget - used] + self.template.middle
        second, markers = [], []
        for ids in kept_steps:
            second += ids + [self.marker_id]
            markers.append(len(first) + len(second) - 1)
        second += self._tail
        types = [self.template.first_type] * len(first) + [self.template.second_type] * len(second)
        return StepEncoding(first + second, types, markers, kept)

    # ------------------------------------------------------------------ scoring

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        token_type_ids: torch.Tensor | None = None,
        step_index: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """input_ids, attention_mask, token_type_ids: (B, T); step_index: (S, 2) (row, marker position) of every
        step in the batch -> step scores (S,). Without `step_index`, the pooled outcome-level head as the base."""
        if step_index is None:
            return super().forward(input_ids, attention_mask, token_type_ids)
        hidden = self.hidden_states(input_ids, attention_mask, token_type_ids)
        return self.head(hidden[step_index[:, 0], step_index[:, 1]]).squeeze(-1)

    def collate_steps(self, encoded: list[StepEncoding]) -> dict[str, torch.Tensor]:
        """`collate` plus `step_index` (S, 2), the steps in input order."""
        batch = self.collate([(e.input_ids, e.token_type_ids) for e in encoded])
        index = [(row, pos) for row, e in enumerate(encoded) for pos in e.markers]
        batch["step_index"] = torch.tensor(index, dtype=torch.long, device=self.device).reshape(-1, 2)
        return batch

    @torch.no_grad()
    def score_steps(
        self,
        prompts: list[str],
        responses: list[str],
        spans: list[Spans] | None = None,
        batch_size: int = 32,
        references: list[str | None] | None = None,
    ) -> list[torch.Tensor]:
        """Per response, its steps' raw scores (n_steps,) float32 on the CPU; NaN for steps cut away by the length
        limit. `spans` default: each response's lines (`spans_of`). Eval mode for the call."""
        spans = [self.spans_of(r) for r in responses] if spans is None else spans
        encoded = self.encode_steps(prompts, responses, spans, references)
        out = [torch.full((len(s),), float("nan")) for s in spans]
        order = sorted(range(len(encoded)), key=lambda i: len(encoded[i].input_ids))
        was_training = self.training
        self.eval()
        try:
            for start in range(0, len(order), batch_size):
                idx = [i for i in order[start : start + batch_size] if encoded[i].markers]
                if not idx:
                    continue
                scores = self(**self.collate_steps([encoded[i] for i in idx])).float().cpu()
                offset = 0
                for i in idx:
                    n = len(encoded[i].markers)
                    out[i][encoded[i].first_kept :] = scores[offset : offset + n]
                    offset += n
        finally:
            self.train(was_training)
        return out

    def score(
        self, prompts: list[str], responses: list[str], batch_size: int = 32, references: list[str | None] | None = None
    ) -> torch.Tensor:
        """(N,) outcome-level scores: each response's step scores (its lines) by `aggregate`."""
        return (
            torch.stack(
                [
                    aggregate_steps(s, self.aggregate)
                    for s in self.score_steps(prompts, responses, None, batch_size, references)
                ]
            )
            if prompts
            else torch.empty(0)
        )


def aggregate_steps(step_scores: torch.Tensor, how: str = "min") -> torch.Tensor:
    """One outcome-level logit from step logits (NaN = cut away, ignored): the minimum, or the logit of the
    product of the step probabilities. A response with no scored step gets NaN."""
    s = step_scores[~torch.isnan(step_scores)]
    if s.numel() == 0:
        return torch.tensor(float("nan"))
    if how == "min":
        return s.min()
    if how == "product":  # log p = logsigmoid(s); logit(p) = log p - log(1 - p)
        log_p = torch.nn.functional.logsigmoid(s.double()).sum()
        return (log_p - torch.log(-torch.expm1(log_p))).float() if log_p < 0 else torch.tensor(float("inf"))
    raise ValueError(f"aggregate must be one of {AGGREGATES}, got {how!r}")
