"""The Vertex fixtures of the sandbox tests, shared with the rule tests."""

from tests.sandbox.test_google_sandbox import clients, vertex

__all__ = ["clients", "vertex"]
