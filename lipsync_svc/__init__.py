"""lipsync_svc: talking-head frames from speech, each carrying its own audio, and the avatars."""
