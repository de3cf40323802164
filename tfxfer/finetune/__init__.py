"""Stage 3, fine-tuning: the phase loop (``phases``), optimizers and schedules, precision,
distribution strategies, the frozen phase on cached features, and checkpoints for resuming."""
