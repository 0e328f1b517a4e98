"""Load-test harness: simulated students talking to the tutor over gRPC or WebRTC."""
