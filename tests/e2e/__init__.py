"""End-to-end tests: real weights, real training, real processes, exported models."""
