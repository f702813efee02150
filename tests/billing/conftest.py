from tests.integrations.connections.xero.conftest import xero

__all__ = ["xero"]
