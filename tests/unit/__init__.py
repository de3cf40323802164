"""Fast tests: no training, no downloads (the whole folder in well under 3 minutes on 2 cores)."""
