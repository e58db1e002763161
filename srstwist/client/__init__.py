"""
The RTMP client library (srstwist's srs-librtmp): connect, publish and play
on Twisted over the sans-IO RTMP stack, FLV files in and out, raw H.264 and
AAC publishing.  Edge, forward, the tools and the tests use it.
"""

__all__ = ["flv_file", "raw", "rtmp", "url"]
