"""Entry point for gunicorn: `gunicorn invoice.scanner.api.wsgi:app`."""
import logging

from invoice.scanner.api.app import create_app

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
app = create_app()
