"""
srstwist: a live-streaming server on Twisted that runs SRS 2.0 configuration files.
"""

__all__ = ["__version__", "SRS_COMPAT_VERSION"]

__version__ = "0.1.0"

#: The SRS release whose behaviour and configuration files we follow.
SRS_COMPAT_VERSION = "2.0.276"
