"""Shared test support: the workspace's package list, servers and system binaries."""
