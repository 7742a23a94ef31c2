"""Identifiers that validate: IBANs and BICs from schwifty's bank registry, VAT ids with
correct check digits (checked with python-stdnum), plus the distractor numbers that real
invoices print beside them (phone numbers, bank codes, company register numbers)."""
from __future__ import annotations

import random
from dataclasses import dataclass
from functools import lru_cache

from schwifty import IBAN, registry
from schwifty.registry import Component
from stdnum import luhn
from stdnum.at import uid as at_uid
from stdnum.be import vat as be_vat
from stdnum.ch import uid as ch_uid
from stdnum.ch import vat as ch_vat
from stdnum.de import vat as de_vat
from stdnum.es import nif as es_nif
from stdnum.fr import tva as fr_tva
from stdnum.gb import vat as gb_vat
from stdnum.ie import vat as ie_vat
from stdnum.lu import tva as lu_tva
from stdnum.nl import btw as nl_btw

_DIGITS = "0123456789"


def _digits(rng: random.Random, n: int, first_nonzero: bool = False) -> str:
    s = "".join(rng.choice(_DIGITS) for _ in range(n))
    if first_nonzero and s[0] == "0":
        s = rng.choice("123456789") + s[1:]
    return s


@dataclass(frozen=True)
class BankAccount:
    iban: str | None  # compact, e.g. DE89370400440532013000
    iban_printed: str | None  # as printed (groups of four)
    bic: str | None
    bank_name: str
    bank_code: str | None  # national bank code (BLZ, sort code, ...), a distractor
    account_number: str | None  # national account number (US), a distractor


@lru_cache(maxsize=None)
def _banks(country: str) -> tuple:
    # Banks with a BIC only, sorted so a seed picks the same bank whatever the registry order.
    banks = [b for b in registry.get_banks_by_country(country) if b.bic and b.bank_code and b.name]
    return tuple(sorted(banks, key=lambda b: (b.bank_code, b.bic)))


def bank_account(rng: random.Random, country: str) -> BankAccount:
    """A bank account in `country` whose IBAN passes schwifty's checks (national checksum
    included) and whose BIC belongs to the IBAN's bank."""
    if country == "US":
        routing = _aba_routing(rng)
        return BankAccount(None, None, rng.choice(["CHASUS33", "BOFAUS3N", "WFBIUS6S", "CITIUS33"]),
                           rng.choice(["JPMorgan Chase Bank", "Bank of America", "Wells Fargo Bank", "Citibank"]),
                           routing, _digits(rng, rng.choice([10, 11, 12]), first_nonzero=True))
    banks = _banks(country)
    spec = registry.get_iban_spec(country)
    bank_len = spec.positions[Component.BANK_CODE].end - spec.positions[Component.BANK_CODE].start
    branch = spec.positions[Component.BRANCH_CODE]
    branch_len = branch.end - branch.start
    acc = spec.positions[Component.ACCOUNT_CODE]
    acc_len = acc.end - acc.start
    for _ in range(500):
        bank = rng.choice(banks)
        code = bank.bank_code
        bank_code, branch_code = code[:bank_len], code[bank_len:bank_len + branch_len]
        if branch_len and len(branch_code) < branch_len:
            branch_code = _digits(rng, branch_len)
        try:
            iban = IBAN.generate(country, bank_code=bank_code, branch_code=branch_code,
                                 account_code=_digits(rng, acc_len))
            iban = IBAN(str(iban), validate_bban=True)
        except Exception:  # noqa: BLE001 - schwifty raises several error types; try another account
            continue
        bic = str(iban.bic) if iban.bic else bank.bic
        return BankAccount(iban.compact, iban.formatted, bic, bank.name, code, None)
    raise RuntimeError(f"could not generate a valid IBAN for {country}")


def _aba_routing(rng: random.Random) -> str:
    # ABA routing numbers: weights 3,7,1 repeated, sum divisible by 10.
    body = _digits(rng, 8)
    s = sum(int(d) * w for d, w in zip(body, (3, 7, 1, 3, 7, 1, 3, 7)))
    return body + str((10 - s % 10) % 10)


def _until_valid(rng: random.Random, make, validate, tries: int = 5000) -> str:
    for _ in range(tries):
        candidate = make()
        if validate(candidate):
            return candidate
    raise RuntimeError("no valid identifier generated")


def vat_id(rng: random.Random, country: str) -> tuple[str, str]:
    """(compact, printed) VAT/tax id for `country` with valid check digits."""
    if country == "DE":
        c = _until_valid(rng, lambda: "DE" + _digits(rng, 9, True), de_vat.is_valid)
        return c, rng.choice([c, f"DE {c[2:5]} {c[5:8]} {c[8:]}", c])
    if country == "AT":
        body = _digits(rng, 7)
        c = "ATU" + body + at_uid.calc_check_digit("U" + body)
        assert at_uid.is_valid(c)
        return c, c
    if country == "CH":
        # A UID whose check digit would be 10 does not exist; draw again.
        body = _until_valid(rng, lambda: _digits(rng, 8, True), lambda b: len(ch_uid.calc_check_digit(b)) == 1)
        uid = "CHE" + body + ch_uid.calc_check_digit(body)
        assert ch_uid.is_valid(uid)
        vat = uid + rng.choice(["MWST", "TVA"])
        assert ch_vat.is_valid(vat)
        return vat, ch_vat.format(vat)
    if country == "FR":
        siren = _digits(rng, 8, True)
        siren += luhn.calc_check_digit(siren)
        key = (12 + 3 * (int(siren) % 97)) % 97
        c = f"FR{key:02d}{siren}"
        assert fr_tva.is_valid(c), c
        return c, rng.choice([c, f"FR {key:02d} {siren[:3]} {siren[3:6]} {siren[6:]}"])
    if country == "BE":
        c = _until_valid(rng, lambda: "BE0" + _digits(rng, 9), be_vat.is_valid)
        return c, rng.choice([c, f"BE {c[2:6]}.{c[6:9]}.{c[9:]}"])
    if country == "ES":
        c = _until_valid(rng, lambda: "ES" + rng.choice("ABB") + _digits(rng, 8), es_nif.is_valid)
        return c, c
    if country == "NL":
        c = _until_valid(rng, lambda: "NL" + _digits(rng, 9, True) + "B0" + rng.choice("12"), nl_btw.is_valid)
        return c, c
    if country == "GB":
        c = _until_valid(rng, lambda: "GB" + _digits(rng, 9, True), gb_vat.is_valid)
        return c, rng.choice([c, f"GB {c[2:5]} {c[5:9]} {c[9:]}"])
    if country == "IE":
        body = _digits(rng, 7)
        c = "IE" + body + ie_vat.calc_check_digit(body)
        assert ie_vat.is_valid(c)
        return c, c
    if country == "LU":
        body = _digits(rng, 6, True)
        c = "LU" + body + lu_tva.calc_check_digits(body)
        assert lu_tva.is_valid(c)
        return c, c
    if country == "US":
        prefix = rng.choice(["12", "20", "27", "33", "45", "46", "52", "61", "74", "81", "94"])
        c = f"{prefix}-{_digits(rng, 7)}"
        return c, c
    raise ValueError(f"no VAT id format for {country}")


def phone(rng: random.Random, country: str) -> str:
    """A phone number in the country's usual print style (a distractor full of digits)."""
    cc = {"DE": "49", "AT": "43", "CH": "41", "FR": "33", "BE": "32", "LU": "352", "ES": "34",
          "NL": "31", "GB": "44", "IE": "353", "US": "1"}[country]
    if country == "US":
        return f"({_digits(rng, 3, True)}) {_digits(rng, 3, True)}-{_digits(rng, 4)}"
    if country == "FR":
        return rng.choice([f"+33 {rng.choice('123459')} " + " ".join(_digits(rng, 2) for _ in range(4)),
                           f"0{rng.choice('12345')} " + " ".join(_digits(rng, 2) for _ in range(4))])
    style = rng.random()
    if style < 0.5:
        return f"+{cc} {_digits(rng, rng.choice([2, 3]), True)} {_digits(rng, rng.choice([6, 7]))}"
    if style < 0.8:
        return f"+{cc} ({_digits(rng, 1)}){_digits(rng, 2, True)} {_digits(rng, 3)} {_digits(rng, 3)}"
    return f"0{_digits(rng, rng.choice([2, 3]), True)} / {_digits(rng, 6)}-{_digits(rng, 2)}"


def register_number(rng: random.Random, country: str) -> str | None:
    """Company register number (HRB, KvK, SIRET, CRN, ...), a distractor."""
    return {
        "DE": lambda: f"HRB {_digits(rng, 5, True)}, Amtsgericht {rng.choice(['München', 'Hamburg', 'Köln', 'Berlin-Charlottenburg'])}",
        "AT": lambda: f"FN {_digits(rng, 6, True)}{rng.choice('abdkmst')}",
        "CH": lambda: f"CH-{_digits(rng, 3)}.{_digits(rng, 1)}.{_digits(rng, 3)}.{_digits(rng, 3)}-{_digits(rng, 1)}",
        "FR": lambda: f"SIRET {_digits(rng, 3, True)} {_digits(rng, 3)} {_digits(rng, 3)} {_digits(rng, 5)}",
        "BE": lambda: f"RPR/RPM {rng.choice(['Bruxelles', 'Antwerpen', 'Gent', 'Liège'])}",
        "LU": lambda: f"RCS Luxembourg B{_digits(rng, 6, True)}",
        "ES": lambda: f"Reg. Merc. {rng.choice(['Madrid', 'Barcelona', 'Valencia'])}, Tomo {_digits(rng, 5, True)}, Folio {_digits(rng, 3, True)}",
        "NL": lambda: f"KvK {_digits(rng, 8, True)}",
        "GB": lambda: f"Company No. {_digits(rng, 8, True)}",
        "IE": lambda: f"CRO No. {_digits(rng, 6, True)}",
        "US": lambda: None,
    }[country]()
