"""tts_svc: incremental text-to-speech over gRPC (vtutor.tts.v1.TtsService)."""
