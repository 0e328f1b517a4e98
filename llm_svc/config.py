"""Settings of llm_svc, read from ``LLM_*`` environment variables."""

from __future__ import annotations

from typing import Literal

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from svc_core.settings import ServiceSettings

EngineName = Literal["retrieval", "ollama"]


class LlmSettings(ServiceSettings):
    """Settings of llm_svc (``LLM_PORT``, ``LLM_ENGINE``, ``LLM_OLLAMA_HOST``, ...)."""

    model_config = SettingsConfigDict(env_prefix="LLM_", extra="ignore")

    port: int = Field(default=50053, ge=0, le=65535)
    engine: EngineName = "retrieval"

    # --- knowledge bases (both engines) ---
    # Knowledge base the retrieval engine answers from when a request names none. Empty (the
    # default): a tutor without a knowledge base says it has no notes yet and what it could do
    # with some (FINISH_REASON_NO_MATERIAL), never answering from another tutor's notes (issue
    # 16). `make dev` sets "demo" so the `talk` example answers from the demo knowledge base.
    # The Ollama engine follows the contract (an empty id means no grounding).
    retrieval_fallback_knowledge_base: str = ""
    # A passage counts as material only when it contains at least min_coverage of the
    # question's distinct search terms (stopwords and question words left out), each weighted
    # by its IDF (a term the knowledge base does not know weighs the most), and its BM25 score
    # reaches min_score. 0.6 is calibrated on the dialogue suite and the demo (benchmarks/
    # tutor_dialogue.py): on-topic questions scored 0.72 and up, off-topic ones 0.5 at most.
    # BM25 scores depend on the knowledge base's size (in a one-passage knowledge base every
    # score is small), so the score floor is off by default.
    knowledge_min_score: float = Field(default=0.0, ge=0)
    knowledge_min_coverage: float = Field(default=0.6, ge=0, le=1)
    # Passages longer than this many words are cut into sentence windows.
    passage_max_words: int = Field(default=80, ge=10, le=150)
    # Built indexes kept in memory; others are rebuilt from LLM_DATA_DIR on first use.
    knowledge_cache_size: int = Field(default=32, ge=1)

    # --- tutoring (both engines) ---
    # A question whose transcript has a lower ASR confidence (GenerateRequest.input_confidence)
    # is not answered: the tutor asks "Did you mean <closest topic>?". 0 turns this off.
    clarify_below_confidence: float = Field(default=0.5, ge=0, le=1)
    # Words in a spoken reply (the check question included) unless the student asks for more.
    answer_words: int = Field(default=60, ge=20, le=400)

    # --- retrieval engine ---
    # Passages one answer may take sentences from (the best ones of its search).
    retrieval_max_passages: int = Field(default=2, ge=1, le=5)
    # Pause between streamed word pieces, to pace an answer like a model would (0: none).
    retrieval_token_delay_ms: float = Field(default=0.0, ge=0, le=1000)
    # Followed by what the tutor can help with (its documents' titles).
    retrieval_no_material_text: str = "I don't have any material about that in my notes yet."

    # --- Ollama engine ---
    ollama_host: str = "http://127.0.0.1:11434"
    # Model used when a request names none.
    ollama_model: str = "llama3.2:3b"
    ollama_connect_timeout_s: float = Field(default=5.0, gt=0)
    # Longest wait for the next chunk of a reply (the first one includes loading the model).
    ollama_read_timeout_s: float = Field(default=120.0, gt=0)
    # How long Ollama keeps a model loaded after a request ("5m", "1h", "-1"); empty: its default.
    ollama_keep_alive: str = ""
    # Knowledge passages put into the prompt when a request names a knowledge base.
    ollama_context_passages: int = Field(default=3, ge=0, le=10)
    # Earlier conversation sent with each request, in estimated tokens (~4 characters each);
    # older messages are left out whole.
    ollama_history_tokens: int = Field(default=1500, ge=0, le=100_000)
    # At start, how long to wait for Ollama to answer before refusing to start.
    ollama_startup_timeout_s: float = Field(default=30.0, ge=0)
    ollama_max_connections: int = Field(default=64, ge=1)

    # Engine events buffered per Generate call before the engine waits for the client.
    stream_buffer: int = Field(default=64, ge=1, le=4096)
