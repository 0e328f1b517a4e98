"""Test doubles for llm_svc's tests and benchmark. The service itself never imports them."""
