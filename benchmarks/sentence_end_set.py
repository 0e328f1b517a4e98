"""Text sets behind the end-of-turn sentence-end bounds (``asr_svc.end_of_turn``).

Finished tutoring questions, and places inside questions where a student stops to think. The
bounds ``LIKELY_END`` and ``UNLIKELY_END`` were chosen on these lists; they are apart from the
questions the tests and the other benchmark sections speak. ``python -m
benchmarks.asr_end_of_turn`` prints how the general model scores them.
"""

from __future__ import annotations

FINISHED = (
    *("what is an atom", "why do we have day and night", "how are mountains formed"),
    *("what does the liver do", "who wrote romeo and juliet", "when did world war two end"),
    *("where do rivers come from", "how many bones are in the human body"),
    *("what is the speed of light", "why do birds migrate", "how does electricity work"),
    *("what is a fraction", "can you explain gravity", "what is the boiling point of water"),
    *("why do we need sleep", "how do vaccines work", "what is democracy"),
    *("what are the parts of a flower", "how do fish breathe", "what is an adjective"),
    *("what is the largest planet", "why is the grass green", "how do you add fractions"),
    *("what is climate change", "explain how rain forms", "what makes thunder"),
    *("how old is the earth", "what is the square root of sixteen", "why do things float"),
    *("how do computers store information", "what is evaporation"),
    *("what do plants need to grow", "who invented the telephone"),
    *("what is the pythagorean theorem", "how does the moon affect the tides", "what is a verb"),
    *("why do we breathe", "what is erosion", "what is the meaning of life"),
    *("how do i find the area of a triangle", "what are clouds made of"),
    *("where is the amazon river", "what is a cell", "why did the dinosaurs die out"),
    *("how does sound travel", "what is friction", "what causes rain"),
    *("tell me about ancient egypt", "what is the biggest animal", "how do airplanes fly"),
)
STOPS = (
    *("what is the biggest", "how do you find the", "why did the", "what are the main"),
    *("how does the", "can you explain what", "what is the largest", "tell me more"),
    *("how many", "what is the", "why do", "when did the", "who was the first", "how do i"),
    *("what are", "can you help me", "what would happen", "how long did it", "what does it"),
    *("why does it", "how is it", "what do you", "could you explain", "i want to know"),
    *("what is the name", "how much does it", "what is the capital", "how far is it"),
    *("where does the", "which planet is the", "what kind of", "is it true that"),
    *("how do we know", "what did the ancient", "how does a", "what causes the"),
    *("what is the difference", "how are they", "why are the", "explain the"),
)
