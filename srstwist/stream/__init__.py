"""
The stream core's shared parts, used by every front end: the request value,
admission rules, statistics, and the players with their shared batches.
"""
