"""The 15 mouth shapes shared by speech synthesis and lip-sync: TTS emits them, lip-sync draws them.

Mirrors ``vtutor.common.v1.Viseme`` without its prefix, so engines speak plain Python.
"""

from __future__ import annotations

import enum


class Viseme(enum.Enum):
    """Mouth shapes of the 15-viseme set (vtutor.common.v1.Viseme without the prefix)."""

    SIL = "SIL"
    PP = "PP"
    FF = "FF"
    TH = "TH"
    DD = "DD"
    KK = "KK"
    CH = "CH"
    SS = "SS"
    NN = "NN"
    RR = "RR"
    AA = "AA"
    E = "E"
    IH = "IH"
    OH = "OH"
    OU = "OU"
