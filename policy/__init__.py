"""The policy: a causal LM sampled in groups and trained with GRPO (DeepSeekMath, arXiv 2402.03300).

Read top-down:
- `policy.model`     load any causal LM (default: embedded SmolLM2-135M-Instruct), frozen reference copy
- `policy.sampling`  k completions per prompt -> `Rollouts` (ids, masks up to the stop token, texts)
- `policy.logprobs`  per-token log-probs of completions (selective log-softmax, chunked)
- `policy.grpo`      pure maths: `group_advantages`, `grpo_loss`, `agg_loss`, `masked_mean`
- `policy.update`    `GRPOConfig` and `GRPOUpdater`: mu passes, mini/micro-batches, AdamW, clipping, lr schedule
- `policy.lora`      LoRA adapters through peft; the reference is the same model with its adapters disabled

Submodules are imported explicitly (`from policy.grpo import grpo_loss`): the maths does not pull
in transformers.
"""
