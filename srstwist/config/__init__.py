"""
SRS configuration: the nginx-style parser and the typed model with every default.
"""
