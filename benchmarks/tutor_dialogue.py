"""``python -m benchmarks.tutor_dialogue``: how well the embedded tutor teaches, and how fast.

Starts ``python -m llm_svc`` (retrieval engine, no demo fallback) as its own process, indexes
the dialogue suite's knowledge base (``tests/support/tutor_dialogues.py``) and plays every
dialogue through gRPC, carrying the history as the gateway does. Reports, for the tuning and
the held-out halves apart:

- the share of answers drawn from the right passage (the first citation);
- the mean and largest length of answers, in words;
- replies with any problem (too long, a heading or markup read out, a wrong kind of reply);
- time to first token as the client sees it, over the dialogues and over single questions to
  the demo knowledge base (the same loop as before issue 16, for comparison);
- the no-material threshold's calibration: the coverage of the best passage for questions the
  knowledge base answers and for questions it has nothing on, and what the configured
  threshold lets through.

Writes ``bench-results/tutor_dialogue.json`` (``--output`` to change) and prints a summary.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import grpc
from vtutor.llm.v1 import llm_pb2, llm_pb2_grpc

from benchmarks.llm_svc import run_process, wait_serving
from llm_svc.config import LlmSettings
from llm_svc.knowledge.analysis import TextAnalyzer
from llm_svc.knowledge.demo import load_demo_documents
from llm_svc.knowledge.documents import Document
from llm_svc.knowledge.index import KnowledgeBase, RelevancePolicy
from tests.support.tutor_dialogues import (
    DIALOGUES,
    DOCUMENTS,
    OFF_TOPIC_QUESTIONS,
    ON_TOPIC_QUESTIONS,
    Outcome,
    index_request,
    problems,
    run_dialogue,
)

# Single questions to the demo knowledge base, timed for the first token.
DEMO_QUESTIONS = [
    "what is two plus two",
    "how do plants make food",
    "What is the water cycle?",
    "how is rain made",
    "what is a fraction",
    "which is the biggest planet",
    "can I interrupt you",
    "why are leaves green",
    "what is the capital of France",
]


def summarize_half(outcomes: list[Outcome]) -> dict[str, Any]:
    """Teaching quality over one half of the suite."""
    answers = [o for o in outcomes if o.exchange.expect.kind == "answer"]
    words = [o.words for o in answers]
    failing = [o for o in outcomes if problems(o)]
    by_intent: dict[str, list[int]] = {}
    for o in outcomes:
        counts = by_intent.setdefault(o.exchange.intent, [0, 0])
        counts[0] += not problems(o)
        counts[1] += 1
    return {
        "dialogues": len({o.dialogue.name for o in outcomes}),
        "exchanges": len(outcomes),
        "answers": len(answers),
        "right_passage_share": round(sum(o.right_passage for o in answers) / len(answers), 3)
        if answers
        else None,
        "mean_answer_words": round(statistics.mean(words), 1) if words else None,
        "max_answer_words": max(words) if words else None,
        "replies_with_problems": len(failing),
        "passed_by_intent": {k: f"{v[0]}/{v[1]}" for k, v in sorted(by_intent.items())},
        "problems": [_problem(o) for o in failing],
    }


def _problem(outcome: Outcome) -> dict[str, Any]:
    return {
        "dialogue": outcome.dialogue.name,
        "student": outcome.exchange.student,
        "reply": outcome.reply,
        "problems": problems(outcome),
    }


def latency(samples_ms: list[float]) -> dict[str, float]:
    """p50, p95 and mean of first-token times, in ms."""
    ordered = sorted(samples_ms)
    pick = lambda f: ordered[min(len(ordered) - 1, round(f * (len(ordered) - 1)))]  # noqa: E731
    return {
        "n": len(ordered),
        "p50_ms": round(pick(0.5), 3),
        "p95_ms": round(pick(0.95), 3),
        "mean_ms": round(statistics.mean(ordered), 3),
    }


async def demo_first_tokens(stub: llm_pb2_grpc.LlmServiceStub, rounds: int) -> list[float]:
    """First-token times of single demo questions (one warm-up round not counted)."""
    samples = []
    for round_number in range(rounds + 1):
        for question in DEMO_QUESTIONS:
            request = llm_pb2.GenerateRequest(
                messages=[llm_pb2.Message(role=llm_pb2.ROLE_USER, content=question)],
                knowledge_base_id="demo",
            )
            started = time.perf_counter()
            first = 0.0
            async for response in stub.Generate(request, timeout=30):
                if response.HasField("delta") and not first:
                    first = time.perf_counter()
            if round_number:
                samples.append((first - started) * 1000)
    return samples


def calibration(threshold: float) -> dict[str, Any]:
    """Best-passage coverage of on- and off-topic questions, and what ``threshold`` admits."""
    analyzer = TextAnalyzer()
    open_policy = RelevancePolicy(min_coverage=0.0)
    bases = {
        "suite": KnowledgeBase(
            "suite", [Document(*d) for d in DOCUMENTS], analyzer=analyzer, policy=open_policy
        ),
        "demo": KnowledgeBase("demo", load_demo_documents(), analyzer=analyzer, policy=open_policy),
    }

    def coverage(base: KnowledgeBase, question: str) -> float:
        hits = base.search(question, limit=1)
        return round(hits[0].coverage, 3) if hits else 0.0

    report: dict[str, Any] = {"threshold": threshold}
    for name, base in bases.items():
        on = [coverage(base, q) for q in ON_TOPIC_QUESTIONS] if name == "suite" else []
        off = [coverage(base, q) for q in OFF_TOPIC_QUESTIONS]
        report[name] = {
            "on_topic_min": min(on) if on else None,
            "on_topic_rejected": sum(c < threshold for c in on),
            "off_topic_max": max(off),
            "off_topic_admitted": sum(c >= threshold for c in off),
            "off_topic_questions": len(off),
        }
    return report


async def measure(address: str, rounds: int) -> dict[str, Any]:
    """Plays the suite and times the demo questions against the service at ``address``."""
    async with grpc.aio.insecure_channel(address) as channel:
        stub = llm_pb2_grpc.LlmServiceStub(channel)
        await stub.IndexDocuments(index_request())
        outcomes: list[Outcome] = []
        for _ in range(rounds):
            outcomes = []
            for dialogue in DIALOGUES:
                outcomes += await run_dialogue(stub, dialogue)
        demo = await demo_first_tokens(stub, rounds * 5)
    return {
        "tuning": summarize_half([o for o in outcomes if not o.dialogue.held_out]),
        "held_out": summarize_half([o for o in outcomes if o.dialogue.held_out]),
        "first_token": {
            "dialogues": latency([o.first_token_ms for o in outcomes]),
            "demo_questions": latency(demo),
        },
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="one round instead of five")
    parser.add_argument("--rounds", type=int, help="rounds of the suite (default 5, quick 1)")
    parser.add_argument("--output", type=Path, default=Path("bench-results/tutor_dialogue.json"))
    args = parser.parse_args(argv)
    rounds = args.rounds or (1 if args.quick else 5)

    env = {k: v for k, v in os.environ.items() if not k.startswith("LLM_")}
    env["PYTHONPATH"] = os.pathsep.join([str(Path.cwd()), env.get("PYTHONPATH", "")])
    with tempfile.TemporaryDirectory() as data_dir:
        service_env = {**env, "LLM_ENGINE": "retrieval", "LLM_PORT": "0", "LLM_DATA_DIR": data_dir}
        with run_process(
            [sys.executable, "-m", "llm_svc"], service_env, r"listening on (\S+:\d+)"
        ) as address:
            asyncio.run(wait_serving(address))
            report = asyncio.run(measure(address, rounds))
    report["calibration"] = calibration(LlmSettings().knowledge_min_coverage)
    report["config"] = {"rounds": rounds, "cpus": os.cpu_count()}
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2))
    _print(report)
    print(f"\nwritten: {args.output}")
    return 0


def _print(report: dict[str, Any]) -> None:
    print(f"tutor dialogue suite ({report['config']})")
    print(f"{'half':<9} {'answers':>7} {'right passage':>13} {'mean words':>10} "
          f"{'max words':>9} {'problems':>8}")  # fmt: skip
    for half in ("tuning", "held_out"):
        r = report[half]
        print(
            f"{half:<9} {r['answers']:>7} {r['right_passage_share']:>13.0%} "
            f"{r['mean_answer_words']:>10} {r['max_answer_words']:>9} "
            f"{r['replies_with_problems']:>8}"
        )
    for name, t in report["first_token"].items():
        print(
            f"first token, {name}: p50 {t['p50_ms']:.2f} ms, p95 {t['p95_ms']:.2f} ms (n={t['n']})"
        )
    c = report["calibration"]
    for name in ("suite", "demo"):
        r = c[name]
        print(
            f"no-material threshold {c['threshold']} on {name}: on-topic min {r['on_topic_min']}, "
            f"off-topic max {r['off_topic_max']}, off-topic admitted {r['off_topic_admitted']}/"
            f"{r['off_topic_questions']}"
        )
    for half in ("tuning", "held_out"):
        for p in report[half]["problems"]:
            print(f"  [{half}] {p['student']!r} -> {p['reply']!r}: {'; '.join(p['problems'])}")


if __name__ == "__main__":
    sys.exit(main())
