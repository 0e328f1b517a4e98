"""asr_svc: streaming speech recognition with neural voice-activity endpointing."""
