"""The recipe: every default of a training run, decided from the task, the backbone, the
training data and the hardware, each with a one-line reason (``rules.py``), from facts gathered
by ``facts.py``. A run prints the table at its start and records it in ``metrics.json``."""

from tfxfer.recipe.rules import FIXED, SETTINGS, Choice, Facts, decide, format_table, settings_of

__all__ = ["FIXED", "SETTINGS", "Choice", "Facts", "decide", "format_table", "settings_of"]
