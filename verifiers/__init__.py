"""Rule verifiers: decide whether a model response is correct. They never raise on model output."""

from verifiers.outcome import Outcome

__all__ = ["Outcome"]
