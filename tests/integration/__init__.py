"""
End-to-end tests: the real ``twistd -n srs`` (and, later, real ffmpeg,
ffprobe, rtmpdump, curl) on 127.0.0.1, on free ports, in temp directories.
Every process a test starts is ended by the test, by its own transport.
"""
