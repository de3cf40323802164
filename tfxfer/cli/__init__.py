"""What the commands (``tfxfer/train.py``, ``predict.py``, ...) share and nothing else uses:
the flag parser, how a command exits, and a quiet TensorFlow start."""
