"""
Command-line tools installed as console scripts: thin argparse fronts over
L{srstwist.client} (dump, ingest, FLV parser, raw publishers, detector) and
the load tester C{srs-bench}.
"""
