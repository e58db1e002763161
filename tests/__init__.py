"""
srstwist's test suite; run it with ``trial tests``.

Hypothesis runs derandomized and without deadlines so that the suite is
repeatable and never flakes on a slow CI machine.
"""

from hypothesis import HealthCheck, settings

settings.register_profile(
    "srstwist",
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile("srstwist")
