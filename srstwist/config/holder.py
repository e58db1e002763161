"""
:class:`ConfigHolder`: the config in force, shared by everything that reads
it per connection.
"""

from __future__ import annotations

from srstwist.config.model import ServerConfig

__all__ = ["ConfigHolder"]


class ConfigHolder:
    """
    The root service replaces ``config`` on a successful reload; front ends
    read it when a client connects, so new connections see the new config
    at once and existing ones keep what they started with.
    """

    def __init__(self, config: ServerConfig) -> None:
        self.config = config
