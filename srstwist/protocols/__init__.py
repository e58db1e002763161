"""
Twisted protocols that drive the sans-IO codecs.
"""
