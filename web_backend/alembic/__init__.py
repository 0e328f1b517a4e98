"""Alembic migrations, shipped inside the package so `python -m web_backend` can apply them."""
