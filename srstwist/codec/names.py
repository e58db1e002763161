# -*- test-case-name: tests.test_stats -*-
"""
The names SRS's HTTP API gives codec parameters: H.264 profiles and levels,
AAC object types (SRS 2.0 ``srs_codec_avc_profile2str``,
``srs_codec_avc_level2str`` and ``srs_codec_aac_object2str`` in
``trunk/src/kernel/srs_kernel_codec.cpp``).
"""

from __future__ import annotations

__all__ = ["avc_profile_name", "avc_level_name", "aac_object_name"]

# srs_codec_avc_profile2str: AVCProfileIndication (the SRS enum values above
# 255 add constraint flags the configuration record never carries).
_AVC_PROFILES = {
    66: "Baseline",
    66 | 1 << 9: "Baseline(Constrained)",
    77: "Main",
    88: "Extended",
    100: "High",
    110: "High(10)",
    110 | 1 << 11: "High(10+Intra)",
    122: "High(422)",
    122 | 1 << 11: "High(422+Intra)",
    144: "High(444)",
    244: "High(444+Predictive)",
    244 | 1 << 11: "High(444+Intra)",
}
# srs_codec_avc_level2str: AVCLevelIndication is ten times the level.
_AVC_LEVELS = {
    level: (str(level // 10) if level % 10 == 0 else f"{level // 10}.{level % 10}")
    for level in (10, 11, 12, 13, 20, 21, 22, 30, 31, 32, 40, 41, 50, 51)
}
# srs_codec_aac_object2str: MPEG-4 audio object types.
_AAC_OBJECTS = {1: "Main", 2: "LC", 3: "SSR", 5: "HE", 29: "HEv2"}


def avc_profile_name(profile_idc: int) -> str:
    """
    The API name of an H.264 profile (``Baseline``, ``High(10)``...), or
    ``Other``.

    :param profile_idc: AVCProfileIndication from the sequence header.
    """
    return _AVC_PROFILES.get(profile_idc, "Other")


def avc_level_name(level_idc: int) -> str:
    """
    The API name of an H.264 level (``3.1``), or ``Other`` for levels SRS
    2.0 does not name (``1b``, ``5.2`` and above).

    :param level_idc: AVCLevelIndication from the sequence header.
    """
    return _AVC_LEVELS.get(level_idc, "Other")


def aac_object_name(object_type: int) -> str:
    """
    The API name of an AAC audio object type (``LC``, ``HE``...), or
    ``Other``.

    :param object_type: audioObjectType of the AudioSpecificConfig.
    """
    return _AAC_OBJECTS.get(object_type, "Other")
