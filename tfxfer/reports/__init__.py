"""Stage 6, reports: scores (``metrics``), the evaluation report files (``report_files``),
an exported model's report (``saved_model``), plots, and TensorBoard's HParams (``hparams``)."""
