"""Simulated broker gateways: separate implementations of each broker's real protocol, for tests and demos."""
