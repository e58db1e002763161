"""
Sans-IO codecs: bytes in, events out.

Nothing in this package imports Twisted, reads a clock or draws random numbers;
callers pass times and random bytes in.  A test enforces the first rule.
"""
