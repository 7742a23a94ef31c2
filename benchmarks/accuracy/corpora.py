"""External accuracy corpora: materialized once from a local copy of each repository, split
once into a *dev* and a *test* half, loaded by the benchmark and by training code.

    python benchmarks/accuracy/corpora.py materialize \
        --zugferd /path/to/ZUGFeRD/corpus --sroie /path/to/ICDAR-2019-SROIE
    python benchmarks/accuracy/corpora.py summary

A repository is a `git clone` or a bare git directory (files are read from its HEAD commit with
`git cat-file`, so a bare mirror needs no checkout; objects a partial mirror lacks are skipped
and listed). The corpora go to a cache outside the repository: `$INVOICE_SCANNER_CORPORA`, else
`~/.cache/invoice-scanner/corpora` (`--cache` overrides both).

Corpora
-------
- ``zugferd``: ZUGFeRD/corpus (Apache-2.0), the e-invoice PDFs under ZUGFeRDv1/correct,
  ZUGFeRDv2/correct and XML-Rechnung/FX (the ``fail`` folders hold invoices with artificial
  errors, so their XML is no truth; ``unstructured`` has no XML). Truth: the embedded XML read
  by our own reader (`einvoice.terms`), mapped to our fields by `fields.EN16931_TERMS`; only the
  terms the XML carries are scored. The PDF the pipeline reads has its attachments stripped
  (pikepdf), so no stage can see the XML. Two kinds per invoice: ``born_digital`` (the stripped
  PDF: text layer and pixels) and ``scanned`` (its pages rendered at 200 dpi and degraded with
  augraphy, print and scan artefacts, seeded by the file's hash: JPEG for one page, an
  image-only PDF for several).
- ``sroie``: the SROIE 2019 train split as zzzDavid/ICDAR-2019-SROIE keeps it (data/img/*.jpg,
  data/key/*.json: company, date, address, total): kind ``receipt``. The images are read by
  our OCR like any upload; the dataset's box files are not used.

Split
-----
Every document has a split, ``dev`` or ``test``, fixed by a hash: sha256 of its *split key*,
first four bytes as an integer, even = dev, odd = test. The split key is the invoice's identity
in its truth (invoice number, seller, total, invoice date; for receipts company, date, total),
so the same invoice published by several producers (this corpus has the same sample invoice
from Intarsys, Symtrax, Mustang and the XML-Rechnung set) lands in one half, and the scan of a
PDF in the half of its PDF; a document whose truth has no identity is keyed by its file's
sha256. The split depends on nothing but the truth and the file, so it never changes when a
corpus grows.

Python API (for the benchmark and for training)
-----------------------------------------------
    from benchmarks.accuracy import corpora
    docs = corpora.load("zugferd")                  # dev half (the default)
    docs = corpora.load("sroie", kinds=("receipt",))
    d = docs[0]; d.path, d.content_type, d.kind, d.language, d.truth, d.family

``load(..., split="test")`` raises `TestSplitLocked`: the test half is read only by the
benchmark's aggregate report (`load_for_report`), which prints figures, never documents.
"""
from __future__ import annotations

import argparse
import hashlib
import io
import json
import logging
import multiprocessing as mp
import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Iterable

REPO = Path(__file__).resolve().parents[2]
_SRC = REPO / "invoice.scanner.processing" / "src"
if str(_SRC) not in sys.path:  # run from a checkout without the editable install
    sys.path.append(str(_SRC))

logger = logging.getLogger("benchmarks.accuracy.corpora")

CORPORA = ("zugferd", "sroie")
KINDS = ("born_digital", "scanned", "receipt")
SPLITS = ("dev", "test")
MANIFEST = "manifest.json"
MANIFEST_VERSION = 1
CACHE_ENV = "INVOICE_SCANNER_CORPORA"
ZUGFERD_FOLDERS = ("ZUGFeRDv1/correct/", "ZUGFeRDv2/correct/", "XML-Rechnung/FX/")
SCAN_DPI = 200
# EN 16931 invoice type codes (UNTDID 1001) that are credit notes: amounts owed to the buyer,
# negative in our fields (`document_type` "credit_note").
# Files of the ZUGFeRD corpus whose embedded XML is not the truth of their own page, seen by
# reading the page: the fields named are not scored (the rest of the XML is). Applied when the
# manifest is read, so the split (fixed at materializing) and the cache stay as they are.
NOT_TRUTH: dict[str, tuple[tuple[str, ...], str]] = {
    "ZUGFeRDv1/correct/Mustangproject/MustangGnuaccountingBeispielRE-20150613_503.pdf": (
        ("amount", "vat", "total", "amount_due"),
        "the page prints Nettobetrag 358,00, USt. Gesamt 48,82, Gesamtbetrag 406,82; the embedded XML carries "
        "496.00 / 75.04 / 571.04, the amounts of the producer's sample RE-20170509/505"),
}
CREDIT_NOTE_CODES = {"81", "83", "261", "262", "296", "308", "381", "396", "420", "458", "532"}
# Languages by the seller's country (the corpus's invoices are written in the seller's language).
LANGUAGE_BY_COUNTRY = {"DE": "de", "AT": "de", "CH": "de", "FR": "fr", "BE": "fr", "LU": "fr", "GB": "en",
                       "IE": "en", "US": "en", "NL": "nl", "ES": "es", "IT": "it", "MY": "en"}


class TestSplitLocked(PermissionError):
    """The test half is read only through the benchmark's aggregate figures."""


def default_cache() -> Path:
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "invoice-scanner" / "corpora")


@dataclass(frozen=True)
class Document:
    id: str  # "<corpus>/<kind>/<name>", unique
    corpus: str
    kind: str  # born_digital | scanned | receipt
    language: str
    split: str  # dev | test
    path: Path  # the file the pipeline reads (absolute)
    content_type: str
    sha256: str  # of that file's bytes
    truth: dict[str, Any]  # our field names -> canonical values (ISO dates, decimal strings); only known terms
    family: str  # producer (zugferd) or "sroie": a group of documents that look alike
    source: str  # path in the source repository
    document_type: str = "invoice"  # invoice | credit_note | receipt
    meta: dict[str, Any] = field(default_factory=dict)


# --- reading a repository ---------------------------------------------------------------------

def _is_url(source: str) -> bool:
    return "://" in source or source.startswith("git@")


def local_copy(source: str, cache: Path) -> Path:
    """A local git directory for `source`: the path itself, or for a URL a bare shallow clone in
    `<cache>/sources/` (made once, reused after)."""
    if not _is_url(source):
        return Path(source)
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", source.rstrip("/").split("://")[-1].replace(".git", "")) + ".git"
    dest = cache / "sources" / name
    if not dest.is_dir():
        dest.parent.mkdir(parents=True, exist_ok=True)
        print(f"cloning {source} into {dest}", flush=True)
        subprocess.run(["git", "clone", "--quiet", "--bare", "--depth", "1", source, str(dest)], check=True)
    return dest


class GitSource:
    """Files of HEAD of a clone or a bare git directory, read with `git cat-file --batch`."""

    def __init__(self, path: Path):
        path = Path(path).expanduser().resolve()
        try:
            gitdir = subprocess.run(["git", "-C", str(path), "rev-parse", "--absolute-git-dir"], check=True,
                                    capture_output=True, text=True).stdout.strip()
        except (subprocess.CalledProcessError, FileNotFoundError) as exc:
            raise SystemExit(f"{path} is not a git clone or a bare git directory: {exc}") from exc
        self.gitdir = gitdir
        self.commit = self._git("rev-parse", "HEAD").strip()
        self.url = self._git("config", "--get", "remote.origin.url", check=False).strip() or str(path)

    def _git(self, *args: str, check: bool = True) -> str:
        return subprocess.run(["git", f"--git-dir={self.gitdir}", *args], check=check, capture_output=True,
                              text=True).stdout

    def files(self, prefix: str = "") -> dict[str, str]:
        """path -> blob id under `prefix` at HEAD."""
        out = subprocess.run(["git", f"--git-dir={self.gitdir}", "ls-tree", "-r", "-z", "HEAD", "--", prefix or "."],
                             check=True, capture_output=True).stdout.decode("utf-8", "surrogateescape")
        files = {}
        for entry in out.split("\0"):
            if not entry:
                continue
            meta, path = entry.split("\t", 1)
            mode, typ, blob = meta.split()
            if typ == "blob":
                files[path] = blob
        return files

    def read_many(self, blobs: Iterable[str]) -> dict[str, bytes | None]:
        """blob id -> bytes (None where the object is missing from a partial mirror)."""
        blobs = list(dict.fromkeys(blobs))
        proc = subprocess.Popen(["git", f"--git-dir={self.gitdir}", "cat-file", "--batch"], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE)
        assert proc.stdin and proc.stdout
        result: dict[str, bytes | None] = {}
        try:
            for blob in blobs:
                proc.stdin.write(blob.encode() + b"\n")
                proc.stdin.flush()
                header = proc.stdout.readline().decode().split()
                if len(header) < 3 or header[1] == "missing":
                    result[blob] = None
                    continue
                size = int(header[2])
                data = proc.stdout.read(size)
                proc.stdout.read(1)  # the newline after the content
                result[blob] = data
        finally:
            proc.stdin.close()
            proc.wait()
        return result


# --- truth: canonical values -------------------------------------------------------------------

def canonical_amount(value: Any) -> str | None:
    """An amount as a plain decimal string ("1234.50"), or None. Currency signs and thousands
    separators of the SROIE keys ("RM 9.00", "$4.95", "1,234.00") are dropped."""
    if value is None:
        return None
    s = str(value).strip()
    s = re.sub(r"^(RM|MYR|\$|EUR|€)\s*", "", s, flags=re.I).replace(",", "").strip()
    if not s:
        return None
    try:
        return str(Decimal(s).quantize(Decimal("0.01")))
    except InvalidOperation:
        return None


_MONTHS = {m: i for i, m in enumerate(("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct",
                                        "nov", "dec"), 1)}


def _year(y: str) -> int:
    n = int(y)
    return 2000 + n if len(y) == 2 else n


def day_first_date(value: str | None) -> str | None:
    """A receipt's date as ISO. SROIE's keys are written as printed, day first (Malaysia):
    25/12/2018, 12-01-19, 05 MAR 2018, 2018-03-23, 20180304, OCT 3, 2016. A first number above 12
    is a day, a second above 12 makes the first the month; two-digit years are 20xx. None when
    the text is no date."""
    if not value:
        return None
    s = value.strip().strip("()").strip()
    try:
        m = re.fullmatch(r"(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})", s)
        if m:
            return date(int(m[1]), int(m[2]), int(m[3])).isoformat()
        m = re.fullmatch(r"(\d{4})(\d{2})(\d{2})", s)
        if m:
            return date(int(m[1]), int(m[2]), int(m[3])).isoformat()
        m = re.fullmatch(r"(\d{1,2})[-/. ]([A-Za-z]{3})[A-Za-z]*[-/. ,]+(\d{2}|\d{4})", s)
        if m and m[2].lower() in _MONTHS:
            return date(_year(m[3]), _MONTHS[m[2].lower()], int(m[1])).isoformat()
        m = re.fullmatch(r"([A-Za-z]{3})[A-Za-z]*[ .]+(\d{1,2}),?\s+(\d{2}|\d{4})", s)
        if m and m[1].lower() in _MONTHS:
            return date(_year(m[3]), _MONTHS[m[1].lower()], int(m[2])).isoformat()
        m = re.fullmatch(r"(\d{1,2})[-/.](\d{1,2})[-/.](\d{2}|\d{4})", s)
        if m:
            a, b = int(m[1]), int(m[2])
            day, month = (b, a) if (b > 12 >= a) else (a, b)
            return date(_year(m[3]), month, day).isoformat()
    except ValueError:
        return None
    return None


def clean_name(value: str | None) -> str | None:
    """A party name from an XML: its lines joined by a space, lines that are identifiers
    rather than name (five or more digits: "GLN 4333741000005", "Lief-Nr: 549910") dropped."""
    if not value:
        return None
    lines = [ln.strip() for ln in str(value).splitlines() if ln.strip()]
    kept = [ln for ln in lines if len(re.findall(r"\d", ln)) < 5] or lines
    return " ".join(kept) or None


def einvoice_truth(xml: bytes, source: str = "xml") -> tuple[dict[str, Any], dict[str, Any]]:
    """(truth, meta) of an e-invoice XML: our fields as the XML writes them, canonical."""
    from invoice.scanner.processing.einvoice import terms as einvoice_terms
    from invoice.scanner.processing.fields import FIELD_BY_NAME

    inv = einvoice_terms.read(xml, source)
    values = einvoice_terms.field_values(inv.terms)
    type_code = str(inv.terms.get("BT-3") or "380")
    credit = type_code in CREDIT_NOTE_CODES
    truth: dict[str, Any] = {}
    for name, raw in values.items():
        if raw is None or not str(raw).strip():
            continue
        kind = FIELD_BY_NAME[name].kind
        if kind == "amount":
            amount = canonical_amount(raw)
            if amount is not None and credit:
                amount = str(-Decimal(amount))
            value: Any = amount
        elif kind == "date":
            value = str(raw)[:10] if re.fullmatch(r"\d{4}-\d{2}-\d{2}.*", str(raw)) else None
        elif name in ("vendor_name", "customer_name"):
            value = clean_name(raw)
        else:
            value = re.sub(r"\s+", " ", str(raw)).strip()
        if value is not None:
            truth[name] = value
    seller = inv.terms.get("BG-4") if isinstance(inv.terms.get("BG-4"), dict) else {}
    meta = {"syntax": inv.syntax, "profile": inv.level, "type_code": type_code,
            "seller_country": seller.get("country_code"), "line_items": len(inv.terms.get("BG-25") or [])}
    return truth, {**meta, "document_type": "credit_note" if credit else "invoice"}


def split_of(key: str) -> str:
    digest = hashlib.sha256(key.encode("utf-8")).digest()
    return "dev" if int.from_bytes(digest[:4], "big") % 2 == 0 else "test"


def _ident(s: Any) -> str:
    return re.sub(r"[^0-9a-z]", "", str(s or "").casefold())


def split_key(corpus: str, truth: dict[str, Any], file_sha256: str) -> str:
    if corpus == "sroie":
        parts = [truth.get("vendor_name"), truth.get("invoice_date"), truth.get("total")]
    else:
        parts = [truth.get("invoice_number"), truth.get("vendor_name"), truth.get("total"), truth.get("invoice_date")]
    if not any(parts):
        return f"{corpus}:file:{file_sha256}"
    return f"{corpus}:" + "|".join(_ident(p) for p in parts)


# --- ZUGFeRD ------------------------------------------------------------------------------------

def strip_attachments(data: bytes) -> bytes:
    """The PDF without embedded files (document-level /EmbeddedFiles, /AF associated files,
    file-attachment annotations): what a scanner's visual path must read."""
    import pikepdf

    with pikepdf.open(io.BytesIO(data)) as pdf:
        for name in list(pdf.attachments.keys()):
            del pdf.attachments[name]
        root = pdf.Root
        if "/AF" in root:
            del root["/AF"]
        names = root.get("/Names")
        if names is not None and "/EmbeddedFiles" in names:
            del names["/EmbeddedFiles"]
        for page in pdf.pages:
            if "/AF" in page.obj:
                del page.obj["/AF"]
            annots = page.obj.get("/Annots")
            if annots is not None:
                keep = [a for a in annots if a.get("/Subtype") != "/FileAttachment"]
                if len(keep) != len(annots):
                    page.obj["/Annots"] = pikepdf.Array(keep)
        out = io.BytesIO()
        pdf.save(out, compress_streams=True, object_stream_mode=pikepdf.ObjectStreamMode.generate)
        return out.getvalue()


def degrade_page(rgb, seed: int):
    """One rendered page (RGB uint8 array) through print and scan artefacts from augraphy:
    ink bleed, low-ink lines, paper texture, sensor noise, brightness, a small rotation and
    JPEG compression, each drawn with its probability from `seed` (the same seed gives the same
    pixels). Legible, as an office scan is: augraphy's drum streaks (DirtyDrum) at their
    defaults black out whole columns of text, and the heavy effects (shadow casts, bad
    photocopies) take half a minute a page."""
    import random

    import numpy as np
    from augraphy import (Brightness, Geometric, InkBleed, Jpeg, LowInkPeriodicLines, LowInkRandomLines,
                          NoiseTexturize, SubtleNoise)

    random.seed(seed)
    np.random.seed(seed % 2**32)
    steps = [(InkBleed(intensity_range=(0.1, 0.3), p=1), 0.5), (LowInkRandomLines(p=1), 0.3),
             (LowInkPeriodicLines(p=1), 0.2),
             (NoiseTexturize(sigma_range=(2, 4), turbulence_range=(2, 4), p=1), 0.4),
             (SubtleNoise(p=1), 0.8), (Brightness(brightness_range=(0.9, 1.1), p=1), 0.5),
             (Geometric(rotate_range=(-1, 1), p=1), 0.6), (Jpeg(quality_range=(55, 85), p=1), 0.8)]
    image = np.ascontiguousarray(rgb)
    applied = []
    for aug, p in steps:
        if random.random() < p:
            out = aug(image)
            if out is not None:
                image = np.ascontiguousarray(out)
                applied.append(type(aug).__name__)
    if image.ndim == 2:
        image = np.stack([image] * 3, axis=-1)
    return image[..., :3], applied


def make_scan(pdf_bytes: bytes, seed: int) -> tuple[bytes, str, str, list[list[str]]]:
    """(bytes, content type, suffix, augmentations per page): a PDF's pages rendered at
    SCAN_DPI and degraded; one page as a JPEG, several as an image-only PDF."""
    import pypdfium2 as pdfium
    from PIL import Image

    doc = pdfium.PdfDocument(pdf_bytes)
    pages, applied = [], []
    try:
        for i in range(len(doc)):
            page = doc[i]
            rgb = page.render(scale=SCAN_DPI / 72).to_pil().convert("RGB")
            page.close()
            import numpy as np

            out, steps = degrade_page(np.asarray(rgb), seed * 100 + i)
            pages.append(Image.fromarray(out).convert("L"))
            applied.append(steps)
    finally:
        doc.close()
    buf = io.BytesIO()
    if len(pages) == 1:
        pages[0].save(buf, format="JPEG", quality=85, dpi=(SCAN_DPI, SCAN_DPI))
        return buf.getvalue(), "image/jpeg", ".jpg", applied
    pages[0].save(buf, format="PDF", save_all=True, append_images=pages[1:], resolution=SCAN_DPI, quality=85)
    return buf.getvalue(), "application/pdf", ".pdf", applied


def _safe_name(path: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", path.replace("/", "__"))


def _zugferd_one(args: tuple[str, bytes, str, bool]) -> dict:
    """Truth, stripped PDF and scan of one corpus PDF (run in a worker process)."""
    rel, data, root, scans = args
    from invoice.scanner.processing.einvoice import pdf as einvoice_pdf

    root_p = Path(root)
    name = _safe_name(rel[:-4])
    tmp = root_p / "zugferd" / "original" / f"{name}.pdf"
    tmp.parent.mkdir(parents=True, exist_ok=True)
    tmp.write_bytes(data)
    try:
        found = einvoice_pdf.embedded_xml(tmp)
        if found is None:
            return {"source": rel, "skipped": "no e-invoice XML attached"}
        xml_name, xml = found
        try:
            truth, meta = einvoice_truth(xml, xml_name)
        except Exception as exc:  # noqa: BLE001 - an unreadable XML is no truth; recorded
            return {"source": rel, "skipped": f"XML not readable by einvoice.terms: {type(exc).__name__}: {exc}"[:300]}
        if not truth.get("total") and not truth.get("invoice_number"):
            return {"source": rel, "skipped": "XML names neither invoice number nor total"}
        xml_path = root_p / "zugferd" / "xml" / f"{name}.xml"
        xml_path.parent.mkdir(parents=True, exist_ok=True)
        xml_path.write_bytes(xml)
        stripped = strip_attachments(data)
        pdf_path = root_p / "zugferd" / "born_digital" / f"{name}.pdf"
        pdf_path.parent.mkdir(parents=True, exist_ok=True)
        pdf_path.write_bytes(stripped)
        check = einvoice_pdf.embedded_xml(pdf_path)
        assert check is None, f"{rel}: XML still attached after stripping"
    finally:
        tmp.unlink(missing_ok=True)
    original_sha = hashlib.sha256(data).hexdigest()
    parts = rel.split("/")
    family = parts[2] if parts[0].startswith("ZUGFeRDv") and len(parts) > 3 else parts[0]
    language = LANGUAGE_BY_COUNTRY.get(str(meta.get("seller_country") or "").upper(), "de")
    key = split_key("zugferd", truth, original_sha)
    common = {"corpus": "zugferd", "language": language, "split": split_of(key), "split_key": key,
              "family": family, "source": rel, "document_type": meta.pop("document_type"), "truth": truth,
              "meta": {**meta, "original_sha256": original_sha, "xml": str(xml_path.relative_to(root_p))}}
    docs = [{**common, "id": f"zugferd/born_digital/{name}", "kind": "born_digital",
             "file": str(pdf_path.relative_to(root_p)), "content_type": "application/pdf",
             "sha256": hashlib.sha256(stripped).hexdigest()}]
    if scans:
        seed = int(original_sha[:8], 16)
        scan, ctype, suffix, applied = make_scan(stripped, seed)
        scan_path = root_p / "zugferd" / "scanned" / f"{name}{suffix}"
        scan_path.parent.mkdir(parents=True, exist_ok=True)
        scan_path.write_bytes(scan)
        docs.append({**common, "id": f"zugferd/scanned/{name}", "kind": "scanned",
                     "file": str(scan_path.relative_to(root_p)), "content_type": ctype,
                     "sha256": hashlib.sha256(scan).hexdigest(),
                     "meta": {**common["meta"], "augraphy": applied, "scan_seed": seed, "scan_dpi": SCAN_DPI}})
    return {"source": rel, "documents": docs}


def materialize_zugferd(src: GitSource, root: Path, workers: int, scans: bool, previous: dict[str, list[dict]],
                        limit: int | None = None) -> tuple[list[dict], list[dict]]:
    files = {p: b for p, b in src.files().items()
             if p.lower().endswith(".pdf") and p.startswith(ZUGFERD_FOLDERS)}
    selected = sorted(files)[:limit] if limit else sorted(files)
    docs: list[dict] = []
    skipped: list[dict] = []
    todo = []
    for rel in selected:
        cached = previous.get(rel)
        if cached and all((root / d["file"]).is_file() for d in cached) and \
                (not scans or any(d["kind"] == "scanned" for d in cached)):
            docs.extend(cached)  # materialized before from the same blob: kept as is
            continue
        todo.append(rel)
    blobs = src.read_many(files[r] for r in todo)
    jobs = []
    for rel in todo:
        data = blobs[files[rel]]
        if data is None:
            skipped.append({"source": rel, "skipped": "object missing from the local copy"})
            continue
        jobs.append((rel, data, str(root), scans))
    if jobs:
        started = time.perf_counter()
        with mp.get_context("spawn").Pool(max(1, workers)) as pool:
            for k, res in enumerate(pool.imap_unordered(_zugferd_one, jobs), 1):
                if "skipped" in res:
                    skipped.append(res)
                else:
                    docs.extend(res["documents"])
                if k % 10 == 0 or k == len(jobs):
                    print(f"  zugferd {k}/{len(jobs)} PDFs, {time.perf_counter() - started:.0f}s", flush=True)
    return docs, skipped


# --- SROIE --------------------------------------------------------------------------------------

def materialize_sroie(src: GitSource, root: Path, limit: int | None = None) -> tuple[list[dict], list[dict]]:
    files = src.files("data/")
    images = sorted(p for p in files if p.startswith("data/img/") and p.lower().endswith(".jpg"))
    if limit:
        images = images[:limit]
    keys = {p: f"data/key/{Path(p).stem}.json" for p in images}
    wanted = [files[p] for p in images] + [files[k] for k in keys.values() if k in files]
    blobs = src.read_many(wanted)
    docs, skipped = [], []
    out_dir = root / "sroie" / "receipt"
    out_dir.mkdir(parents=True, exist_ok=True)
    for rel in images:
        key = keys[rel]
        data = blobs.get(files[rel])
        raw_key = blobs.get(files[key]) if key in files else None
        if data is None or raw_key is None:
            skipped.append({"source": rel, "skipped": "image or key missing from the local copy"})
            continue
        k = json.loads(raw_key.decode("utf-8", "replace"))
        truth: dict[str, Any] = {}
        if (k.get("company") or "").strip():
            truth["vendor_name"] = re.sub(r"\s+", " ", k["company"]).strip()
        if (k.get("address") or "").strip():
            truth["vendor_address"] = re.sub(r"\s+", " ", k["address"]).strip()
        iso = day_first_date(k.get("date"))
        if iso:
            truth["invoice_date"] = iso
        total = canonical_amount(k.get("total"))
        if total is not None:
            truth["total"] = total
        sha = hashlib.sha256(data).hexdigest()
        path = out_dir / Path(rel).name
        if not path.is_file() or hashlib.sha256(path.read_bytes()).hexdigest() != sha:
            path.write_bytes(data)
        skey = split_key("sroie", truth, sha)
        docs.append({"id": f"sroie/receipt/{Path(rel).stem}", "corpus": "sroie", "kind": "receipt", "language": "en",
                     "split": split_of(skey), "split_key": skey, "family": "sroie", "source": rel,
                     "document_type": "receipt", "file": str(path.relative_to(root)), "content_type": "image/jpeg",
                     "sha256": sha, "truth": truth,
                     "meta": {"key": k, "date_unparsed": bool(k.get("date")) and not iso}})
    return docs, skipped


# --- manifest and loading ------------------------------------------------------------------------

def read_manifest(cache: Path | None = None) -> dict:
    cache = cache or default_cache()
    path = cache / MANIFEST
    if not path.is_file():
        raise FileNotFoundError(f"no corpora in {cache}: run `python benchmarks/accuracy/corpora.py materialize "
                                f"--zugferd <clone> --sroie <clone>` (or set {CACHE_ENV})")
    return json.loads(path.read_text(encoding="utf-8"))


def _documents(manifest: dict, root: Path) -> list[Document]:
    fields = {f for f in Document.__dataclass_fields__}
    out = []
    for d in manifest["documents"]:
        row = {k: v for k, v in d.items() if k in fields}
        row["path"] = root / d["file"]
        wrong = NOT_TRUTH.get(d.get("source", ""))
        if wrong is not None:
            row["truth"] = {k: v for k, v in row.get("truth", {}).items() if k not in wrong[0]}
            row["meta"] = {**row.get("meta", {}), "not_truth": {"fields": list(wrong[0]), "why": wrong[1]}}
        out.append(Document(**row))
    return out


def _select(docs: list[Document], corpora: Iterable[str] | None, kinds: Iterable[str] | None,
            splits: Iterable[str]) -> list[Document]:
    corpora = set(corpora or CORPORA)
    kinds = set(kinds or KINDS)
    splits = set(splits)
    return [d for d in docs if d.corpus in corpora and d.kind in kinds and d.split in splits]


def load(corpus: str | Iterable[str] | None = None, split: str = "dev", kinds: Iterable[str] | None = None,
         cache: Path | None = None) -> list[Document]:
    """Documents of a corpus ("zugferd", "sroie"; None: both) from the materialized cache, in a
    stable order. Only the dev half: tuning, training and calibration read this. The test half
    raises `TestSplitLocked` (see `load_for_report`)."""
    if split != "dev":
        raise TestSplitLocked(f"split={split!r}: tuning code reads the dev half only; the test half is "
                              f"reported as aggregate figures by benchmarks/accuracy/run.py")
    cache = cache or default_cache()
    corpora = [corpus] if isinstance(corpus, str) else corpus
    unknown = set(corpora or ()) - set(CORPORA)
    if unknown:
        raise ValueError(f"unknown corpus {sorted(unknown)}; expected {CORPORA}")
    return _select(_documents(read_manifest(cache), cache), corpora, kinds, ("dev",))


def load_for_report(corpora: Iterable[str] | None = None, kinds: Iterable[str] | None = None,
                    splits: Iterable[str] = SPLITS, cache: Path | None = None) -> list[Document]:
    """Both halves, for `benchmarks/accuracy/run.py` only: it prints the test half's aggregate
    figures and keeps per-document detail for the dev half alone. Nothing that tunes or trains
    calls this."""
    cache = cache or default_cache()
    return _select(_documents(read_manifest(cache), cache), corpora, kinds, splits)


def summary(cache: Path | None = None) -> dict:
    cache = cache or default_cache()
    manifest = read_manifest(cache)
    counts: dict[str, int] = {}
    for d in manifest["documents"]:
        k = f"{d['corpus']}/{d['kind']}/{d['split']}"
        counts[k] = counts.get(k, 0) + 1
    return {"cache": str(cache), "sources": manifest.get("sources"), "counts": dict(sorted(counts.items())),
            "skipped": len(manifest.get("skipped", []))}


def materialize(zugferd: Path | None, sroie: Path | None, cache: Path, workers: int = 2, scans: bool = True,
                limit: int | None = None) -> dict:
    cache.mkdir(parents=True, exist_ok=True)
    try:
        old = read_manifest(cache)
    except FileNotFoundError:
        old = {"documents": [], "skipped": [], "sources": {}}
    if old.get("version") != MANIFEST_VERSION:
        old = {"documents": [], "skipped": [], "sources": {}}
    sources = dict(old.get("sources") or {})
    keep = {c: [d for d in old["documents"] if d["corpus"] == c] for c in CORPORA}
    skipped = {c: [s for s in old.get("skipped", []) if s.get("corpus") == c] for c in CORPORA}
    if zugferd:
        src = GitSource(zugferd)
        same = (sources.get("zugferd") or {}).get("commit") == src.commit
        previous: dict[str, list[dict]] = {}
        for d in keep["zugferd"] if same else []:
            previous.setdefault(d["source"], []).append(d)
        print(f"zugferd: {src.url} at {src.commit[:12]}")
        docs, skip = materialize_zugferd(src, cache, workers, scans, previous, limit)
        keep["zugferd"], skipped["zugferd"] = docs, [{**s, "corpus": "zugferd"} for s in skip]
        sources["zugferd"] = {"repository": src.url, "commit": src.commit, "licence": "Apache-2.0"}
    if sroie:
        src = GitSource(sroie)
        print(f"sroie: {src.url} at {src.commit[:12]}")
        docs, skip = materialize_sroie(src, cache, limit)
        keep["sroie"], skipped["sroie"] = docs, [{**s, "corpus": "sroie"} for s in skip]
        sources["sroie"] = {"repository": src.url, "commit": src.commit,
                            "licence": "repository MIT; the SROIE images' own terms are those of ICDAR 2019"}
    manifest = {"version": MANIFEST_VERSION, "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                "sources": sources,
                "documents": sorted((d for c in CORPORA for d in keep[c]), key=lambda d: d["id"]),
                "skipped": [s for c in CORPORA for s in skipped[c]]}
    tmp = cache / (MANIFEST + ".tmp")
    tmp.write_text(json.dumps(manifest, indent=1, ensure_ascii=False), encoding="utf-8")
    tmp.replace(cache / MANIFEST)
    return manifest


VENDORED_NOTICE = """This folder holds a small subset of the ZUGFeRD/corpus repository
(https://github.com/ZUGFeRD/corpus, commit {commit}), Apache License 2.0, (c) its contributors
(Jochen Staerk / Mustangproject, Intarsys, Symtrax, FNFE-MPE, Konik and the other producers named in
each file's path there). Changes made here: the PDFs' embedded e-invoice XML attachment was removed
(pikepdf) and is kept beside each PDF as <name>.xml, byte for byte; the files in scanned/ are those
PDFs' pages rendered at 200 dpi and degraded with augraphy (benchmarks/accuracy/corpora.py). The
licence text is in LICENSE-ZUGFeRD-corpus.txt. Every document here is from the corpus's dev half.
No SROIE data is vendored: its images come from the ICDAR 2019 competition, whose terms for
redistribution are not stated in the repository that carries them (its MIT licence covers the
authors' code).
"""


def vendor(ids: list[str], out: Path, cache: Path | None = None, source: Path | None = None) -> dict:
    """Copy dev documents (by id) with their XML into `out` for the regression test, with the
    attribution and licence of their repository. Test-half documents are refused."""
    import shutil

    cache = cache or default_cache()
    manifest = read_manifest(cache)
    by_id = {d["id"]: d for d in manifest["documents"]}
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for doc_id in ids:
        d = by_id[doc_id]
        if d["split"] != "dev":
            raise TestSplitLocked(f"{doc_id} is in the test half; only dev documents are vendored")
        if d["corpus"] != "zugferd":
            raise ValueError(f"{doc_id}: only the ZUGFeRD corpus's licence allows vendoring")
        target = out / d["kind"] / Path(d["file"]).name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(cache / d["file"], target)
        xml_target = out / "xml" / Path(d["meta"]["xml"]).name
        xml_target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(cache / d["meta"]["xml"], xml_target)
        rows.append({"id": d["id"], "kind": d["kind"], "file": str(target.relative_to(out)),
                     "content_type": d["content_type"], "xml": str(xml_target.relative_to(out)),
                     "language": d["language"], "family": d["family"], "document_type": d["document_type"],
                     "source": d["source"], "sha256": d["sha256"]})
    commit = (manifest["sources"].get("zugferd") or {}).get("commit", "?")
    data = {"source": "https://github.com/ZUGFeRD/corpus", "commit": commit, "licence": "Apache-2.0",
            "made_by": "python benchmarks/accuracy/corpora.py vendor --out tests/data/accuracy ID...",
            "documents": rows}
    (out / "manifest.json").write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    (out / "NOTICE").write_text(VENDORED_NOTICE.format(commit=commit), encoding="utf-8")
    if source is not None:
        licence = GitSource(source)
        blob = licence.files("LICENSE").get("LICENSE")
        text = licence.read_many([blob]).get(blob) if blob else None
        if text:
            (out / "LICENSE-ZUGFeRD-corpus.txt").write_bytes(text)
    return data


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    sub = ap.add_subparsers(dest="cmd", required=True)
    m = sub.add_parser("materialize", help="build or update the cache from local copies of the repositories")
    m.add_argument("--zugferd", help="clone, bare git dir or git URL of github.com/ZUGFeRD/corpus")
    m.add_argument("--sroie", help="clone, bare git dir or git URL of github.com/zzzDavid/ICDAR-2019-SROIE")
    m.add_argument("--if-needed", action="store_true",
                   help="only the corpora the cache does not hold yet (make benchmark-accuracy)")
    m.add_argument("--cache", type=Path, default=None, help=f"cache folder (default ${CACHE_ENV} or "
                                                            "~/.cache/invoice-scanner/corpora)")
    m.add_argument("--workers", type=int, default=2, help="processes for the scans (default 2)")
    m.add_argument("--no-scans", action="store_true", help="skip the degraded scans of the ZUGFeRD PDFs")
    m.add_argument("--limit", type=int, default=None, help="only the first N files of each corpus (trial runs)")
    v = sub.add_parser("vendor", help="copy dev documents into tests/data/accuracy for the regression test")
    v.add_argument("ids", nargs="+")
    v.add_argument("--out", type=Path, default=REPO / "tests" / "data" / "accuracy")
    v.add_argument("--zugferd", type=Path, default=None, help="the repository, for its LICENSE file")
    v.add_argument("--cache", type=Path, default=None)
    s = sub.add_parser("summary", help="what the cache holds")
    s.add_argument("--cache", type=Path, default=None)
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if args.cmd == "materialize":
        cache = args.cache or default_cache()
        if args.if_needed:
            try:
                held = {d["corpus"] for d in read_manifest(cache)["documents"]}
            except FileNotFoundError:
                held = set()
            args.zugferd = None if "zugferd" in held else args.zugferd
            args.sroie = None if "sroie" in held else args.sroie
            if not args.zugferd and not args.sroie:
                if held >= set(CORPORA):
                    print(f"corpora already in {cache}")
                else:
                    print(f"corpora not materialized: {sorted(set(CORPORA) - held)} (give ZUGFERD_CORPUS / "
                          f"SROIE_CORPUS: a clone, bare git dir or URL); the benchmark runs without them")
                    return 0
        elif not args.zugferd and not args.sroie:
            ap.error("name at least one of --zugferd, --sroie")
        if args.zugferd or args.sroie:
            started = time.perf_counter()
            copies = {}
            for name, source in (("zugferd", args.zugferd), ("sroie", args.sroie)):
                try:
                    copies[name] = local_copy(source, cache) if source else None
                except subprocess.CalledProcessError as exc:
                    if not args.if_needed:
                        raise
                    print(f"{name}: cannot clone {source} ({exc}); the benchmark runs without it")
                    copies[name] = None
            zugferd, sroie = copies["zugferd"], copies["sroie"]
            if not zugferd and not sroie:
                return 0
            manifest = materialize(zugferd, sroie, cache, args.workers, not args.no_scans, args.limit)
            print(f"{len(manifest['documents'])} documents, {len(manifest['skipped'])} skipped, in "
                  f"{time.perf_counter() - started:.0f}s -> {cache / MANIFEST}")
    if args.cmd == "vendor":
        data = vendor(args.ids, args.out, args.cache, args.zugferd)
        print(f"{len(data['documents'])} documents -> {args.out}")
        return 0
    print(json.dumps(summary(args.cache), indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
