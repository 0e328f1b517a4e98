"""Languages of voices, read from the way each engine names them."""

from __future__ import annotations

import re

# edge: "en-US-AriaNeural"; piper: "en_US-joe-medium" (the voice file's name).
_VOICE_LANGUAGE = re.compile(r"^([a-z]{2,3})[-_]([A-Za-z]{2,4})-")


def language_of_voice(voice: str) -> str:
    """The BCP-47 language a voice name starts with ("en-US-AriaNeural", "en_US-joe-medium"
    -> "en-US"), or "" when the name does not say."""
    match = _VOICE_LANGUAGE.match(voice)
    return f"{match.group(1)}-{match.group(2)}" if match else ""


def bcp47(code: str) -> str:
    """A locale as BCP-47 ("en_US" -> "en-US")."""
    return code.replace("_", "-")
