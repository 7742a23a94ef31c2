"""The workers' name for the one content sniffer (`invoice.scanner.processing.sniff`), which the
API uses too: both judge a file by the same rules."""
from __future__ import annotations

from invoice.scanner.processing.sniff import JPEG, PDF, PNG, SUPPORTED, TIFF, XML, sniff, sniff_file  # noqa: F401
