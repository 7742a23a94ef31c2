"""Entry point for gunicorn: `gunicorn invoice.scanner.api.wsgi:app`."""
from invoice.scanner.api.app import create_app
from invoice.scanner.processing import logcontext

logcontext.configure()  # LOG_FORMAT: text lines with [request_id=… document_id=…], or JSON
app = create_app()
