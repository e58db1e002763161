"""
SRS configuration: the nginx-style parser (:mod:`srstwist.config.parser`), the
typed model with every default (:mod:`srstwist.config.model`, values only, no
parser) and the loader that reads a file into it (:mod:`srstwist.config.loader`).
"""
