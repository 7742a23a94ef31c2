"""Numbers, money and dates printed the way each locale prints them."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

from .locales import MONTHS, MONTHS_SHORT

CENT = Decimal("0.01")

SYMBOLS = {"EUR": "€", "USD": "$", "GBP": "£", "CHF": "CHF"}

# style -> (thousands separator, decimal separator)
NUMBER_STYLES: dict[str, tuple[str, str]] = {
    "en": (",", "."),  # 1,234.56
    "de": (".", ","),  # 1.234,56
    "de_plain": ("", ","),  # 1234,56
    "fr": (" ", ","),  # 1 234,56
    "fr_nbsp": ("\u00a0", ","),  # 1 234,56 with a no-break space, as word processors print it
    "ch": ("'", "."),  # 1'234.56
    "plain": ("", "."),  # 1234.56
}


def cents(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def format_number(value: Decimal, style: str, places: int | None = 2) -> str:
    """`places=None` prints the shortest exact form (quantities, tax rates)."""
    group, point = NUMBER_STYLES[style]
    if places is None:
        text = format(value.normalize(), "f")
        if "." in text:
            text = text.rstrip("0").rstrip(".")
    else:
        text = format(value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP), "f")
    negative = text.startswith("-")
    text = text.lstrip("-")
    whole, _, frac = text.partition(".")
    groups = []
    while len(whole) > 3:
        groups.insert(0, whole[-3:])
        whole = whole[:-3]
    groups.insert(0, whole)
    out = group.join(groups) + (point + frac if frac else "")
    return ("-" if negative else "") + out


@dataclass(frozen=True)
class MoneyStyle:
    """How an amount is printed: number style plus where the currency goes.

    placement: symbol_before ("€ 1.234,56", "$1,234.56"), symbol_after ("1.234,56 €"),
    code_before ("EUR 1,234.56"), code_after ("1.234,56 EUR"), none (currency stated once
    elsewhere on the page)."""
    number_style: str
    placement: str
    currency: str

    def format(self, value: Decimal, with_currency: bool = True) -> str:
        num = format_number(value, self.number_style)
        if not with_currency or self.placement == "none":
            return num
        symbol = SYMBOLS[self.currency]
        if self.placement == "symbol_before":
            return f"{symbol}{num}" if symbol in "$£" else f"{symbol} {num}"
        if self.placement == "symbol_after":
            return f"{num} {symbol}"
        if self.placement == "code_before":
            return f"{self.currency} {num}"
        return f"{num} {self.currency}"


@dataclass(frozen=True)
class DateStyle:
    """kind: numeric (strftime `pattern`), long, short (month names) or iso."""
    language: str
    country: str
    kind: str
    pattern: str = "%d/%m/%Y"

    def format(self, d: date) -> str:
        if self.kind == "iso":
            return d.isoformat()
        if self.kind == "numeric":
            return d.strftime(self.pattern)
        short = self.kind == "short"
        month = (MONTHS_SHORT if short else MONTHS)[self.language][d.month - 1]
        lang = self.language
        if lang == "en":
            if self.country == "US":
                return f"{month} {d.day}, {d.year}"
            return f"{d.day} {month} {d.year}"
        if lang == "de":
            return f"{d.day}. {month} {d.year}"
        if lang == "fr":
            day = "1er" if d.day == 1 and not short else str(d.day)
            return f"{day} {month} {d.year}"
        if lang == "es":
            return f"{d.day} de {month} de {d.year}" if not short else f"{d.day} {month} {d.year}"
        return f"{d.day} {month} {d.year}"


def format_rate(rate: Decimal, number_style: str) -> str:
    # Rates print with the locale's decimal separator and no grouping: "19 %", "8,1%", "5.5%".
    text = format_number(rate, number_style, places=None)
    return text
