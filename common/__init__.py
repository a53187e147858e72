"""What `policy` and `reward_model` share without importing each other (neither imports the other):

- `common.checkpoints` — the embedded SmolLM2-135M's GGUF file, converted once to a cached safetensors checkpoint;
  any causal LM's name or path resolved to something `from_pretrained` loads.
- `common.lora` — one validated LoRA settings type (`LoraSettings`), which the policy's and the reward model's
  adapters both use.

Layering: `verifiers` imports none of the others; `common` none of them either; `policy` and `reward_model` may
import `common` and `verifiers`; `orchestration` composes them all (tests/test_layering.py keeps it so).
"""
