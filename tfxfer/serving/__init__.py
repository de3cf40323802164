"""Stage 5, serving: the versioned, atomic SavedModel export with raw-input signatures
(``export``) and loading and calling what was exported (``servable``)."""
