"""``python -m model_fetch``: puts the production engines' models where compose mounts them.

faster-whisper from the Hugging Face hub (``HF_ENDPOINT``), the Wav2Lip checkpoint from the
hub, the LLM through Ollama's pull API. Downloads resume, are checked against the hub's own
checksums and show progress. Operator tooling: no service imports it.
"""
