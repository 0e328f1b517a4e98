"""Error analysis of tutors' recognition (issue 15), on one split of the spoken-question set.

Every question is decoded by each of a tutor's decoders alone (``engines.pocketsphinx``): the
tutor's broad model, its question model, and the general model of the off-topic second
opinion, all from the same channel estimate. Printed per split part (on/off topic, clean/20 dB
white noise): each decoder's WER, the WER of the best choice among them (what a perfect choice
of final could reach), of the best of all their NBEST most likely transcripts (what choosing
among more of each decoder's candidates could reach, at best), the question words missing
from the tutor's and the question model's vocabularies, and each decoder's CPU RTF.
``--dump`` writes every transcript with its confidence, acoustic score and language-model
scores (and each decoder's NBEST), for trying choice rules offline.
Develop against ``dev`` only; ``held_out`` is for reporting.

Run: ``python -m benchmarks.asr_accuracy_errors --split dev [--dump file.json]``.
"""

from __future__ import annotations

import argparse
import functools
import json
import time
from collections import Counter
from pathlib import Path
from typing import Any

from asr_svc.config import AsrSettings
from asr_svc.engines import pocketsphinx
from asr_svc.engines.base import KnowledgeText, StreamSpec
from asr_svc.language_model.sentence_choice import SentenceMixture, sentence_log_prob
from tests.support import spoken_questions

DECODERS = ("tutor", "questions", "general")
#: Each decoder's most likely transcripts kept per utterance (distinct texts, from its lattice).
NBEST = 20


def _decode(decoder: Any, pcm: bytes, cmn: str | None, calibration: Any = None) -> dict[str, Any]:
    if cmn is not None:
        decoder.set_cmn(cmn)
    cpu = time.thread_time()
    decoder.start_utt()
    decoder.process_raw(pcm, False, True)
    decoder.end_utt()
    cpu = time.thread_time() - cpu
    transcript, candidate = pocketsphinx._transcript(decoder, calibration)
    nbest = [" ".join(words) for words in pocketsphinx._nbest(decoder, NBEST)]
    return {
        "text": transcript.text,
        "nbest": nbest,
        "confidence": transcript.confidence,
        "acoustic": candidate.acoustic if candidate is not None else None,
        "cpu_s": cpu,
    }


def analyze(split: str) -> list[dict[str, Any]]:
    """Every question of ``split``, clean and noisy, decoded by each decoder alone."""
    engine = pocketsphinx.PocketsphinxEngine(
        AsrSettings(port=0, idle_decoders=16, question_model=True)
    )
    engine.load()
    documents = {**spoken_questions.documents("dev"), **spoken_questions.documents(split)}
    names = list(spoken_questions.documents(split))
    general = engine._new_fallback_decoder()
    decoders: dict[str, tuple[Any, Any, Any]] = {}
    rows: list[dict[str, Any]] = []
    for noise in ("clean", "white"):
        for question in spoken_questions.questions(split):
            pcm = spoken_questions.recording(question, noise)
            name = spoken_questions.asked_of(question, names)
            if name not in decoders:
                spec = StreamSpec(knowledge=KnowledgeText(name, name, (documents[name],)))
                models = engine._tutor_models(spec)
                assert models.tutor is not None and models.questions is not None
                decoders[name] = (
                    models,
                    engine._new_decoder(models.tutor),
                    engine._new_decoder(models.questions, pocketsphinx.QUESTION_SEARCH),
                )
            models, tutor, questions = decoders[name]
            cmn = engine.channel_estimate
            heard = {"tutor": _decode(tutor, pcm, cmn)}
            engine._remember_cmn(tutor.get_cmn())
            heard["questions"] = _decode(questions, pcm, cmn, pocketsphinx.QUESTION_CONFIDENCE)
            heard["general"] = _decode(general, pcm, cmn)
            mixture = SentenceMixture(
                functools.partial(pocketsphinx._log10_prob, tutor),
                engine.general_log10_prob(),
            )
            question_log10 = functools.partial(pocketsphinx._log10_prob, questions)
            for result in heard.values():
                words = result["text"].split()
                result["log_prob_tutor"], result["log_prob_general"] = mixture.log_probs(words)
                result["log_prob_questions"] = sentence_log_prob(words, question_log10)
                result["tutor_margin"] = mixture.tutor_margin(words)

            said = question.text.split()
            rows.append(
                {
                    "noise": noise,
                    "on_topic": question.on_topic,
                    "said": question.text,
                    "seconds": len(pcm) / 32000,
                    "missing_tutor": [w for w in said if w not in models.tutor.vocabulary],
                    "missing_questions": [w for w in said if w not in models.questions.vocabulary],
                    **heard,
                }
            )
    return rows


def summary(rows: list[dict[str, Any]]) -> None:
    """Prints each decoder's WER and CPU RTF, the best choice's WER, and missing words."""
    print(
        f"{'part':<10} {'tutor':>6} {'quest.':>6} {'general':>7} {'best':>6} "
        f"{'n-best':>6}   CPU RTF t/q/g"
    )
    for noise in ("clean", "white"):
        for on_topic in (True, False):
            part = [r for r in rows if r["noise"] == noise and r["on_topic"] == on_topic]
            if not part:
                continue
            wers = [
                spoken_questions.word_error_rate([(r["said"], r[d]["text"]) for r in part])
                for d in DECODERS
            ]
            best = spoken_questions.word_error_rate([_best(r) for r in part])
            best_n = spoken_questions.word_error_rate([_best(r, nbest=True) for r in part])
            audio = sum(r["seconds"] for r in part)
            rtf = "/".join(f"{sum(r[d]['cpu_s'] for r in part) / audio:.3f}" for d in DECODERS)
            label = f"{noise} {'on' if on_topic else 'off'}"
            print(
                f"{label:<10} {wers[0]:>6.3f} {wers[1]:>6.3f} {wers[2]:>7.3f} {best:>6.3f} "
                f"{best_n:>6.3f}   {rtf}"
            )
    asked = [r for r in rows if r["on_topic"] and r["noise"] == "clean"]
    print("on-topic words missing from the tutor's model:", dict(_missing(asked, "tutor")))
    print("... from the question model:", dict(_missing(asked, "questions")))


def _best(row: dict[str, Any], *, nbest: bool = False) -> tuple[str, str]:
    """(What was said, the decoders' transcript with the fewest errors); ``nbest``: among all
    their NBEST most likely transcripts."""
    heard = [str(row[decoder]["text"]) for decoder in DECODERS]
    if nbest:
        heard += [text for decoder in DECODERS for text in row[decoder]["nbest"]]
    return row["said"], min(heard, key=lambda text: spoken_questions.word_errors(row["said"], text))


def _missing(rows: list[dict[str, Any]], model: str) -> Counter[str]:
    return Counter(word for row in rows for word in row[f"missing_{model}"])


def main() -> None:
    """Command line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--split", default="dev", choices=("dev", "fit", "held_out"))
    parser.add_argument("--dump", type=Path, help="write every transcript here (JSON)")
    args = parser.parse_args()
    rows = analyze(args.split)
    summary(rows)
    if args.dump is not None:
        args.dump.write_text(json.dumps(rows, indent=1))
        print(f"written: {args.dump}")


if __name__ == "__main__":
    main()
