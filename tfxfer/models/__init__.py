"""Stage 2, models: backbones by URI (``backbones/``), heads, layers, the classifier
``builders``, and ``freezing`` (which layers train)."""
