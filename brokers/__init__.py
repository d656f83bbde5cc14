"""Broker adapters: one package per broker (no package imports another)."""
