"""Exports: peak memory of one export of 100k approved documents against the same export of
1k, per format (CSV, JSON Lines, Parquet, UBL). Streaming means the two should be close.

    .venv/bin/python benchmarks/exports/run.py                 # 1k vs 100k, every format
    .venv/bin/python benchmarks/exports/run.py --large 20000   # a quicker look

A scratch database (`invoice_scanner_bench_exports`, dropped afterwards unless --keep) gets
two companies: one with `--small` and one with `--large` synthetic approved documents, each
with 14 fields and 3 line items. Each export runs in a fresh child process through the real
Flask app (test client, streamed response consumed chunk by chunk); the child reports its
RSS just before the request and the highest RSS sampled after each chunk during it, so the
difference is what the export itself holds. Figures are printed; nothing is asserted (benchmarks are not tests).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import uuid
from urllib.parse import urlparse

DEFAULT_DB = "postgresql://postgres@127.0.0.1:5432/postgres"
FORMATS = ("csv", "jsonl", "parquet", "ubl")

FIELDS_SQL = """
INSERT INTO extracted_fields (document_id, name, value, confidence, valid)
SELECT d.id, f.name,
       CASE f.name
         WHEN 'invoice_number' THEN to_jsonb('INV-' || left(d.id::text, 8))
         WHEN 'invoice_date' THEN to_jsonb(to_char(d.completed_at, 'YYYY-MM-DD'))
         WHEN 'due_date' THEN to_jsonb(to_char(d.completed_at + interval '30 days', 'YYYY-MM-DD'))
         WHEN 'vendor_name' THEN to_jsonb('Vendor ' || (abs(hashtext(d.id::text)) %% 500) || ' GmbH')
         WHEN 'customer_name' THEN to_jsonb('Globex Corporation'::text)
         WHEN 'currency' THEN to_jsonb('EUR'::text)
         WHEN 'amount' THEN to_jsonb(300.00)
         WHEN 'vat' THEN to_jsonb(57.00)
         WHEN 'total' THEN to_jsonb(357.00)
         WHEN 'vendor_address' THEN to_jsonb('Hauptstraße 1, 10115 Berlin'::text)
         WHEN 'vendor_tax_id' THEN to_jsonb('DE136695976'::text)
         WHEN 'iban' THEN to_jsonb('DE89370400440532013000'::text)
         WHEN 'bic' THEN to_jsonb('COBADEFFXXX'::text)
         ELSE to_jsonb('Net 30'::text)
       END, 0.95, true
FROM documents d
CROSS JOIN (VALUES ('invoice_number'), ('invoice_date'), ('due_date'), ('vendor_name'), ('customer_name'),
                   ('currency'), ('amount'), ('vat'), ('total'), ('vendor_address'), ('vendor_tax_id'), ('iban'),
                   ('bic'), ('payment_terms')) AS f(name)
WHERE d.company_id = %s
"""
LINES_SQL = """
INSERT INTO line_items (document_id, position, description, quantity, unit_price, amount, tax_rate, confidence)
SELECT d.id, p, 'Consulting services, line ' || p, 2, 50.00, 100.00, 19, 0.9
FROM documents d CROSS JOIN generate_series(1, 3) AS p WHERE d.company_id = %s
"""


def setup(admin_url: str, name: str, sizes: list[int]) -> tuple[str, list[str]]:
    import psycopg
    from psycopg import sql

    from invoice.scanner.api.auth import hash_password, issue_token
    from invoice.scanner.api.repository import ApiRepository
    from invoice.scanner.processing.db.migrate import upgrade

    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = urlparse(admin_url)._replace(path=f"/{name}").geturl()
    upgrade(url)
    repo = ApiRepository(url)
    tokens = []
    for n in sizes:
        company, _ = repo.get_or_create_company(f"bench-{n}")
        user = repo.create_user(company.id, f"bench-{n}-{uuid.uuid4().hex[:6]}@example.test", hash_password("x" * 12))
        tokens.append(issue_token(repo, user.id, 24 * 3600).access_token)
        started = time.monotonic()
        with psycopg.connect(url) as conn:
            conn.execute(
                """INSERT INTO documents (id, company_id, original_filename, stored_path, sha256, content_type,
                                          size_bytes, status, quality_score, completed_at)
                   SELECT gen_random_uuid(), %s, 'scan-' || g || '.pdf', '/bench/' || g, md5(%s || g), 'application/pdf',
                          1000, 'approved', 0.95, timestamptz '2026-11-01 00:00:00+00' + g * interval '10 seconds'
                   FROM generate_series(1, %s) AS g""",
                (company.id, str(company.id), n),
            )
            conn.execute(FIELDS_SQL, (company.id,))
            conn.execute(LINES_SQL, (company.id,))
            conn.execute("ANALYZE")
        print(f"inserted {n:,} approved documents (x14 fields, x3 line items) in {time.monotonic() - started:.1f}s",
              flush=True)
    return url, tokens


def child(url: str, token: str, fmt: str) -> None:
    """One export in this process; prints a JSON line with the figures."""
    import resource

    import psutil

    from invoice.scanner.api import create_app
    from invoice.scanner.api.config import ApiConfig

    app = create_app(ApiConfig.from_env({}).with_overrides(database_url=url))
    client = app.test_client()
    headers = {"Authorization": f"Bearer {token}"}
    client.get("/exports?format=jsonl&from=1999-01-01&to=1999-01-01", headers=headers)  # warm: imports, pool
    if fmt == "parquet":
        import pyarrow.parquet  # noqa: F401  (the library's own size is not the export's)
    process = psutil.Process()
    before = peak = process.memory_info().rss
    started = time.monotonic()
    resp = client.get(f"/exports?format={fmt}&from=2026-01-01&to=2027-12-31", headers=headers, buffered=False)
    size = 0
    for chunk in resp.response:  # one chunk per batch of 500 documents: RSS sampled after each
        size += len(chunk)
        peak = max(peak, process.memory_info().rss)
    seconds = time.monotonic() - started
    print(json.dumps({"status": resp.status_code, "bytes": size, "seconds": seconds, "rss_before": before,
                      "peak": peak, "maxrss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--small", type=int, default=1_000)
    parser.add_argument("--large", type=int, default=100_000)
    parser.add_argument("--formats", default=",".join(FORMATS))
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_DB),
                        help="a server where a scratch database may be created")
    parser.add_argument("--keep", action="store_true", help="keep the scratch database")
    parser.add_argument("--child", nargs=3, metavar=("URL", "TOKEN", "FORMAT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return
    name = "invoice_scanner_bench_exports"
    url, tokens = setup(args.database_url, name, [args.small, args.large])
    rows = []
    try:
        for fmt in args.formats.split(","):
            figures = []
            for n, token in zip((args.small, args.large), tokens):
                out = subprocess.run([sys.executable, __file__, "--child", url, token, fmt], check=True,
                                     capture_output=True, text=True).stdout.strip().splitlines()[-1]
                r = json.loads(out)
                assert r["status"] == 200, r
                figures.append(r)
                print(f"{fmt:8} {n:>8,} docs  {r['bytes'] / 1e6:8.1f} MB out  {r['seconds']:6.1f}s  "
                      f"{n / r['seconds']:8,.0f} docs/s  peak RSS {r['peak'] / 2**20:6.1f} MiB "
                      f"(+{(r['peak'] - r['rss_before']) / 2**20:5.1f} MiB over the idle app)", flush=True)
            small, large = figures
            growth = (large["peak"] - large["rss_before"]) / max(small["peak"] - small["rss_before"], 1)
            rows.append((fmt, small, large, large["peak"] / small["peak"], growth))
    finally:
        if not args.keep:
            import psycopg
            from psycopg import sql

            from invoice.scanner.processing.db.connection import close_pools

            close_pools()
            with psycopg.connect(args.database_url, autocommit=True) as conn:
                conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
    print(f"\nformat   peak RSS {args.small:,} docs   peak RSS {args.large:,} docs   ratio (peak)   "
          f"ratio (export's own)")
    for fmt, small, large, ratio, growth in rows:
        print(f"{fmt:8} {small['peak'] / 2**20:13.1f} MiB {large['peak'] / 2**20:15.1f} MiB {ratio:11.2f}x "
              f"{growth:16.2f}x")


if __name__ == "__main__":
    main()
