"""Rebuild the bundled XRechnung validation XSLT from its Schematron sources (a maintainer's
command, never run by the pipeline): `python -m invoice.scanner.processing.einvoice.compile_schematron`.

KoSIT publishes the XRechnung CIUS rules as Schematron; its own build compiles them with
SchXslt. We do the same with SchXslt2's `transpile.xsl` (bundled, MIT) on saxonche, so the
compiled files in `artefacts/xrechnung/` can be reproduced from the sources beside them.
The CII schema uses `xs:` functions without declaring the prefix (the ISO skeleton KoSIT
once used declared it implicitly); the prefix is added before compiling.
"""
from __future__ import annotations

import argparse
import re
from pathlib import Path

ARTEFACTS = Path(__file__).resolve().parent / "artefacts"
SOURCES = {
    "xrechnung/schematron/ubl/XRechnung-UBL-validation.sch": "xrechnung/XRechnung-UBL-validation.xsl",
    "xrechnung/schematron/cii/XRechnung-CII-validation.sch": "xrechnung/XRechnung-CII-validation.xsl",
}
XS_NS = '<ns prefix="xs" uri="http://www.w3.org/2001/XMLSchema" />'


def compile_all(root: Path = ARTEFACTS) -> list[Path]:
    from saxonche import PySaxonProcessor

    written: list[Path] = []
    with PySaxonProcessor(license=False) as proc:
        transpiler = proc.new_xslt30_processor().compile_stylesheet(
            stylesheet_file=str(root / "schxslt2" / "transpile.xsl"))
        for source, target in SOURCES.items():
            path = root / source
            text = path.read_text(encoding="utf-8")
            if 'prefix="xs"' not in text:
                text = re.sub(r"(<ns\s)", XS_NS + r"\n  \1", text, count=1)
            out = root / target
            # Compiled from a copy in the source's own folder, so includes (../common.sch) resolve.
            tmp = path.with_name(f".{path.name}")
            tmp.write_text(text, encoding="utf-8")
            try:
                transpiler.transform_to_file(source_file=str(tmp), output_file=str(out))
            finally:
                tmp.unlink()
            written.append(out)
    return written


def main() -> None:
    argparse.ArgumentParser(description=__doc__.splitlines()[0]).parse_args()
    for path in compile_all():
        print(f"wrote {path.relative_to(ARTEFACTS)} ({path.stat().st_size:,} bytes)")


if __name__ == "__main__":
    main()
