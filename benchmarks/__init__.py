"""tfxfer against the reference recipes, side by side on the same data and machine.

``python -m benchmarks.run`` (``--quick`` for a smoke run, ``--only text,image,export,pipeline``
to pick sections) runs each side in its own subprocess and prints a table of both sides and
their ratio; see benchmarks/README.md. Not part of the test suite.
"""
