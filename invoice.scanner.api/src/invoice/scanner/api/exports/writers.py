"""One writer per format: each turns an iterator of document batches into an iterator of
bytes, holding at most one batch (and, for Parquet, one row group) at a time."""
from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from datetime import date, datetime, timezone
from decimal import Decimal, InvalidOperation
from stat import S_IFREG
from typing import Any, Callable, Iterable, Iterator

from invoice.scanner.processing.fields import FIELD_BY_NAME, FIELD_NAMES, LINE_ITEM_FIELDS

from invoice.scanner.api.exports import ubl
from invoice.scanner.api.exports.repository import ExportDocument

Batches = Iterable[list[ExportDocument]]
DOCUMENT_COLUMNS = ("document_id", "original_filename", "approved_at", "quality_score")


@dataclass(frozen=True)
class ExportFormat:
    name: str
    media_type: str
    extension: str
    write: Callable[[Batches], Iterator[bytes]]


def amount(value: Any) -> float | None:
    """Amounts as the API shows them: JSON numbers (floats), None when absent or unreadable."""
    if value is None or isinstance(value, bool):
        return None
    try:
        return float(Decimal(str(value)))
    except (InvalidOperation, ValueError):
        return None


def text(value: Any) -> str | None:
    return None if value is None else str(value)


def field_value(name: str, value: Any) -> Any:
    return amount(value) if FIELD_BY_NAME[name].kind == "amount" else text(value)


def iso(ts: datetime) -> str:
    return ts.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


def document_record(doc: ExportDocument) -> dict[str, Any]:
    """One document as JSON Lines writes it: the flat keys of GET /documents/<id>."""
    return {
        "id": str(doc.id),
        "original_filename": doc.original_filename,
        "approved_at": iso(doc.approved_at),
        "quality_score": doc.quality_score,
        **{name: field_value(name, doc.fields.get(name)) for name in FIELD_NAMES},
        "line_items": [
            {"position": item["position"], "description": item["description"],
             **{k: amount(item[k]) for k in LINE_ITEM_FIELDS if k != "description"}}
            for item in doc.line_items
        ],
    }


# -- CSV -----------------------------------------------------------------------------------

CSV_COLUMNS = (*DOCUMENT_COLUMNS, *FIELD_NAMES, "line_position", *(f"line_{k}" for k in LINE_ITEM_FIELDS))
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: Any, is_text: bool) -> Any:
    """Text read off an uploaded page could be a spreadsheet formula (`=HYPERLINK(...)`):
    text cells starting like one get a leading apostrophe (OWASP CSV injection); numbers never."""
    if value is None:
        return ""
    if is_text and isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def write_csv(batches: Batches) -> Iterator[bytes]:
    """One row per line item, the document's columns repeated; a document without line items
    is one row with empty line columns. UTF-8 with a BOM, so spreadsheets read accents right."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    buffer.write("\ufeff")
    writer.writerow(CSV_COLUMNS)
    text_fields = {n for n in FIELD_NAMES if FIELD_BY_NAME[n].kind != "amount"}
    for batch in batches:
        for doc in batch:
            record = document_record(doc)
            head = [doc.id, _cell(doc.original_filename, True), record["approved_at"], _cell(doc.quality_score, False),
                    *(_cell(record[n], n in text_fields) for n in FIELD_NAMES)]
            lines = record["line_items"] or [None]
            for item in lines:
                if item is None:
                    writer.writerow([*head, *[""] * (1 + len(LINE_ITEM_FIELDS))])
                else:
                    writer.writerow([*head, item["position"],
                                     *(_cell(item[k], k == "description") for k in LINE_ITEM_FIELDS)])
        yield buffer.getvalue().encode("utf-8")
        buffer.seek(0)
        buffer.truncate()
    rest = buffer.getvalue()
    if rest:
        yield rest.encode("utf-8")


# -- JSON Lines ----------------------------------------------------------------------------

def write_jsonl(batches: Batches) -> Iterator[bytes]:
    """One JSON object per document per line, its line items inside."""
    for batch in batches:
        yield "".join(json.dumps(document_record(d), ensure_ascii=False) + "\n" for d in batch).encode("utf-8")


# -- Parquet -------------------------------------------------------------------------------

class _Chunks(io.RawIOBase):
    """A write-only file that keeps what was written until it is drained: pyarrow writes a row
    group into it, the response sends it on, memory holds one row group at most."""

    def __init__(self) -> None:
        super().__init__()
        self.chunks: list[bytes] = []
        self.position = 0

    def writable(self) -> bool:
        return True

    def write(self, b) -> int:
        data = bytes(b)
        self.chunks.append(data)
        self.position += len(data)
        return len(data)

    def tell(self) -> int:
        return self.position

    def drain(self) -> bytes:
        data, self.chunks = b"".join(self.chunks), []
        return data


def _parse_date(value: Any) -> date | None:
    try:
        return date.fromisoformat(str(value)) if value is not None else None
    except ValueError:
        return None


def parquet_schema():
    import pyarrow as pa

    kinds = {"amount": pa.float64(), "date": pa.date32()}
    line = pa.struct([("position", pa.int32()), ("description", pa.string()),
                      *((k, pa.float64()) for k in LINE_ITEM_FIELDS if k != "description")])
    return pa.schema([
        ("document_id", pa.string()), ("original_filename", pa.string()),
        ("approved_at", pa.timestamp("us", tz="UTC")), ("quality_score", pa.float64()),
        *((n, kinds.get(FIELD_BY_NAME[n].kind, pa.string())) for n in FIELD_NAMES),
        ("line_items", pa.list_(line)),
    ])


def write_parquet(batches: Batches) -> Iterator[bytes]:
    """One row per document, its line items as a list of structs; one row group per batch."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = parquet_schema()
    sink = _Chunks()
    writer = pq.ParquetWriter(sink, schema, compression="zstd")
    try:
        for batch in batches:
            records = [document_record(d) for d in batch]
            columns: dict[str, list] = {
                "document_id": [r["id"] for r in records],
                "original_filename": [r["original_filename"] for r in records],
                "approved_at": [d.approved_at for d in batch],
                "quality_score": [r["quality_score"] for r in records],
            }
            for name in FIELD_NAMES:
                values = [r[name] for r in records]
                columns[name] = [_parse_date(v) for v in values] if FIELD_BY_NAME[name].kind == "date" else values
            columns["line_items"] = [r["line_items"] for r in records]
            writer.write_table(pa.Table.from_pydict(columns, schema=schema))
            data = sink.drain()
            if data:
                yield data
    finally:
        writer.close()
    yield sink.drain()


# -- UBL 2.1 -------------------------------------------------------------------------------

def write_ubl_zip(batches: Batches) -> Iterator[bytes]:
    """A ZIP with one UBL 2.1 Invoice per document (`<document id>.xml`): a UBL document holds
    one invoice, so a period's worth is an archive of them, written as a stream by stream-zip
    (Zip64, deflate). What grows with the number of documents is only the ZIP's own index, the
    central directory written at its end: about 150 bytes per invoice (stdlib zipfile keeps
    about 550, measured in benchmarks/exports)."""
    from stream_zip import ZIP_64, stream_zip

    def members():
        for batch in batches:
            for doc in batch:
                modified = doc.approved_at.astimezone(timezone.utc).replace(tzinfo=None)
                yield f"{doc.id}.xml", modified, S_IFREG | 0o644, ZIP_64, (ubl.invoice_xml(doc),)

    pending: list[bytes] = []
    size = 0
    for chunk in stream_zip(members(), chunk_size=64 * 1024):
        pending.append(chunk)
        size += len(chunk)
        if size >= 256 * 1024:  # stream-zip yields many small pieces: send them in bigger ones
            yield b"".join(pending)
            pending, size = [], 0
    if pending:
        yield b"".join(pending)


FORMATS: dict[str, ExportFormat] = {
    "csv": ExportFormat("csv", "text/csv; charset=utf-8", "csv", write_csv),
    "jsonl": ExportFormat("jsonl", "application/x-ndjson", "jsonl", write_jsonl),
    "parquet": ExportFormat("parquet", "application/vnd.apache.parquet", "parquet", write_parquet),
    "ubl": ExportFormat("ubl", "application/zip", "ubl.zip", write_ubl_zip),
}
