"""Recognition accuracy with tutors' own language models (issue 15), for ``benchmarks.asr_svc``.

On the spoken-question set of ``tests/support/spoken_questions`` (espeak-ng voices and speeds;
clean, and with white or pink noise at 20 dB SNR), each question is recognized twice by the
pocketsphinx engine: with the general English model (two search passes, as when the issue
measured it; ``ASR_GENERAL_TWO_PASS``), and with the language model of a tutor
whose knowledge base is the question's document (off-topic questions go to the tutors in
turn): the tutor's stream decodes with its broad model, and doubtful finals get second
opinions after they end: the tutor's question model's when they read as its material, the
general model's when they read as everyday English (``engines.pocketsphinx``;
``ASR_QUESTION_OPINION=false`` and ``ASR_OFF_TOPIC_FALLBACK=false`` turn those off;
``ASR_QUESTION_MODEL=true`` streams the question model on every utterance instead), or, with
Whisper's rescoring (the default when its model is installed; ``ASR_RESCORE_MODEL=off`` turns
it off), both models stream and Whisper chooses among their likeliest transcripts and its own
(``engines.whisper_rescoring``), Moonshine scoring the likeliest few too
(``engines.moonshine_scoring``; ``ASR_MOONSHINE_MODEL=off`` turns it off); their CPU time is
counted with the decoders'. No phrase
hints. The ``held_out`` split was not used while developing the method; its
numbers are the headline. Streams are opened as the service opens them (same decoder pool and
channel adaptation), with the whole question as one utterance. Each condition (split and
noise) starts as a freshly started service does, from the model's own channel estimate and no
idle decoders, so no row depends on the rows run before it (it did: held-out on-topic WER read
0.289 after the dev split and 0.234 alone).

Also: the real-time factor of decoding with a tutor's model (all decoding, second opinions
included, over all audio; and per utterance, its 90th percentile; CPU time split into the
decoders' search while the audio streams and the work at its end), the share of finals that
read as the last interim did (the gateway's speculative answer to it stands), the share of
finals that got each second opinion, the time from an utterance's end to its final transcript
(second opinions are decoded then), and the time to build a tutor's model from 50 pages of
documents (model text, pronunciations, and the first decoder).

Run alone: ``python -m benchmarks.asr_accuracy --quick`` (clean and white noise; without
``--quick`` pink noise too), writing ``bench-results/asr_accuracy.json``. While developing:
``--splits dev,fit --no-general`` (the splits to develop on, without the general model's
slow reference decodes), ``--set NAME=VALUE`` to try another value of an engine constant
(e.g. ``--set QUESTION_OPINION_BELOW=0.75``), and compare runs question by question by the
``transcripts`` of their JSON.
"""

from __future__ import annotations

# First: importing asr_svc limits numpy's BLAS threads, as in the service.
import asr_svc  # noqa: F401

# isort: split
import argparse
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from asr_svc.config import AsrSettings
from asr_svc.engines import moonshine_scoring, pocketsphinx, whisper_rescoring
from asr_svc.engines.base import KnowledgeText, StreamSpec, Transcript
from asr_svc.engines.pocketsphinx import PocketsphinxEngine
from tests.support import spoken_questions

RATE = 16000
WORDS_PER_PAGE = 500
DEMO_DOCUMENTS = Path(__file__).resolve().parent.parent / "llm_svc" / "data" / "demo"
SPLITS = ("dev", "fit", "held_out")
RESULTS = Path(__file__).resolve().parent.parent / "bench-results" / "asr_accuracy.json"


@dataclass(frozen=True)
class _Decoded:
    """One utterance decoded, and what it cost.

    Attributes:
        transcript: The final transcript.
        wall_s: Wall seconds of the whole decode.
        streamed_cpu_s: CPU seconds while the audio streamed in: the decoders' search.
        final_cpu_s: CPU seconds from the utterance's end to its final: second opinions, or
            Whisper's rescoring (its threads included).
        final_s: Wall seconds from the utterance's end to its final.
        last_interim: The interim transcript when the audio ended: what the gateway answers
            speculatively, kept only if the final reads the same.
    """

    transcript: Transcript
    wall_s: float
    streamed_cpu_s: float
    final_cpu_s: float
    final_s: float
    last_interim: str


def _decode(engine: PocketsphinxEngine, spec: StreamSpec, pcm: bytes) -> _Decoded:
    """One utterance decoded as the service decodes it, timed. CPU time is this process's,
    the Whisper rescorer's threads included: other processes on a shared machine do not
    inflate it."""
    stream = engine.open_stream(spec)
    try:
        started, cpu = time.perf_counter(), time.process_time()
        stream.start_utterance()
        stream.accept(np.frombuffer(pcm, dtype="<i2"))
        ending, ending_cpu = time.perf_counter(), time.process_time()
        interim = stream.interim()
        transcript = stream.finish(len(pcm) // 2)
        ended, ended_cpu = time.perf_counter(), time.process_time()
        return _Decoded(
            transcript,
            ended - started,
            ending_cpu - cpu,
            ended_cpu - ending_cpu,
            ended - ending,
            interim,
        )
    finally:
        stream.close()


def _condition(
    engine: PocketsphinxEngine, reference: PocketsphinxEngine | None, split: str, noise: str
) -> dict[str, Any]:
    # Held-out questions also ask about the dev documents (new questions, known material).
    documents = {**spoken_questions.documents("dev"), **spoken_questions.documents(split)}
    specs = {
        name: StreamSpec(knowledge=KnowledgeText(name, name, (text,)))
        for name, text in documents.items()
    }
    names = list(spoken_questions.documents(split))
    pairs: dict[str, list[tuple[str, str]]] = {
        "tutor_on": [], "general_on": [], "tutor_off": [], "general_off": []
    }  # fmt: skip
    decode_s = streamed_cpu_s = final_cpu_s = audio_s = 0.0
    second_opinions = question_opinions = rescored = interims_kept = 0
    finish_s: list[float] = []
    utterance_rtf: list[float] = []
    confidences: list[float] = []
    correct: list[bool] = []
    questions = spoken_questions.questions(split)
    for question in questions:
        pcm = spoken_questions.recording(question, noise)
        document = spoken_questions.asked_of(question, names)
        topic = "on" if question.on_topic else "off"
        _decode(engine, specs[document], pcm[: 2 * RATE // 10])  # the model is built, not timed
        before = engine.second_opinions, engine.question_opinions, engine.rescored
        decoded = _decode(engine, specs[document], pcm)
        transcript = decoded.transcript
        second_opinions += engine.second_opinions - before[0]
        question_opinions += engine.question_opinions - before[1]
        rescored += engine.rescored - before[2]
        interims_kept += transcript.text == decoded.last_interim
        decode_s += decoded.wall_s
        streamed_cpu_s += decoded.streamed_cpu_s
        final_cpu_s += decoded.final_cpu_s
        audio_s += len(pcm) / (2 * RATE)
        finish_s.append(decoded.final_s)
        cpu = decoded.streamed_cpu_s + decoded.final_cpu_s
        utterance_rtf.append(cpu / (len(pcm) / (2 * RATE)))
        pairs[f"tutor_{topic}"].append((question.text, transcript.text))
        confidences.extend(word.confidence for word in transcript.words)
        correct.extend(spoken_questions.correct_words(question.text, transcript.text))
        general = _decode(reference, StreamSpec(), pcm).transcript.text if reference else ""
        pairs[f"general_{topic}"].append((question.text, general))
    result: dict[str, Any] = {
        key: round(spoken_questions.word_error_rate(value), 3)
        if reference is not None or key.startswith("tutor")
        else None  # not decoded (--no-general)
        for key, value in pairs.items()
    }
    # RTF: all decoding time (streamed, and second opinions after the utterance) over all
    # audio; per utterance: its CPU time over its audio, the 90th percentile.
    result["tutor_rtf"] = round(decode_s / audio_s, 4)
    result["tutor_rtf_cpu"] = round((streamed_cpu_s + final_cpu_s) / audio_s, 4)
    # ... of which the decoders' search while the audio streamed (pocketsphinx), and the work
    # at the utterance's end (second opinions, or Whisper's rescoring).
    result["streamed_rtf_cpu"] = round(streamed_cpu_s / audio_s, 4)
    result["final_rtf_cpu"] = round(final_cpu_s / audio_s, 4)
    result["utterance_rtf_cpu_p90"] = round(float(np.percentile(utterance_rtf, 90)), 4)
    # Wall time from the utterance's end to its final transcript (second opinions included).
    result["final_ms_p50"] = round(1000 * float(np.percentile(finish_s, 50)), 1)
    result["final_ms_p90"] = round(1000 * float(np.percentile(finish_s, 90)), 1)
    # Finals the general model decoded again (engines.pocketsphinx: off-topic fallback), and
    # those the tutor's question model did (its second opinion on doubtful questions).
    result["second_opinion_share"] = round(second_opinions / len(questions), 3)
    result["question_opinion_share"] = round(question_opinions / len(questions), 3)
    # Finals that read as the last interim did: the gateway's speculative answer to that
    # interim stands (when the final is confident; otherwise it answers afresh).
    result["final_is_last_interim_share"] = round(interims_kept / len(questions), 3)
    # Finals Whisper chose (engines.whisper_rescoring).
    result["rescored_share"] = round(rescored / len(questions), 3)
    result["word_confidence_ece"] = round(
        spoken_questions.calibration_error(confidences, correct), 3
    )
    result["word_accuracy"] = round(sum(correct) / max(1, len(correct)), 3)
    result["questions"] = {key: len(value) for key, value in pairs.items() if key[0] == "t"}
    # Every question's transcript, to compare runs question by question.
    result["transcripts"] = [
        {"said": said, "heard": heard, "topic": key[len("tutor_") :]}
        for key in ("tutor_on", "tutor_off")
        for said, heard in pairs[key]
    ]
    result["examples"] = [
        {"said": said, "tutor": heard, "general": general}
        for (said, heard), (_, general) in list(
            zip(pairs["tutor_on"], pairs["general_on"], strict=True)
        )[:4]
    ]
    return result


def fifty_pages() -> list[str]:
    """50 pages (~25,000 words) of documents: the set's documents and the demo's, repeated."""
    texts = [*spoken_questions.documents("dev").values()]
    texts += [*spoken_questions.documents("held_out").values()]
    texts += [path.read_text("utf-8") for path in sorted(DEMO_DOCUMENTS.glob("*.md"))]
    pages: list[str] = []
    words = 0
    while words < 50 * WORDS_PER_PAGE:
        text = texts[len(pages) % len(texts)]
        pages.append(text)
        words += len(text.split())
    return pages


def build_time(engine: PocketsphinxEngine) -> dict[str, Any]:
    """Seconds to build a tutor's model (and its first decoder) from 50 pages of documents."""
    pages = fifty_pages()
    knowledge = KnowledgeText("fifty-pages", f"fifty-{time.time()}", tuple(pages))
    started = time.perf_counter()
    model = engine.tutor_model(StreamSpec(knowledge=knowledge))
    built = time.perf_counter()
    engine.open_stream(StreamSpec(knowledge=knowledge)).close()
    ready = time.perf_counter()
    return {
        "words": sum(len(page.split()) for page in pages),
        "vocabulary": len(model.vocabulary) if model is not None else 0,
        "model_s": round(built - started, 2),
        "model_and_decoder_s": round(ready - started, 2),
    }


def bench_accuracy(
    *, quick: bool, splits: tuple[str, ...] = ("dev", "held_out"), general: bool = True
) -> dict[str, Any]:
    """WER per split and noise condition, tutor model against the general one (``general``
    False: the tutor's only, its general columns empty); build time."""
    # Other settings (ASR_QUESTION_MODEL, ASR_OFF_TOPIC_FALLBACK) from the environment.
    engine = PocketsphinxEngine(AsrSettings(port=0, idle_decoders=16))
    engine.load()
    # The general model as the issue measured it (two search passes), whatever the service's
    # general decoders now do: tutors' off-topic WER must be no worse than that.
    reference = PocketsphinxEngine(AsrSettings(port=0, general_two_pass=True)) if general else None
    if reference is not None:
        reference.load()
    noises = ("clean", "white") if quick else ("clean", "white", "pink")
    report: dict[str, Any] = {"build_50_pages": build_time(engine)}
    for split in splits:
        report[split] = {}
        for noise in noises:
            engine.reset_adaptation()  # as a freshly started service
            if reference is not None:
                reference.reset_adaptation()
            report[split][noise] = _condition(engine, reference, split, noise)
    return report


def print_accuracy(report: dict[str, Any]) -> None:
    """A table of the accuracy report."""
    print(
        f"\n{'split':<9} {'audio':<6} {'on-topic WER tutor/general':>27} "
        f"{'off-topic WER tutor/general':>28} {'RTF wall/CPU':>13} {'conf. ECE':>9} "
        f"{'2nd opinions gen/q':>18} {'final ms p50/p90':>16} {'utt RTF p90':>11} "
        f"{'CPU RTF streamed/final':>22} {'= interim':>9}"
    )
    for split in SPLITS:
        for noise, row in report.get(split, {}).items():
            general_on, general_off = (_wer(row[key]) for key in ("general_on", "general_off"))
            print(
                f"{split:<9} {noise:<6} {row['tutor_on']:>14.3f} / {general_on:<10} "
                f"{row['tutor_off']:>15.3f} / {general_off:<10} "
                f"{row['tutor_rtf']:>6.3f}/{row['tutor_rtf_cpu']:<6.3f} "
                f"{row['word_confidence_ece']:>9.3f} {row['second_opinion_share']:>12.0%}"
                f"/{row['question_opinion_share']:<5.0%} "
                f"{row['final_ms_p50']:>7.0f}/{row['final_ms_p90']:<8.0f} "
                f"{row['utterance_rtf_cpu_p90']:>11.3f} "
                f"{row['streamed_rtf_cpu']:>14.3f}/{row['final_rtf_cpu']:<7.3f} "
                f"{row['final_is_last_interim_share']:>9.0%}"
            )
    build = report["build_50_pages"]
    print(
        f"tutor model from {build['words']} words ({build['vocabulary']} distinct): "
        f"{build['model_s']} s, with its first decoder {build['model_and_decoder_s']} s"
    )


def _wer(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def _override(assignment: str) -> None:
    """Sets ``NAME=VALUE``, a numeric constant of ``engines.pocketsphinx``,
    ``engines.whisper_rescoring`` or ``engines.moonshine_scoring``."""
    name, _, value = assignment.partition("=")
    for module in (pocketsphinx, whisper_rescoring, moonshine_scoring):
        current = getattr(module, name, None)
        if name.isupper() and isinstance(current, int | float) and not isinstance(current, bool):
            setattr(module, name, type(current)(value))
            return
    raise SystemExit(f"--set {assignment}: {name!r} is no numeric constant of the engine")


def main() -> None:
    """Command line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="clean and white noise only")
    parser.add_argument("--output", type=Path, default=RESULTS)
    parser.add_argument(
        "--mixture-choice",
        action="store_true",
        help="choose tutors' finals by the sentence mixture alone, not the fitted chooser",
    )
    parser.add_argument(
        "--splits",
        default="dev,held_out",
        help="comma-separated splits (dev, fit, held_out); develop on dev and fit only",
    )
    parser.add_argument(
        "--no-general", action="store_true", help="skip the general model's reference decodes"
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="override a numeric constant of engines.pocketsphinx (experiments only)",
    )
    args = parser.parse_args()
    if args.mixture_choice:
        pocketsphinx.USE_CHOOSER = False
    for assignment in args.set:
        _override(assignment)
    splits = tuple(args.splits.split(","))
    if unknown := set(splits) - set(SPLITS):
        parser.error(f"unknown splits {sorted(unknown)}: choose from {SPLITS}")
    report = bench_accuracy(quick=args.quick, splits=splits, general=not args.no_general)
    report["overrides"] = args.set
    print_accuracy(report)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2))
    print(f"\nwritten: {args.output}")


if __name__ == "__main__":
    main()
