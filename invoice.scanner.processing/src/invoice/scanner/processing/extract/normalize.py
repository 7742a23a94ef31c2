"""Typed value parsing: amounts, dates, currencies, bank and tax identifiers.

Used twice: by the local provider (to test whether a candidate string *is* a date or an
amount, and to do arithmetic among candidates) and by the extraction stage (to turn raw
strings into ISO dates, floats, ISO 4217 codes and validated identifiers).
"""
from __future__ import annotations

import logging
import re
import unicodedata
from dataclasses import dataclass
from datetime import date
from functools import lru_cache

logger = logging.getLogger(__name__)

# --- amounts ------------------------------------------------------------------------------

CURRENCY_SYMBOLS: dict[str, str] = {
    "€": "EUR", "$": "USD", "£": "GBP", "¥": "JPY", "₹": "INR", "₽": "RUB", "₩": "KRW",
    "₺": "TRY", "₪": "ILS", "₣": "CHF", "zł": "PLN", "kč": "CZK", "r$": "BRL",
    "us$": "USD", "a$": "AUD", "au$": "AUD", "c$": "CAD", "ca$": "CAD", "nz$": "NZD",
    "hk$": "HKD", "s$": "SGD", "fr.": "CHF", "sfr": "CHF", "kr": "SEK",
}
# Codes we recognise in text; a wider list would turn words like "ALL" or "TOP" into currencies.
CURRENCY_CODES: frozenset[str] = frozenset(
    "EUR USD GBP CHF JPY CNY INR AUD CAD NZD SEK NOK DKK PLN CZK HUF RON BGN HRK TRY RUB "
    "BRL MXN ZAR SGD HKD KRW ILS AED SAR THB MYR IDR PHP ARS CLP COP PEN UAH ISK".split()
)
_CODE_RE = re.compile(r"(?<![A-Za-z])(" + "|".join(sorted(CURRENCY_CODES)) + r")(?![A-Za-z])")
_SYMBOL_RE = re.compile(r"(us\$|a\$|au\$|c\$|ca\$|nz\$|hk\$|s\$|r\$|€|\$|£|¥|₹|₽|₩|₺|₪|zł|kč)", re.I)

# A printed amount: optional sign/currency, digits with thousands separators (. , space,
# apostrophe, thin spaces) and an optional 1-2 digit decimal part, optional trailing sign.
AMOUNT_RE = re.compile(
    r"(?<![\w.,/-])"
    r"(?P<amt>[-−–(]?\s?(?:(?:EUR|USD|GBP|CHF|SEK|NOK|DKK|PLN|CZK|CAD|AUD|JPY)\s?|[€$£¥₹])?\s?[-−–]?"
    r"\d{1,3}(?:(?:[.,'’\u00a0\u202f ]\d{3})+|\d*)(?:[.,]\d{1,2})?"
    r"(?:\s?[€$£¥₹]|\s?(?:EUR|USD|GBP|CHF|SEK|NOK|DKK|PLN|CZK|CAD|AUD|JPY)(?![A-Za-z]))?\)?-?)"
    r"(?![\w/]|[.,]\d)"
)
_MINUS = "-−–"


def clean_text(text: str) -> str:
    return unicodedata.normalize("NFKC", text).strip()


def currency_in(text: str) -> str | None:
    """ISO 4217 code for the first currency symbol or code in `text`."""
    m = _CODE_RE.search(text)
    if m:
        return m.group(1)
    m = _SYMBOL_RE.search(text)
    if m:
        return CURRENCY_SYMBOLS.get(m.group(1).lower())
    low = text.lower()
    for sym in ("chf", "fr.", "sfr", "kr"):
        if re.search(rf"(?<![a-z]){re.escape(sym)}(?![a-z])", low):
            return CURRENCY_SYMBOLS.get(sym, sym.upper())
    if _RINGGIT_RE.search(text) or text.strip() == "RM":  # the sign alone: a currency field's value
        return "MYR"
    return None


# The ringgit's sign, "RM", only before an amount with cents or as a column's unit ("(RM)"):
# a room number ("RM 204") has no cents.
_RINGGIT_RE = re.compile(r"(?<![A-Za-z])RM\s?\d{1,3}(?:[,.]?\d{3})*[.,]\d{2}(?!\d)|\(RM\)")


def detect_decimal_separator(texts: list[str]) -> str | None:
    """The document's decimal separator from amounts whose reading is unambiguous
    ("1.234,56" or "12,50" say comma; "1,234.56" or "12.50" say point)."""
    comma = point = 0
    for t in texts:
        for m in re.finditer(r"\d([.,])(\d{1,2})(?!\d)", t):
            # "12.50" / "12,50": two decimals after the last separator.
            if len(m.group(2)) == 2:
                if m.group(1) == ",":
                    comma += 1
                else:
                    point += 1
    if comma > point:
        return ","
    if point > comma:
        return "."
    return None


def parse_amount(text: str | None, decimal_sep: str | None = None) -> float | None:
    """'1,234.56', '1.234,56', '1 234,56', "1'234.56", '€ -12,00', '(12.00)', '12.00-' -> float.

    `decimal_sep` is the document's separator when known; it decides '1,234' / '1.234'.
    """
    if text is None:
        return None
    s = clean_text(str(text))
    if not s:
        return None
    negative = s.startswith("(") and s.endswith(")")
    s = _CODE_RE.sub("", s)
    s = _SYMBOL_RE.sub("", s)
    s = re.sub(r"(?i)\b(chf|sfr|fr\.|kr)\b", "", s).strip()
    if any(s.startswith(c) for c in _MINUS) or any(s.endswith(c) for c in _MINUS):
        negative = True
    body = re.sub(r"[^\d.,'’ \u00a0\u202f]", "", s).strip()
    body = re.sub(r"['’ \u00a0\u202f]", "", body)
    if not body or not re.search(r"\d", body):
        return None
    if not re.fullmatch(r"[\d.,]+", body):
        return None
    last_dot, last_comma = body.rfind("."), body.rfind(",")
    if last_dot >= 0 and last_comma >= 0:
        dec = "." if last_dot > last_comma else ","
    elif last_dot >= 0 or last_comma >= 0:
        sep = "." if last_dot >= 0 else ","
        parts = body.split(sep)
        tail = parts[-1]
        if len(parts) > 2 and len(tail) in (1, 2) and all(len(p) == 3 for p in parts[1:-1]):
            # "23.265.84": a misread mark before the cents (OCR), the last group is the decimals
            return _finish(parts, negative)
        if len(parts) > 2:
            dec = None  # "1.234.567": only thousands separators
        elif len(tail) == 3 and parts[0] not in ("", "0"):
            # "1,234" / "1.234": thousands unless the document uses this as its decimal mark
            dec = sep if decimal_sep == sep else None
        else:
            dec = sep
    else:
        dec = None
    if dec is None:
        digits = body.replace(".", "").replace(",", "")
    else:
        thousands = "," if dec == "." else "."
        intpart, _, frac = body.rpartition(dec)
        if dec in intpart:
            return None
        digits = intpart.replace(thousands, "") + "." + frac
    try:
        value = float(digits)
    except ValueError:
        return None
    return round(-value if negative else value, 2)


def _finish(parts: list[str], negative: bool) -> float | None:
    try:
        value = float("".join(parts[:-1]) + "." + parts[-1])
    except ValueError:
        return None
    return round(-value if negative else value, 2)


def find_amounts(text: str, decimal_sep: str | None = None) -> list[tuple[str, float, int, int]]:
    """Every amount-looking substring of `text`: (raw, value, start, end)."""
    return list(_find_amounts(text, decimal_sep))


@lru_cache(maxsize=65536)
def _find_amounts(text: str, decimal_sep: str | None) -> tuple[tuple[str, float, int, int], ...]:
    # Cached per process: the local provider asks for the same segments' amounts again and
    # again (labels, the VAT breakdown, totals, its learned scorer's candidates).
    out = []
    for m in AMOUNT_RE.finditer(text):
        raw = m.group("amt").strip()
        if re.match(r"\s?%", text[m.end("amt"):]):
            continue
        v = parse_amount(raw, decimal_sep)
        if v is not None:
            out.append((raw, v, m.start("amt"), m.end("amt")))
    return tuple(out)


def has_decimals(raw: str) -> bool:
    return bool(re.search(r"\d[.,]\d{2}(?!\d)", raw))


# --- dates --------------------------------------------------------------------------------

MONTHS: dict[str, int] = {}
for _n, _names in enumerate([
    "january jan januar janv janvier enero ene januari jän jänner",
    "february feb februar fév fevrier février febrero februari févr",
    "march mar märz maerz mars marzo maart mrz mär mrt",
    "april apr avril abril avr abr",
    "may mai mayo mei",
    "june jun juni juin junio",
    "july jul juli juillet julio juil",
    "august aug août aout agosto ago augustus",
    "september sep sept septembre septiembre set",
    "october oct oktober octobre octubre okt",
    "november nov novembre noviembre",
    "december dec dez dezember décembre decembre diciembre dic déc",
], start=1):
    for _w in _names.split():
        MONTHS[_w] = _n
_MONTH_ALT = "|".join(sorted((re.escape(m) for m in MONTHS), key=len, reverse=True))

DATE_PATTERNS: tuple[re.Pattern, ...] = (
    re.compile(r"(?<!\d)(\d{4})[-./](\d{1,2})[-./](\d{1,2})(?!\d)"),  # ISO-like
    # numeric d/m/y or m/d/y; a comma after it ends a clause ("bis 04.07.2013, 3% Skonto"), a
    # comma and a digit make it part of a number
    re.compile(r"(?<![\d.,])(\d{1,2})[./-](\d{1,2})[./-](\d{4}|\d{2})(?!\d|[.,]\d|:\d)"),
    re.compile(rf"(?i)(?<!\w)(\d{{1,2}})(?:st|nd|rd|th|er|º|°)?\.?\s*(?:de\s+)?({_MONTH_ALT})\.?,?\s*(?:de\s+)?(\d{{4}})(?!\d)"),
    re.compile(rf"(?i)(?<!\w)({_MONTH_ALT})\.?\s+(\d{{1,2}})(?:st|nd|rd|th)?(?:,\s*|\s+)(\d{{4}})(?!\d)"),
    re.compile(rf"(?i)(?<!\w)(\d{{1,2}})[-/ ]({_MONTH_ALT})[-/ ](\d{{2,4}})(?!\d)"),
    # A till's date with its time glued on by the recognizer: "11/02/1819:21" is 11/02/18 19:21,
    # "14/03/20185:57:07PM" 14/03/2018 5:57.
    re.compile(r"(?<![\d.,])(\d{1,2})[./-](\d{1,2})[./-](\d{4}|\d{2})(?=\d{1,2}:\d{2})"),
)


def find_dates(text: str) -> list[tuple[str, int, int]]:
    """Date-looking substrings: (raw, start, end), leftmost first, no overlaps."""
    return list(_find_dates(text))


@lru_cache(maxsize=65536)
def _find_dates(text: str) -> tuple[tuple[str, int, int], ...]:
    spans: list[tuple[str, int, int]] = []
    for pat in DATE_PATTERNS:
        for m in pat.finditer(text):
            if any(not (m.end() <= s or m.start() >= e) for _, s, e in spans):
                continue
            spans.append((m.group(0).strip(" ,"), m.start(), m.end()))
    return tuple(sorted(spans, key=lambda s: s[1]))


@dataclass
class ParsedDate:
    iso: str
    ambiguous: bool  # numeric with both parts <= 12 and no document evidence used
    order_used: str | None = None


# Years an invoice date can have around today: older ones are misreads ("1812" for "18 12"),
# later ones too.
PLAUSIBLE_PAST_YEARS, PLAUSIBLE_FUTURE_YEARS = 40, 15


def expand_year(two_digits: int, ref_year: int | None = None) -> int:
    """A two-digit year in the century nearest to `ref_year` (another date of the document,
    else today), at most PLAUSIBLE_FUTURE_YEARS ahead of it: today "18" is 2018, "97" 1997 and
    "70" 1970; never 1818."""
    ref = ref_year or date.today().year
    base = ref // 100 * 100
    return next(y for y in (base - 100 + two_digits, base + two_digits, base + 100 + two_digits)
                if ref - (99 - PLAUSIBLE_FUTURE_YEARS) <= y <= ref + PLAUSIBLE_FUTURE_YEARS)


def plausible_year(year: int, ref_year: int | None = None) -> bool:
    ref = ref_year or date.today().year
    return ref - PLAUSIBLE_PAST_YEARS <= year <= ref + PLAUSIBLE_FUTURE_YEARS


def _numeric_parts(raw: str, ref_year: int | None = None) -> tuple[int, int, int] | None:
    m = DATE_PATTERNS[1].fullmatch(raw.strip())
    if not m:
        return None
    a, b, y = int(m.group(1)), int(m.group(2)), int(m.group(3))
    if len(m.group(3)) <= 2:
        y = expand_year(y, ref_year)
    return a, b, y


def date_order_from_dates(raws: list[str]) -> str | None:
    """'DMY' or 'MDY' when some numeric date on the page can only be read one way."""
    dmy = mdy = 0
    for r in raws:
        p = _numeric_parts(r)
        if not p:
            continue
        a, b, _ = p
        if a > 12 >= b:
            dmy += 1
        elif b > 12 >= a:
            mdy += 1
    if dmy and not mdy:
        return "DMY"
    if mdy and not dmy:
        return "MDY"
    return None


@lru_cache(maxsize=4096)
def parse_date(raw: str | None, order: str | None = None, languages: tuple[str, ...] | None = None,
               ref_year: int | None = None) -> ParsedDate | None:
    """A printed date -> ISO. Numeric day/month order comes from `order` ('DMY'/'MDY');
    without it a date that reads both ways is returned day-first and flagged ambiguous.
    A two-digit year takes the century nearest to `ref_year` (default: this year)."""
    if not raw:
        return None
    return _parse_date(raw, order, languages, ref_year)


def _parse_date(raw: str, order: str | None, languages: tuple[str, ...] | None, ref_year: int | None
                ) -> ParsedDate | None:
    s = clean_text(raw)
    m = DATE_PATTERNS[0].search(s)
    if m:
        try:
            return ParsedDate(date(int(m.group(1)), int(m.group(2)), int(m.group(3))).isoformat(), False)
        except ValueError:
            return None
    m = DATE_PATTERNS[1].search(s)
    if m:
        p = _numeric_parts(m.group(0), ref_year)
        if not p:
            return None
        a, b, y = p
        ambiguous = a <= 12 and b <= 12 and a != b
        use = order
        if a > 12:
            use, ambiguous = "DMY", False
        elif b > 12:
            use, ambiguous = "MDY", False
        elif order is not None:
            ambiguous = False
        use = use or "DMY"
        d, mo = (a, b) if use == "DMY" else (b, a)
        try:
            return ParsedDate(date(y, mo, d).isoformat(), ambiguous, use)
        except ValueError:
            return None
    import dateparser  # heavy import kept out of module load

    settings = {"DATE_ORDER": order or "DMY", "PREFER_DAY_OF_MONTH": "first",
                "REQUIRE_PARTS": ["day", "month", "year"], "RETURN_AS_TIMEZONE_AWARE": False}
    langs = list(languages) if languages else None
    try:
        dt = dateparser.parse(s, languages=langs, settings=settings)
        if dt is None and langs:
            dt = dateparser.parse(s, settings=settings)
    except Exception:  # dateparser raises assorted errors on odd input; unparseable is the answer
        logger.debug("dateparser failed on %r", s, exc_info=True)
        dt = None
    if dt is None:
        return None
    d = dt.date()
    two = re.search(r"(?<![\d'’])['’]?(\d{2})\s*$", s)
    if two and not DATE_PATTERNS[0].search(s):
        # "12-Dec-18", "Dec 3 '18": the two-digit year by our rule, not dateparser's.
        try:
            d = d.replace(year=expand_year(int(two.group(1)), ref_year))
        except ValueError:
            return None
    return ParsedDate(d.isoformat(), False)


# Payment terms that count days from the invoice date: "Net 30", "payable within 30 days",
# "Zahlbar innerhalb von 14 Tagen", "30 Tage netto", "à 30 jours", "a 30 días", "binnen 30 dagen".
_DAYS_WORD = r"(?:days?|d|tagen|tage|tg\.?|jours?|j|d[ií]as|dagen|dgn)"
_TERM_DAYS = re.compile(rf"(?i)(?<![\w.,])(\d{{1,3}})\s*-?\s*{_DAYS_WORD}(?![\w])")
_NET_DAYS = re.compile(r"(?i)(?<![\w])(?:net|netto|neto|n)\s?(\d{1,3})(?![\w.,])")
# The days that apply to the full amount: marked net / without deduction, not the early-payment
# discount ("14 Tage 2 % Skonto, 30 Tage netto").
_NET_MARK = re.compile(r"(?i)(net|netto|neto|ohne abzug|sans escompte|zonder korting|sin descuento|rein)")
_DISCOUNT_MARK = re.compile(r"(?i)(%|skonto|escompte|descuento|korting|discount)")


def terms_days(text: str | None) -> int | None:
    """Days from the invoice date to the due date that payment terms state, or None."""
    if not text:
        return None
    t = clean_text(text)
    if re.search(r"(?i)fin de mois|end of (?:the )?month|\beom\b|monatsende|ende des monats|final de(?:l)? mes|"
                 r"einde (?:van de )?maand", t):
        return None  # counted to a month's end: not a plain number of days
    found: list[tuple[int, bool, bool]] = []  # (days, marked net, marked discount)
    for m in _NET_DAYS.finditer(t):
        found.append((int(m.group(1)), True, False))
    for m in _TERM_DAYS.finditer(t):
        around = t[max(0, m.start() - 25): m.end() + 25]
        clause = re.split(r"[,;]", t[m.start():])[0] + " " + re.split(r"[,;]", t[:m.start()])[-1]
        found.append((int(m.group(1)), bool(_NET_MARK.search(clause)), bool(_DISCOUNT_MARK.search(clause))
                      and not _NET_MARK.search(clause) and "%" in around))
    found = [f for f in found if 0 < f[0] <= 180]
    if not found:
        return None
    net = [d for d, is_net, _ in found if is_net]
    if net:
        return max(net)
    plain = [d for d, _, disc in found if not disc]
    return max(plain) if plain else None


# --- identifiers --------------------------------------------------------------------------

IBAN_RE = re.compile(r"(?<![A-Z0-9])([A-Z]{2}\d{2}(?:[ ]?[A-Z0-9]{4}){2,7}(?:[ ]?[A-Z0-9]{1,4})?)(?![A-Z0-9])")
BIC_RE = re.compile(r"(?<![A-Z0-9])([A-Z]{4}[A-Z]{2}[A-Z0-9]{2}(?:[A-Z0-9]{3})?)(?![A-Z0-9])")
VAT_RE = re.compile(
    r"(?<![A-Z0-9])("
    r"ATU\s?\d{8}|BE\s?[01]\d{3}[.\s]?\d{3}[.\s]?\d{3}|DE\s?\d{3}\s?\d{3}\s?\d{3}|"
    r"FR\s?[0-9A-Z]{2}\s?\d{3}\s?\d{3}\s?\d{3}|NL\s?\d{9}\s?B\d{2}|ES\s?[0-9A-Z]\d{7}[0-9A-Z]|"
    r"IT\s?\d{11}|GB\s?\d{3}\s?\d{4}\s?\d{2}(?:\s?\d{3})?|CHE[-\s]?\d{3}[.\s]?\d{3}[.\s]?\d{3}(?:\s?(?:MWST|TVA|IVA))?|"
    r"PL\s?\d{10}|PT\s?\d{9}|SE\s?\d{12}|DK\s?\d{8}|FI\s?\d{8}|IE\s?\d{7}[A-Z]{1,2}|LU\s?\d{8}|"
    r"CZ\s?\d{8,10}|EL\s?\d{9}|HU\s?\d{8}|RO\s?\d{2,10}|SK\s?\d{10}|SI\s?\d{8}|"
    r"EU\d{9}|XI\s?\d{9}"
    r")(?![A-Z0-9])"
)
# Non-EU tax ids we cannot validate with a checksum but still read (US EIN, Australian ABN).
OTHER_TAX_RE = re.compile(r"(?<!\d)(\d{2}-\d{7}|\d{2}\s\d{3}\s\d{3}\s\d{3})(?!\d)")


def compact(value: str) -> str:
    return re.sub(r"[\s.\-]", "", value).upper()


def validate_iban(raw: str) -> tuple[str | None, str | None]:
    """(compact IBAN, error)."""
    from schwifty import IBAN
    from schwifty.exceptions import SchwiftyException

    try:
        return IBAN(raw).compact, None
    except SchwiftyException as exc:
        return compact(raw), f"invalid IBAN: {exc}"


def validate_bic(raw: str) -> tuple[str | None, str | None]:
    from schwifty import BIC
    from schwifty.exceptions import SchwiftyException

    try:
        bic = BIC(raw)
        return str(bic.compact), None
    except SchwiftyException as exc:
        return compact(raw), f"invalid BIC: {exc}"


def validate_tax_id(raw: str) -> tuple[str, str | None]:
    """(compact id, error). EU VAT numbers (and Swiss UID) are checked with python-stdnum;
    others are accepted as read."""
    from stdnum.eu import vat
    from stdnum.exceptions import ValidationError

    c = compact(raw)
    c = re.sub(r"(MWST|TVA|IVA)$", "", c)
    if c.startswith("CHE") and re.search(r"(MWST|TVA|IVA)$", compact(raw)):
        # "CHE-123.456.789 MWST" is the Swiss VAT number; the suffix is part of it.
        from stdnum.ch import vat as ch_vat

        try:
            return ch_vat.validate(compact(raw)), None
        except ValidationError as exc:
            return compact(raw), f"invalid Swiss VAT number: {exc}"
    if c.startswith("CHE"):
        from stdnum.ch import uid

        try:
            return uid.validate(c), None
        except ValidationError as exc:
            return c, f"invalid Swiss UID: {exc}"
    if c.startswith("GB"):
        from stdnum.gb import vat as gb_vat

        try:
            return "GB" + gb_vat.validate(c), None
        except ValidationError as exc:
            return c, f"invalid UK VAT number: {exc}"
    if c[:2].lower() in vat.MEMBER_STATES or c[:2] in ("EL", "XI", "EU"):
        try:
            return vat.validate(c), None
        except ValidationError as exc:
            return c, f"invalid VAT number: {exc}"
    return clean_text(raw), None
