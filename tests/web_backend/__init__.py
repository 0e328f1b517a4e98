"""Tests of the web backend."""
