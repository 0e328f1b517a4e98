"""How the tutor holds a conversation, for every engine: what the student means (intents,
follow-ups, questions heard badly), which knowledge to use, and how an answer is said."""
