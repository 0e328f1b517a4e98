"""Pulls a model into an Ollama server through its ``/api/pull`` streaming API."""

from __future__ import annotations

import json

import httpx

from model_fetch.download import FetchError
from model_fetch.progress import ProgressBar


def pull(client: httpx.Client, host: str, model: str) -> str:
    """Asks the Ollama server at ``host`` to pull ``model``, showing its progress.

    Ollama streams NDJSON status lines (``{"status", "digest", "total", "completed"}``) and
    ends with ``{"status": "success"}``; it resumes interrupted pulls itself.

    Raises:
        FetchError: The server is unreachable, or reports an error (unknown model, disk full).
    """
    url = f"{host.rstrip('/')}/api/pull"
    bars: dict[str, ProgressBar] = {}
    try:
        with client.stream("POST", url, json={"model": model, "stream": True}) as response:
            if response.status_code != 200:
                response.read()
                raise FetchError(
                    f"ollama pull {model}: HTTP {response.status_code}: "
                    f"{_error_text(response.text)}"
                )
            for line in response.iter_lines():
                if not line.strip():
                    continue
                event = json.loads(line)
                if "error" in event:
                    raise FetchError(f"ollama pull {model}: {event['error']}")
                status = str(event.get("status", ""))
                if status == "success":
                    for bar in bars.values():
                        bar.finish()
                    return "pulled"
                digest = event.get("digest")
                if digest and event.get("total"):
                    bar = bars.setdefault(
                        digest, ProgressBar(f"{model} {digest[:19]}", int(event["total"]))
                    )
                    bar.update(int(event.get("completed") or 0))
    except httpx.HTTPError as exc:
        raise FetchError(f"cannot reach Ollama at {host}: {exc}") from exc
    raise FetchError(f"ollama pull {model}: the stream ended before 'success'")


def _error_text(body: str) -> str:
    try:
        return str(json.loads(body).get("error", body))
    except ValueError:
        return body
