"""
The HTTP side of srstwist: the HTTP server (static files, VOD, live HTTP
streams, HLS files) and the HTTP API with its console, as Klein apps.
"""
