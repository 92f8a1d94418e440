"""Shared test support: the workspace's package list, servers and system binaries.

The benchmarks import ``redis_server``, ``tcp_proxy`` and ``ports`` too, in an environment
without pytest: those three (and what they import) must not import pytest
(tests/integration/test_support.py checks it).
"""
