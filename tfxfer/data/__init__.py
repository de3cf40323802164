"""Stage 1, data: sources (folders, manifests, CSV/TSV/JSONL, tfds) -> batched ``tf.data``
pipelines and the class list (``sources``), stratified ``splits``, image decoding shared with
the serving signature (``images``), and the offline ``demo`` data."""
