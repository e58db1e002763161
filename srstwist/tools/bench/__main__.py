"""
``python -m srstwist.tools.bench``: the same as the ``srs-bench`` console
script (the ``--workers`` parent starts its workers this way).
"""

from srstwist.tools.bench.cli import main

main()
