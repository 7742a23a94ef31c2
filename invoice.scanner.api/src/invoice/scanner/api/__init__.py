"""Invoice Scanner REST API: uploads, status and extracted data over HTTP (docs/API_CONTRACT.md)."""
from invoice.scanner.api.app import create_app

__all__ = ["create_app"]
