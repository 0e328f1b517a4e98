"""The retrieval engine's replies: short spoken answers built from the notes' own sentences.

The engine writes nothing of its own beyond a few fixed phrases (``prompts``): an answer is the
sentences that answer the question (``selection``), within about 60 words, cited; then, when
the tutor's prompt asks for it, a short question that checks understanding. Requests about the
conversation (simpler, an example, say that again, more detail, greetings, thanks) are answered
as such, and where the notes have nothing, the tutor says so and what it can help with.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from llm_svc.engines.base import KnowledgeSource
from llm_svc.knowledge.documents import PassageHit, split_sentences
from llm_svc.tutoring import prompts
from llm_svc.tutoring.conversation import Turn, find_passages
from llm_svc.tutoring.intents import Intent, normalize
from llm_svc.tutoring.questions import asks_what_next, strip_type_words
from llm_svc.tutoring.selection import Selection, Wanted, select
from llm_svc.tutoring.sentence_roles import example_strength

# Passages searched for sentences; answers draw on at most ReplyPolicy.max_passages of them.
_CANDIDATE_PASSAGES = 5
# Share of the words of a student's answer (IDF-weighted) that must match what was taught.
_RIGHT_ENOUGH = 0.5


@dataclass(frozen=True)
class Reply:
    """What the tutor says, and the passages it drew on."""

    text: str
    citations: tuple[PassageHit, ...] = ()
    #: The notes held nothing for the question (FINISH_REASON_NO_MATERIAL).
    no_material: bool = False


@dataclass(frozen=True)
class ReplyPolicy:
    """Lengths and wording of replies."""

    #: Words in a whole reply (check question included) unless the student asks for more.
    answer_words: int = 60
    #: Words when the student asks for more detail.
    detail_words: int = 120
    #: Words of an answer put simply.
    simple_words: int = 30
    #: Passages one answer may draw sentences from.
    max_passages: int = 2
    no_material_text: str = "I don't have any material about that in my notes."


def compose_reply(turn: Turn, knowledge: KnowledgeSource | None, policy: ReplyPolicy) -> Reply:
    """The reply to ``turn`` from ``knowledge`` (None: the tutor has no knowledge base)."""
    intent = turn.intent
    if intent is Intent.GOODBYE:
        return Reply(prompts.GOODBYE)
    if intent is Intent.THANKS:
        return Reply(f"{prompts.THANKS} {prompts.ASK_SOMETHING}")
    if knowledge is None:
        if intent is Intent.GREETING:
            return Reply(f"{prompts.GREETING} {prompts.NO_KNOWLEDGE}")
        return Reply(prompts.NO_KNOWLEDGE, no_material=True)
    if intent is Intent.GREETING:
        offer = prompts.help_offer(knowledge.topics())
        return Reply(_join(prompts.GREETING, offer, prompts.ASK_SOMETHING))
    if intent is Intent.YES:
        return Reply(prompts.ACKNOWLEDGE)
    if intent is Intent.NO:
        return Reply(prompts.MISHEARD if turn.offered_topic else prompts.ASK_SOMETHING)
    if intent is Intent.REPEAT:
        return _repeat(turn, knowledge)
    if turn.topic is None or not turn.query:
        return Reply(prompts.NOTHING_YET)
    if intent is Intent.ATTEMPT:
        return _feedback(turn, knowledge) or _answer(turn, knowledge, policy)
    return _answer(turn, knowledge, policy)


def _feedback(turn: Turn, knowledge: KnowledgeSource) -> Reply | None:
    """Right or not quite: the student's answer to a check question, against the sentences of
    the last reply (its own words, the topic's left out, IDF-weighted). None when the last
    reply's sentences are not in the notes any more."""
    said = normalize(turn.last_reply)
    hits = find_passages(knowledge, turn, limit=_CANDIDATE_PASSAGES)
    key = [
        (hit, text, terms)
        for hit in hits
        for text, terms in knowledge.sentences(hit.passage)
        if normalize(text) in said
    ]
    if not key:
        return None
    topic = frozenset(knowledge.terms(turn.topic.text if turn.topic else ""))
    attempt = frozenset(knowledge.terms(turn.focus)) - topic
    taught = frozenset().union(*(terms for _, _, terms in key)) - topic
    first_hit, first_sentence, _ = key[0]
    if not attempt:  # "I don't know", "um"
        return Reply(_join(prompts.NO_ATTEMPT, first_sentence), (first_hit,))
    if knowledge.weighted_coverage(attempt, taught) >= _RIGHT_ENOUGH:
        return Reply(_join(prompts.RIGHT, prompts.AFTER_RIGHT), (first_hit,))
    return Reply(_join(prompts.NOT_QUITE, first_sentence, prompts.AFTER_NOT_QUITE), (first_hit,))


def _answer(turn: Turn, knowledge: KnowledgeSource, policy: ReplyPolicy) -> Reply:
    hits = find_passages(knowledge, turn, limit=_CANDIDATE_PASSAGES)
    if not hits:
        offer = prompts.help_offer(knowledge.topics())
        return Reply(_join(policy.no_material_text, offer), no_material=True)
    intent = turn.intent
    check = _check_question(turn)
    opener = {
        Intent.SIMPLER: prompts.SIMPLER_OPENER,
        Intent.NOT_UNDERSTOOD: prompts.NOT_UNDERSTOOD_OPENER,
    }.get(intent, "")
    if turn.preface is Intent.GREETING:
        opener = "Hello!"
    total = policy.detail_words if intent is Intent.MORE_DETAIL else policy.answer_words
    budget = total - _words(check) - _words(opener)
    if intent in (Intent.SIMPLER, Intent.NOT_UNDERSTOOD):
        budget = min(budget, policy.simple_words)
    focus = knowledge.reread(turn.focus) if turn.confirmed else turn.focus
    wanted = Wanted(
        focus=frozenset(knowledge.terms(strip_type_words(focus))),
        topic=frozenset(knowledge.terms(turn.topic.text if turn.topic else "")),
        kind=turn.kind,
        budget_words=budget,
        # "Tell me more" goes past everything said lately; an example or another way of
        # putting it needs only differ from what was just said.
        said=normalize(turn.recent_replies if intent is Intent.MORE_DETAIL else turn.last_reply),
        avoid_said=intent in _NEW_SENTENCES,
        # A new question is not answered with what was just said, if anything else answers it;
        # "simpler" may well say the same main sentence again.
        penalize_said=intent is Intent.QUESTION,
        follow_up=turn.must_cover is not None or intent in _NEW_SENTENCES,
        sequel=intent is Intent.MORE_DETAIL or asks_what_next(turn.focus),
        prefer_examples=intent is Intent.EXAMPLE,
        prefer_short=intent in (Intent.SIMPLER, Intent.NOT_UNDERSTOOD),
        max_passages=policy.max_passages,
    )
    if wanted.sequel:
        hits = _with_following_passages(knowledge, hits, normalize(turn.last_reply))
    selection = select(knowledge, hits, wanted)
    if intent is Intent.EXAMPLE and not _has_example(selection):
        # Honest: no example in the notes; the main idea, briefly, instead.
        opener = prompts.NO_EXAMPLE
        budget = policy.answer_words - _words(check) - _words(opener)
        plain = replace(wanted, prefer_examples=False, avoid_said=False, budget_words=budget)
        selection = select(knowledge, hits, plain)
    if not selection.sentences and intent is Intent.NOT_UNDERSTOOD:
        selection = select(knowledge, hits, replace(wanted, avoid_said=False))
    if not selection.sentences:
        return Reply(prompts.NOTHING_MORE)
    return Reply(_join(opener, selection.text, check), selection.citations)


# Requests whose answer should not repeat what the tutor just said.
_NEW_SENTENCES = (Intent.MORE_DETAIL, Intent.EXAMPLE, Intent.NOT_UNDERSTOOD)


def _with_following_passages(
    knowledge: KnowledgeSource, hits: list[PassageHit], said: str
) -> list[PassageHit]:
    """``hits`` with the passage after each one the last reply was read from ranked as high as
    it: "what happens next?" and "tell me more" go on where the last answer stopped, whatever
    words the next passage uses."""
    ranked = {(h.passage.document_id, h.passage.index): h for h in hits}
    for hit in hits:
        if not any(normalize(s) in said for s in split_sentences(hit.passage.text)):
            continue
        following = knowledge.following(hit.passage)
        if following is None:
            continue
        key = (following.document_id, following.index)
        current = ranked.get(key)
        if current is None or current.score < hit.score:
            # As relevant as the passage it continues: the student asked to go on from there.
            ranked[key] = PassageHit(following, hit.score, hit.coverage)
    return sorted(ranked.values(), key=lambda h: -h.score)


def _check_question(turn: Turn) -> str:
    if not turn.check_understanding:
        return ""
    return prompts.check_question(turn.kind, turn.subject, turn.tutor_turns)


def _repeat(turn: Turn, knowledge: KnowledgeSource) -> Reply:
    """The last reply again, citing the passages its sentences come from."""
    if not turn.last_reply:
        return Reply(prompts.NOTHING_YET)
    said = normalize(turn.last_reply)
    hits = knowledge.search(turn.query, limit=_CANDIDATE_PASSAGES) if turn.query else []
    cited = tuple(
        hit for hit in hits if any(normalize(s) in said for s in split_sentences(hit.passage.text))
    )
    return Reply(_join("Sure.", turn.last_reply.removeprefix("Sure. ")), cited)


def _has_example(selection: Selection) -> bool:
    return any(example_strength(s.text) >= 0.5 for s in selection.sentences)


def _words(text: str) -> int:
    return len(text.split())


def _join(*parts: str) -> str:
    return " ".join(part for part in parts if part)
