"""Webhooks: signed HTTP POSTs to a company's endpoints when a document reaches a terminal
status or a person decides it.

- `signing`: the `Invoice-Scanner-Signature` header (HMAC-SHA256 over `<timestamp>.<body>`).
- `outbox`: how events are written, in the transaction that changes the status.
- `repository`: all webhook SQL (subscriptions, deliveries, attempts).
- `tasks`: the `webhooks` queue's Celery tasks (the relay and one delivery attempt).
"""
