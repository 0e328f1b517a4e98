"""llm_svc: token streaming for tutors, from Ollama or from a knowledge base alone.

``python -m llm_svc`` serves ``vtutor.llm.v1.LlmService`` (port 50053, settings prefix
``LLM_``). See ``llm_svc/README.md`` for settings, engines and knowledge bases.
"""
