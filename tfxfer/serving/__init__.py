"""Stage 5, serving: the versioned, atomic SavedModel export with raw-input signatures
(``export``), checked against what TF Serving links (``serving_contract``); loading and calling
what was exported (``servable``); and the local model server of ``python -m tfxfer.serve``
(``model_server``: on KServe's engine (``engine``), each model served with its versions
(``served_model``) found in the export directory (``export_dir``), TF Serving's REST bodies
(``rest_api``) and batching (``batching``)); LiteRT variants of an image model for devices
(``litert``)."""
