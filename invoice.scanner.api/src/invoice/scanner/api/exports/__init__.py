"""Exports of a company's approved documents and their line items: CSV, JSON Lines, Parquet
and UBL 2.1, streamed.

Documents are read in batches by keyset (`repository.py`), each batch is written and handed
to the client before the next is read (`writers.py`), so memory stays flat however many
documents the range holds (benchmarks/exports measures it).
"""
