"""
The stream model, Twisted-free.
"""
