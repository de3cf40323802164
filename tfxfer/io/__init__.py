"""Below every stage: files written whole (``atomic``)."""
