"""The store contract on every store of ``conftest.STORES``."""

from __future__ import annotations

from metrics.store_contract import StoreContract


class TestStoreContract(StoreContract):
    """Runs :class:`StoreContract` once per store."""
