"""The gateway: tutor sessions, the live turn pipeline (ASR -> LLM -> TTS -> lip-sync), barge-in."""
