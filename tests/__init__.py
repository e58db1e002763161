"""
srstwist's test suite; run it with ``python -m twisted.trial tests``.

Hypothesis runs derandomized and without deadlines by default, so that the
suite is repeatable and never flakes on a slow CI machine.  The same property
tests double as a fuzzer: ``SRSTWIST_FUZZ=1`` switches to a randomized
profile with many more examples (see docs/testing.md).
"""

import os

from hypothesis import HealthCheck, settings

settings.register_profile(
    "srstwist",
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "fuzz",
    deadline=None,
    derandomize=False,
    max_examples=int(os.environ.get("SRSTWIST_FUZZ_EXAMPLES", "20000")),
    suppress_health_check=list(HealthCheck),
)
settings.load_profile("fuzz" if os.environ.get("SRSTWIST_FUZZ") else "srstwist")
