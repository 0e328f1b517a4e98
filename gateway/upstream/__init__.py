"""Clients of the four inference services: one module per upstream, plain dataclasses out."""
