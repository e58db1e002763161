"""
Command-line tools installed as console scripts: thin argparse fronts over
:mod:`srstwist.client` (dump, ingest, FLV parser, raw publishers, detector) and
the load tester ``srs-bench``.
"""
