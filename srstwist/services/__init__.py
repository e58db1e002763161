"""
The services under the one MultiService that ``twistd srs`` runs.
"""
