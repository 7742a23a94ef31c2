"""Invoice Scanner processing pipeline.

Importing this package is light on purpose: the API imports the status model,
the schema and the Celery client from here without pulling in OCR or LLM code.
"""
