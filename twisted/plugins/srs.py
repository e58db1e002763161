"""
The ``srs`` twistd plugin: ``twistd -n srs --config conf/srs.conf``.

Nothing is imported until the plugin is used (:class:`ServiceMaker` resolves
``srstwist.tap`` lazily), so plugin discovery stays cheap.
"""

from twisted.application.service import ServiceMaker

srs = ServiceMaker(
    "srstwist",
    "srstwist.tap",
    "A live-streaming server (RTMP, HTTP-FLV, HLS) that runs SRS 2.0 config files.",
    "srs",
)
