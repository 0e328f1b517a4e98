"""HTTP API: dependencies and routes."""
