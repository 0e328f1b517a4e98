"""Questions a student asks about a document's own sentences, by generic English grammar.

Students reuse a document's clauses when they ask about them: "Rome was founded by Romulus"
is asked as "who founded rome" or "when was rome founded", "magma rises slowly" as "why does
magma rise". A trigram model learns such questions only from word sequences it has seen, so
each clause of the documents is turned into the question forms English grammar makes of it:

- a clause with an auxiliary ("S is/was/can ... REST") is inverted: "why is S REST", "is S
  REST"; a passive one ("S was founded by A") also gives "who founded S";
- a clause with a plain verb ("S rises REST") gets do-support: "how does S rise REST", "what
  did S build"; and its subject is asked for: "what causes REST", "who improved REST";
- the noun phrases (runs of content words) are asked about: "what is the left ventricle".

Each form is written out whole and cut short after its first phrase, as questions often end
there. No part of this knows a topic: it is word lists of English function words and verb
endings. A clause the rules misread only adds a few n-grams of noise to the counts.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Sequence

from asr_svc.language_model.words import phrase_words


def _set(words: str) -> frozenset[str]:
    return frozenset(words.split())


#: Punctuation and words that start a new clause inside a sentence.
_CLAUSE_BREAK = re.compile(r"[,;:()\"\u201c\u201d]|\s[-\u2013\u2014]\s|(?<=[.!?])\s+|\n\s*\n|#")
_CLAUSE_WORDS = _set(
    "which that because while where when so but although though whereas until unless if "
    "since whose who whom then however"
)
#: Words a clause may start with that are not part of its subject ("as the magma rises").
_LEADING = _set(
    "and or but so as then also however thus therefore because while when where if although "
    "though once after before since until even still yet now today instead"
)
_DETERMINERS = _set(
    "a an the this that these those its their his her our your my some any each every no "
    "all both many most several few"
)
_PRONOUNS = _set("it they he she we you i there this these those")
#: Clause words that can be a clause's subject ("which pumps blood").
_RELATIVES = _set("which that who")
_BE = _set("is are was were")
_AUXILIARIES = _BE | _set("has have had can could will would may might must should does do did")
_PREPOSITIONS = _set(
    "of to in on at by for with from into onto about over under between through across along "
    "around against among during without within beneath below above behind near like"
)
#: Words that are never a subject's last word nor a plain verb.
_FUNCTION = (
    _DETERMINERS
    | _AUXILIARIES
    | _CLAUSE_WORDS
    | _LEADING
    | _PREPOSITIONS
    | _set(
        "than as not very also only just more less much such own same other another "
        "up down out off away back"
    )
)
#: Common irregular past tenses (and participles) -> the verb's base form.
_IRREGULAR = {
    "began": "begin", "became": "become", "brought": "bring", "built": "build",
    "bought": "buy", "caught": "catch", "came": "come", "chose": "choose", "dug": "dig",
    "drew": "draw", "drove": "drive", "fell": "fall", "felt": "feel", "fed": "feed",
    "fought": "fight", "found": "find", "flew": "fly", "froze": "freeze", "gave": "give",
    "got": "get", "grew": "grow", "held": "hold", "kept": "keep", "knew": "know", "led": "lead",
    "left": "leave", "lost": "lose", "made": "make", "meant": "mean", "ran": "run",
    "rose": "rise", "said": "say", "sank": "sink", "saw": "see", "sent": "send",
    "shook": "shake", "sold": "sell", "spoke": "speak", "spread": "spread", "stood": "stand",
    "struck": "strike", "taught": "teach", "thought": "think", "threw": "throw", "told": "tell",
    "took": "take", "went": "go", "won": "win", "wore": "wear", "wrote": "write",
    "broke": "break", "hid": "hide", "lay": "lie", "paid": "pay", "put": "put", "set": "set",
    "shot": "shoot", "split": "split", "swept": "sweep", "understood": "understand",
}  # fmt: skip
#: Irregular past participles (regular ones end in "-ed").
_PARTICIPLES = _set(
    "begun born chosen done drawn driven eaten fallen flown frozen given gone grown "
    "hidden known ridden risen seen shaken shown spoken stolen taken thrown worn written "
    "broken called "
)
#: The longest subject a clause is read with, in words (longer: the clause is misread).
_MAX_SUBJECT = 5
#: The longest clause tail a question keeps, in words.
_MAX_TAIL = 8


def clauses(document: str) -> Iterator[list[str]]:
    """The clauses of a document, as words: sentences cut at punctuation and clause words."""
    for piece in _CLAUSE_BREAK.split(document):
        clause: list[str] = []
        for word in phrase_words(piece):
            if word in _CLAUSE_WORDS and clause:
                yield clause
                clause = []
            clause.append(word)
        if clause:
            yield clause


def clause_questions(
    documents: Iterable[str],
    known: Callable[[str], bool] | None = None,
    *,
    student_forms: bool = False,
) -> list[str]:
    """The questions the documents' clauses make (see the module docstring), one per line.

    Args:
        documents: The documents' plain text.
        known: Whether a word is a real word (e.g. in the pronunciation dictionary): picks a
            verb's base form among the spellings its ending allows. None: the first spelling.
        student_forms: Also the forms a student asks in rather than the document's own
            (``student_forms``): the other tense ("how did clouds form" of "clouds form"),
            a passive asked actively ("how do volcanoes form" of "volcanoes are formed"), a
            noun phrase in its other grammatical number (with ``known``).
    """
    lines: list[str] = []
    for document in documents:
        for clause in clauses(document):
            clause = _strip_leading(clause)
            lines.extend(_questions(clause, known))
            if student_forms:
                lines.extend(_student_forms(clause, known))
    # Once each: the model counts a repeated line as weighted (see kneser_ney).
    return list(dict.fromkeys(lines))


def noun_phrases(words: list[str]) -> Iterator[list[str]]:
    """Runs of content words that start a clause or follow a determiner or preposition, and
    their last one to three words (a phrase's last word is its head noun)."""
    run: list[str] = []
    opened = True
    for word in [*words, ""]:
        if word and _content(word):
            if opened or run:
                run.append(word)
            continue
        for start in range(max(0, len(run) - 3), len(run)):
            yield run[start:]
        run = []
        opened = word in _FUNCTION


def _questions(clause: list[str], known: Callable[[str], bool] | None) -> list[str]:
    # Runs of content words are not cut at a verb ("what is volcanoes erupt"): on the dev
    # split, cutting them lost more questions than the nonsense lines cost.
    lines = [
        form.format(np=" ".join(phrase))
        for phrase in noun_phrases(clause)
        for form in ("what is the {np}", "what are {np}", "what is {np}")
    ]
    for verb, auxiliary, base in _verbs(clause, known):
        subject, word, rest = clause[:verb], clause[verb], clause[verb + 1 :]
        lines += _verb_questions(subject, word, auxiliary, base, rest)
    return lines


def _student_forms(clause: list[str], known: Callable[[str], bool] | None) -> list[str]:
    """Questions about a clause in the forms a student says them in, where the document says
    them otherwise: a student asks in the past what a document states in the present ("how
    did the solar system form"), in the present what it tells as history, actively what it
    puts in the passive ("how do shield volcanoes form" of "shield volcanoes are formed"),
    and of "volcano" where the document has "volcanoes"."""
    lines: list[str] = []
    readings = list(_verbs(clause, known))
    passive = _passive(clause, known)
    if passive is not None:
        readings = [passive]
    if known is not None:
        verbs = {clause[index] for index, _, _ in readings}
        for phrase in noun_phrases(clause):
            if verbs & set(phrase) or not (variant := other_number(phrase, known)):
                continue
            plural = variant[-1].endswith("s")
            forms = (
                ("what are {np}", "what are the {np}")
                if plural
                else ("what is {np}", "what is a {np}", "what is the {np}")
            )
            lines += [form.format(np=" ".join(variant)) for form in forms]
    for verb, auxiliary, base in readings:
        subject, word, rest = clause[:verb], clause[verb], clause[verb + 1 :]
        if subject[0] in _CLAUSE_WORDS or (word in _AUXILIARIES and passive is None):
            continue
        auxiliaries: tuple[str, ...]
        if passive is not None:
            # "S are formed by A" -> "how do S form", "how did S form"
            auxiliaries = ("did", _present(subject))
            rest = rest[1:]
        else:
            # The other tense: "does" / "do" -> "did"; "did" -> "does" or "do" by the subject.
            auxiliaries = ("did",) if auxiliary != "did" else (_present(subject),)
        subject_text = " ".join(subject)
        for aux in auxiliaries:
            for tail in dict.fromkeys([*_tails(rest), ""]):
                lines += [f"{wh} {aux} {subject_text} {base} {tail}".strip() for wh in _WH]
            lines.append(f"what {aux} {subject_text} {base}")
    return lines


def _passive(clause: list[str], known: Callable[[str], bool] | None) -> tuple[int, str, str] | None:
    """A passive clause's be ("S are formed by A"): (its index, "", the participle's base
    form); None if the clause is not read as one."""
    for index, word in enumerate(clause[1 : _MAX_SUBJECT + 1], start=1):
        if word in _AUXILIARIES and word not in _BE:
            return None
        if word in _BE:
            if index + 1 >= len(clause):
                return None
            participle = clause[index + 1]
            if participle in _NAMING:
                return None  # "mars is called the red planet" names, it tells no deed
            if participle in _PARTICIPLE_BASE:
                base = _PARTICIPLE_BASE[participle]
            elif participle in _IRREGULAR:
                base = _IRREGULAR[participle]
            elif participle.endswith("ed") and len(participle) > 4:
                base = _base_form(participle, known)[1]
            else:
                return None
            return (index, "", base) if base else None
    return None


#: Participles of naming, which a student asks about in the passive only.
_NAMING = _set("called named known termed")
#: Base forms of the irregular participles ``_PARTICIPLES`` lists.
_PARTICIPLE_BASE = {
    "begun": "begin", "born": "", "chosen": "choose", "done": "do", "drawn": "draw",
    "driven": "drive", "eaten": "eat", "fallen": "fall", "flown": "fly", "frozen": "freeze",
    "given": "give", "gone": "go", "grown": "grow", "hidden": "hide", "known": "know",
    "ridden": "ride", "risen": "rise", "seen": "see", "shaken": "shake", "shown": "show",
    "spoken": "speak", "stolen": "steal", "taken": "take", "thrown": "throw", "worn": "wear",
    "written": "write", "broken": "break", "called": "call",
}  # fmt: skip


def _present(subject: list[str]) -> str:
    """The present do-support auxiliary a subject takes: "do" for a plural, else "does"."""
    last = subject[-1]
    if last in _set("they we you i these those") or (
        last.endswith("s") and not last.endswith(("ss", "us", "is")) and len(last) > 3
    ):
        return "do"
    return "does"


def other_number(phrase: Sequence[str], known: Callable[[str], bool]) -> list[str] | None:
    """A noun phrase with its last word in the other grammatical number, if that is a known
    word: "shield volcanoes" -> "shield volcano", "cloud" -> "clouds"."""
    head, last = list(phrase[:-1]), phrase[-1]
    if last.endswith("s") and not last.endswith(("ss", "us", "is")):
        candidates = [last[:-3] + "y"] if last.endswith("ies") else []
        sibilant = last.endswith(("ches", "shes", "sses", "xes", "zes", "oes"))
        candidates += [last[:-2], last[:-1]] if sibilant else [last[:-1]]
    elif last.endswith("y") and last[-2:-1] not in ("a", "e", "o", "u"):
        candidates = [last[:-1] + "ies"]
    elif last.endswith(("s", "sh", "ch", "x", "z", "o")):
        candidates = [last + "es", last + "s"]
    else:
        candidates = [last + "s"]
    for candidate in candidates:
        if len(candidate) > 2 and known(candidate):
            return [*head, candidate]
    return None


def _verbs(
    clause: list[str], known: Callable[[str], bool] | None
) -> Iterator[tuple[int, str, str]]:
    """Readings of where a clause's verb is: (index, do-support auxiliary, base form).

    A word with a verb's ending ("rises", "founded") or an auxiliary is the first reading.
    A plural subject's verb has no ending ("volcanoes erupt"), and reads just like a noun
    after an adjective ("plates move" / "heart pumps blood"): that reading is added too.
    """
    if clause[0] in _PREPOSITIONS:
        return
    verb = _verb_index(clause)
    if verb is not None:
        yield verb, *_base_form(clause[verb], known)
    for index in range(1, min(len(clause), _MAX_SUBJECT + 1)):
        word, previous = clause[index], clause[index - 1]
        if verb is not None and index > verb + 1:
            break  # the plural reading's verb can only follow the first reading's
        if (
            _content(previous)
            and previous.endswith("s")
            and _content(word)
            and not _looks_finite(word)
            and not word.endswith("ly")
        ):
            yield index, "do", word
            break


def _verb_questions(
    subject: list[str], word: str, auxiliary: str, base: str, rest: list[str]
) -> list[str]:
    """The questions a clause makes, read as ``subject word rest`` (``word``: its verb)."""
    lines: list[str] = []
    subject_text = " ".join(subject)
    if subject[0] in _CLAUSE_WORDS:
        subject_text = ""  # "which absorbs red light": only the subject question applies
    if word in _AUXILIARIES:
        if subject_text:
            for tail in _tails(rest):
                lines += [f"{wh} {word} {subject_text} {tail}".strip() for wh in _WH]
            lines.append(f"what {word} {subject_text}")
            if word in _BE and rest and _is_participle(rest[0]):
                # Passive: "S was founded by A" -> "who founded S"
                lines += [f"who {rest[0]} {subject_text}", f"what {rest[0]} {subject_text}"]
        lines += [f"what {word} {tail}" for tail in _tails(rest) if tail]
        return lines
    if subject_text:
        # "why do volcanoes erupt": a plain verb's question may end at the verb.
        for tail in dict.fromkeys([*_tails(rest), ""]):
            lines += [f"{wh} {auxiliary} {subject_text} {base} {tail}".strip() for wh in _WH]
        lines.append(f"what {auxiliary} {subject_text} {base}")
    for tail in _tails(rest):
        if tail:
            lines += [f"what {word} {tail}", f"who {word} {tail}"]
    return lines


#: The question words a clause is asked with ("" for a yes/no question).
_WH = ("why", "how", "when", "where", "what", "")


def _tails(rest: list[str]) -> list[str]:
    """The clause's tail whole (at most _MAX_TAIL words), and cut after its first phrase."""
    rest = rest[:_MAX_TAIL]
    tails = [" ".join(rest)]
    for index, word in enumerate(rest):
        if _content(word):
            end = index + 1
            while end < len(rest) and _content(rest[end]):
                end += 1
            if end < len(rest):
                tails.append(" ".join(rest[:end]))
            break
    return tails


def _verb_index(clause: list[str]) -> int | None:
    """Where a clause's verb is: an auxiliary, or a word with a verb's ending after a subject."""
    for index, word in enumerate(clause[: _MAX_SUBJECT + 1]):
        if index == 0:
            continue
        previous = clause[index - 1]
        if word in _AUXILIARIES:
            return index
        subject_word = previous in _PRONOUNS or (index == 1 and previous in _RELATIVES)
        if not subject_word and (previous in _DETERMINERS or previous in _FUNCTION):
            continue
        if word in _IRREGULAR or _looks_finite(word):
            return index
    return None


def _looks_finite(word: str) -> bool:
    if word in _FUNCTION or len(word) < 4 or "'" in word:
        return False
    if word.endswith("ed"):
        return True
    return word.endswith("s") and not word.endswith(("ss", "us", "is", "ics", "ous"))


def _base_form(word: str, known: Callable[[str], bool] | None) -> tuple[str, str]:
    """A finite verb's do-support auxiliary and base form: "rises" -> ("does", "rise")."""
    if word in _AUXILIARIES:
        return word, word
    if word in _IRREGULAR:
        return "did", _IRREGULAR[word]
    if word.endswith("ed"):
        stem = word[:-2]
        candidates = [stem[:-1] + "y"] if stem.endswith("i") else []
        # "formed", "linked", "passed": after two consonants English writes no silent e (the
        # dictionary knows "linke", a name), but "changed", "solved", "bathed" have one.
        bare = len(stem) > 2 and stem[-2] not in _VOWELS and stem[-1] not in _VOWELS
        bare = bare and (stem[-1] not in "cgvsz" or stem[-1] == stem[-2])
        bare = bare and not stem.endswith("th")
        candidates += [stem, stem + "e"] if bare else [stem + "e", stem]
        if len(stem) > 2 and stem[-1] == stem[-2]:
            if stem[-1] in "lsfz":
                candidates.append(stem[:-1])  # "called" -> "call", "travelled" -> "travel"
            else:
                candidates.insert(0, stem[:-1])  # "stopped" -> "stop"
        return "did", _pick(candidates, known)
    candidates = []
    if word.endswith("ies"):
        candidates.append(word[:-3] + "y")
    if word.endswith(("ches", "shes", "sses", "xes", "zes", "oes")):
        candidates.append(word[:-2])
    candidates.append(word[:-1])
    return "does", _pick(candidates, known)


_VOWELS = "aeiouy"


def _is_participle(word: str) -> bool:
    """Whether ``word`` reads as a past participle ("founded", "known", "built")."""
    return word in _PARTICIPLES or word in _IRREGULAR or (word.endswith("ed") and len(word) > 4)


def _pick(candidates: list[str], known: Callable[[str], bool] | None) -> str:
    if known is not None:
        for candidate in candidates:
            if known(candidate):
                return candidate
    return candidates[0]


def _strip_leading(clause: list[str]) -> list[str]:
    start = 0
    while start < len(clause) - 1 and clause[start] in _LEADING:
        start += 1
    return clause[start:]


def _content(word: str) -> bool:
    return len(word) > 2 and word not in _FUNCTION and not word.isdigit()
