"""Lip-sync engines behind one interface (base.py); each is imported only when chosen."""
