"""The Lali benchmark: ``python -m bench.run --help`` (``make bench``, ``make bench-smoke``)."""
