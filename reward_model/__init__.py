"""reward_model package."""
