"""rtc_edge: bridges each student's WebRTC peer to one gateway Converse stream."""
