"""Label vocabularies in English, German, French, Spanish and Dutch.

Keys are field names of `fields.FIELDS`, plus `_`-prefixed *distractor* labels: things that
look like a field's label or value (customer number, order date, phone, bank code) and
must win the match so their values are not taken for a field. Phrases are written
lower-case without accents; `norm()` brings page text into the same form.
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

LABELS: dict[str, tuple[str, ...]] = {
    "invoice_number": (
        "invoice number", "invoice no", "invoice nr", "invoice #", "invoice num", "invoice id", "invoice ref",
        "inv no", "inv #", "bill no", "bill number", "tax invoice no", "tax invoice", "sales invoice", "document no", "document number",
        "rechnungsnummer", "rechnungs nr", "rechnungsnr", "rechnung nr", "rechnung #", "re nr", "belegnummer",
        "beleg nr", "rechnungs-nr", "numero de facture", "n de facture", "no de facture", "facture n", "facture no",
        "n facture", "facture numero", "numero facture", "ref facture", "numero de factura", "n de factura",
        "no de factura", "factura n", "factura no", "num factura", "nº factura", "factura numero", "n factura",
        "factuurnummer", "factuur nr", "factuurnr", "factuur nummer", "factuur no", "invoice", "rechnung",
        "facture", "factura", "factuur",
     "nummer", "factura n o", "document", "doc no",
        # credit notes and receipts number themselves too
        "credit note", "credit note no", "credit note number", "credit note #", "credit memo no", "gutschrift",
        "gutschriftsnummer", "gutschrift nr", "gutschrifts-nr", "stornorechnung", "storno nr", "rechnungskorrektur",
        "avoir", "avoir n", "n d avoir", "numero d avoir", "facture d avoir n", "creditnota", "creditnota nr",
        "creditnotanummer", "creditfactuur", "factura rectificativa", "factura rectificativa n", "abono",
        "n de abono", "numero de abono", "nota de credito", "nota de credito n", "receipt", "receipt no",
        "receipt number", "receipt #", "bon nr", "bon-nr", "bonnr", "bonnummer", "beleg-nr", "belegnr",
        "beleg", "kassenbon", "kassenbon nr", "quittung nr", "ticket n", "ticket no", "n de ticket",
        "numero de ticket", "recibo", "recibo n", "n de recibo", "kassabon", "kassabon nr", "bonnummer",
        "transaction no", "trans no", "document nr", "documentnummer", "n operacion", "numero de operacion",
        # abbreviations and column heads of the five languages: "RG-Nr.", "Pièce n°", "Serie/Número",
        # "Nº ticket", "Fra. simplif. nº"; a bare "Nr." / "Number" / "Número" under an invoice title
        "rg-nr", "rg nr", "re-nr", "rgnr", "korrektur-nr", "korrekturrechnung nr", "rectificativa n",
        "piece n", "piece no", "numero de piece", "serie/numero", "serie numero", "n serie", "n ticket",
        "no ticket", "ticket nr", "fra simplif n", "factura simplificada n", "trans #", "transaction #",
        "transactie", "transactienummer", "transactie nr", "trans nr", "trans-nr", "transaktionsnummer",
        "transaktions nr", "vorgangsnummer", "vorgangs nr", "nr", "no", "number", "numero", "ticket",
        "transaction",),
    "invoice_date": (
        "invoice date", "date of invoice", "invoice dt", "issue date", "date of issue", "issued on", "issued",
        "billing date", "tax point", "rechnungsdatum", "rechnungs datum", "ausstellungsdatum", "datum der rechnung",
        "date de facture", "date de facturation", "date d emission", "date facture", "fecha de factura",
        "fecha factura", "fecha de emision", "fecha emision", "factuurdatum", "factuur datum", "datum factuur",
        "date", "datum", "fecha", "dated", "le",
     "leistungs und rechnungsdatum", "rechnungs und leistungsdatum", "date d emission",),
    "due_date": (
        "due date", "payment due", "due on", "due by", "pay by", "payable by", "payment date due", "date due",
        "falligkeitsdatum", "falligkeit", "fallig am", "fallig bis", "zahlbar bis", "zahlungsziel", "zahlbar am",
        "date d echeance", "echeance", "date limite de paiement", "a payer avant le", "payable le", "a regler avant le",
        "fecha de vencimiento", "vencimiento", "vence", "fecha vencimiento", "fecha limite de pago", "pagar antes de",
        "vervaldatum", "vervaldag", "uiterste betaaldatum", "te betalen voor", "betalen voor",
     "due", "fecha de pago", "payment due date", "zahlungsfrist", "zahlungstermin", "fallig zum", "zahlbar zum",
     "payment deadline", "date limite de reglement",),
    "vendor_name": ("from", "seller", "supplier", "vendor", "issued by", "von", "absender", "lieferant",
                    "verkaufer", "fournisseur", "vendeur", "emetteur", "proveedor", "vendedor", "emisor",
                    "leverancier", "verkoper", "afzender", "rechnungssteller", "datos del emisor", "van",),
    "customer_name": (
        "bill to", "billed to", "invoice to", "invoiced to", "sold to", "customer", "client", "buyer", "to",
        "recipient", "rechnungsempfanger", "rechnung an", "kunde", "empfanger", "auftraggeber", "an",
        "facture a", "facturer a", "facture au nom de", "destinataire", "client", "acheteur",
        "facturar a", "facturado a", "cliente", "comprador", "destinatario",
        "factuur aan", "gefactureerd aan", "klant", "afnemer", "koper", "ontvanger",
     "adresse de facturation", "datos del cliente", "factuuradres", "aan", "invoice address", "billing address", "rechnungsadresse", "direccion de facturacion",),
    "amount": (
        "subtotal", "sub total", "sub-total", "net amount", "net total", "total net", "total excl vat",
        "total excluding vat", "total excl tax", "total before tax", "amount before tax", "net", "total ht",
        "nettobetrag", "netto", "zwischensumme", "summe netto", "gesamt netto", "nettosumme", "rechnungsbetrag netto",
        "warenwert", "total hors taxes", "montant ht", "sous-total", "sous total", "total ht", "montant hors taxe",
        "base imponible", "subtotal", "importe neto", "total sin iva", "neto",
        "subtotaal", "totaal excl btw", "netto bedrag", "totaal exclusief btw", "bedrag excl btw", "netto",
     "net total", "total net", "sous-total ht", "total sans tva", "netto totaal", "net amount due",
     "base ht", "base h t", "total h t", "montant h t", "base hors taxes", "base imposable", "montant total ht",
     "montant total h t",),
    "vat": (
        "vat", "vat amount", "tax", "tax amount", "sales tax", "gst", "hst", "total vat", "total tax", "vat total",
        "total gst", "gst total", "total hst", "sst", "total sst",
        "mwst", "mehrwertsteuer", "ust", "umsatzsteuer", "zzgl mwst", "zzgl ust", "mwst betrag", "steuer",
        "tva", "montant tva", "total tva", "iva", "cuota iva", "importe iva", "total iva", "btw", "btw bedrag",
        "totaal btw", "igic", "t v a", "montant t v a", "total t v a", "i v a", "b t w",
    ),
    "total": (
        "total", "grand total", "invoice total", "total amount", "total incl vat", "total including vat",
        "total inc vat", "gross amount", "total gross", "total (incl", "amount total", "total ttc", "montant ttc",
        "total a payer", "gesamtbetrag", "gesamtsumme", "rechnungsbetrag", "bruttobetrag", "brutto", "summe brutto",
        "gesamt brutto", "endbetrag", "gesamt", "summe", "total general", "importe total", "total factura",
        "totaal", "totaal incl btw", "totaalbedrag", "totaal inclusief btw", "bedrag incl btw", "factuurbedrag",
     "net a payer ttc", "total toutes taxes comprises", "total con iva", "total ttc", "montant total ttc", "gesamtbetrag brutto", "total amount due", "totaal te betalen", "total payable",
     "total amount payable", "montant total ttc", "importe factura", "importe de la factura", "importe total factura", "total t t c",
     "montant t t c",),
    "amount_due": (
        "amount due", "balance due", "total due", "amount payable", "balance", "amount to pay", "please pay",
        "zu zahlen", "zahlbetrag", "offener betrag", "restbetrag", "noch zu zahlen", "zahlbarer betrag",
        "montant du", "reste a payer", "net a payer", "solde du", "solde", "a payer",
        "importe adeudado", "saldo pendiente", "importe a pagar", "total a pagar", "saldo",
        "te betalen", "openstaand bedrag", "verschuldigd bedrag", "nog te betalen",
     "importe pendiente", "montant restant du", "remaining balance", "balance remaining", "montant a regler",),
    "vendor_tax_id": (
        "vat id", "vat no", "vat number", "vat reg no", "vat registration number", "vat reg", "tax id", "tax no",
        "tax number", "tin", "ein", "abn", "gst no", "gst number", "ust-idnr", "ust idnr", "ust-id", "ust id",
        "ustid", "ust-id-nr", "umsatzsteuer-id", "umsatzsteuer id", "ust-identifikationsnummer", "steuernummer",
        "steuer-nr", "st-nr", "stnr", "n tva", "no tva", "tva intracommunautaire", "numero de tva", "n de tva",
        "siret", "tva intracom", "nif", "cif", "nif/cif", "n iva", "btw-nummer", "btw nummer", "btw nr",
        "btw-nr", "btw id", "btw-id", "ondernemingsnummer", "kvk",
     "federal tax id", "uid-nr", "uid", "nif-iva", "vat reg", "gst reg no", "btw-id", "tax reg no", "company vat",
        # a tax registration's own words after the tax's name: "GST ID No", "HST Reg. No.", "SST ID"
        "gst id", "gst id no", "gst reg", "gst registration no", "gst registration number", "gstin", "hst no",
        "hst number", "hst reg no", "hst registration number", "sst id", "sst no", "sst reg no", "vat id no",
        "tax id no", "tax registration number",),
    "customer_tax_id": (
        "customer vat", "customer vat id", "customer vat no", "customer tax id", "buyer vat", "your vat",
        "your vat id", "client vat", "vat id customer", "ihre ust-idnr", "ihre ust-id", "ust-idnr kunde",
        "ust-id kunde", "kunden ust-idnr", "kunden-ust-id", "tva client", "n tva client", "votre n tva",
        "nif cliente", "cif cliente", "btw klant", "btw-nummer klant", "uw btw-nummer",
    ),
    "purchase_order": (
        "purchase order", "purchase order no", "po number", "po no", "po #", "p o number", "p o", "po",
        "order number", "order no", "your order", "your reference", "customer order", "order ref", "order #",
        "bestellnummer", "bestell-nr", "bestellnr", "ihre bestellung", "ihre bestellnummer", "auftragsnummer",
        "auftrags-nr", "auftrag nr", "bon de commande", "n de commande", "numero de commande", "commande n",
        "commande", "votre commande", "pedido", "n de pedido", "numero de pedido", "orden de compra",
        "su pedido", "bestelnummer", "inkoopordernummer", "inkooporder", "ordernummer", "uw bestelling",
        "uw referentie",
     "your order ref", "p o #", "po-nummer", "ihr auftrag", "ref commande", "su referencia", "po ref", "order reference", "n de commande client",),
    "payment_terms": (
        "payment terms", "terms", "terms of payment", "payment conditions", "zahlungsbedingungen",
        "zahlungsbedingung", "zahlungskonditionen", "conditions de paiement", "conditions de reglement",
        "modalites de paiement", "condiciones de pago", "forma de pago", "terminos de pago",
        "betalingsvoorwaarden", "betalingstermijn", "betaalvoorwaarden",
     "plazo de pago", "condiciones",),
    "iban": ("iban",),
    "bic": ("bic", "swift", "bic/swift", "swift/bic", "swift code", "bic code", "bic swift", "swift bic"),
    # --- distractors: their values must not be taken for a field --------------------------
    "_customer_number": (
        "customer no", "customer number", "customer id", "customer #", "account no", "account number",
        "client no", "client number", "kundennummer", "kunden-nr", "kundennr", "kunden nr", "kd-nr", "kd nr",
        "numero client", "n client", "no client", "code client", "numero de cliente", "n de cliente",
        "n cliente", "klantnummer", "klant nr", "klantnr", "debiteurnummer", "debitorennummer",
     "client id", "ref client", "codigo cliente", "cliente n", "codigo de cliente", "klant id",),
    "_order_date": (
        "order date", "date of order", "bestelldatum", "auftragsdatum", "date de commande", "fecha de pedido",
        "fecha pedido", "besteldatum", "orderdatum",
     "ordered", "order placed",),
    "_delivery_date": (
        "delivery date", "date of delivery", "shipping date", "ship date", "service date", "date of service",
        "service period", "performance date", "lieferdatum", "leistungsdatum", "liefertermin", "leistungszeitraum",
        "versanddatum", "date de livraison", "date d expedition", "date de prestation", "fecha de entrega", "fecha de servicio", "fecha de prestacion", "fecha de la prestacion",
        "fecha de envio", "leverdatum", "leveringsdatum", "verzenddatum",
     "date of supply", "afleverdatum", "supply date", "lieferzeitraum", "liefer und leistungsdatum",
     "leistungs und lieferdatum", "liefer und leistungszeitraum",),
    "_phone": ("phone", "tel", "telephone", "fax", "mobile", "mob", "telefon", "telefax", "handy", "tel.",
               "telefono", "movil", "telefoon", "gsm", "fon", "t", "tlf", "tel",),
    "_bank_code": ("blz", "bankleitzahl", "sort code", "routing number", "aba", "bank code", "code banque",
                   "codigo banco", "account", "konto", "kontonummer", "konto-nr", "compte", "cuenta",
                   "rekeningnummer", "rib", "bsb", "code guichet", "codigo de entidad", "bankcode", "routing no", "acct #", "n de compte", "n de cuenta", "entidad",),
    "_email": ("email", "e-mail", "mail", "web", "www", "website", "internet"),
    "_paid": ("paid", "amount paid", "payment received", "deposit", "already paid", "less payment",
              "bereits bezahlt", "anzahlung", "gezahlt", "erhaltene anzahlung", "acompte", "deja paye",
              "montant paye", "pagado", "anticipo", "importe pagado", "betaald", "aanbetaling", "reeds betaald", "less deposit paid", "advance payment", "abzgl anzahlung", "abschlagszahlung", "deja regle", "acompte verse", "acompte recu", "anticipo recibido", "pagado a cuenta", "voldaan", "less paid", "prepaid", "payments credits",),
    # How a till receipt was paid: the cash handed over and the change are not its total.
    "_tender": ("cash", "cash tendered", "tendered", "amount tendered", "change", "change due", "rounding",
                "rounding adjustment", "rounding adj", "ruckgeld", "gegeben", "monnaie rendue", "efectivo",
                "entregado", "cambio", "wisselgeld"),
    "_page": ("page", "seite", "pagina", "blatt", "pag"),
    "_discount": ("discount", "rabatt", "skonto", "remise", "descuento", "korting"),
    "_shipping": ("shipping", "freight", "delivery", "versand", "versandkosten", "fracht", "livraison",
                  "frais de port", "envio", "gastos de envio", "verzending", "verzendkosten"),
    "_carry": ("balance carried forward", "balance brought forward", "carried forward", "brought forward",
               "ubertrag", "zwischensumme ubertrag", "ubertrag von seite", "a reporter", "report",
               "report page precedente", "suma y sigue", "suma anterior", "a trasladar", "transporte",
               "transport", "over te brengen", "overgebracht"),
    "_ship_to": ("ship to", "deliver to", "delivery address", "lieferadresse", "lieferanschrift",
                 "livrer a", "adresse de livraison", "enviar a", "direccion de entrega", "afleveradres",
                 "leveradres"),
}

# Generic labels match weaker than specific ones: a bare "Date" is usually the invoice
# date but not always; a bare "Total" is usually the gross total.
WEAK: dict[str, frozenset[str]] = {
    "invoice_date": frozenset({"date", "datum", "fecha", "dated", "le", "issued"}),
    "invoice_number": frozenset({"invoice", "rechnung", "facture", "factura", "factuur", "credit note", "gutschrift",
                                 "stornorechnung", "rechnungskorrektur", "avoir", "creditnota", "creditfactuur",
                                 "factura rectificativa", "abono", "nota de credito", "receipt", "beleg", "kassenbon",
                                 "recibo", "kassabon", "nr", "no", "number", "numero", "ticket", "transactie",
                                 "transaction"}),
    "customer_name": frozenset({"to", "an", "aan", "client", "customer", "kunde", "cliente", "klant"}),
    "vendor_name": frozenset({"from", "von", "van"}),
    "purchase_order": frozenset({"po", "p o", "commande", "pedido", "your reference"}),
    "vendor_tax_id": frozenset({"tin", "ein", "abn", "nif", "cif", "siret", "kvk"}),
    "total": frozenset({"summe", "gesamt", "brutto", "totaal"}),
    "vat": frozenset({"tax", "steuer"}),
    "amount_due": frozenset({"balance", "saldo", "solde", "a payer"}),
    "amount": frozenset({"net", "netto", "neto"}),
}

TITLE_WORDS = frozenset({"invoice", "tax invoice", "rechnung", "facture", "factura", "factuur",
                         "commercial invoice", "proforma", "credit note", "gutschrift"})

LEGAL_FORMS = re.compile(
    r"(?i)(?<![\w])(dac|clg|sarl-s|sasu|s\.a\.u\.|sau|bvba|sprl|srl|v\.o\.f\.|c\.v\.|e\.v\.|a\.\s?g\.|vvag|s\.c\.|s\.n\.c\.|snc|kgaa|se|gmbh|ag|kg|ohg|ug|e\.?\s?k\.?|gbr|ltd\.?|limited|llc|l\.l\.c\.|inc\.?|corp\.?|corporation|co\.|"
    r"plc|llp|lp|pty|sarl|s\.a\.r\.l\.|s\.\s?[àa]\.?\s?r\.\s?l\.|sàrl|sas|s\.a\.s\.|sa|s\.a\.|eurl|sl|s\.l\.|s\.l\.u\.|slu|sociedad limitada|"
    r"bv|b\.v\.|nv|n\.v\.|vof|gmbh & co\.? kg|srl|s\.r\.l\.|spa|s\.p\.a\.|oy|ab|as|a/s|aps|kft|sp\. z o\.o\.|"
    r"sdn\.?\s?bhd\.?|bhd\.?|berhad|s/b|pte\.?|pvt\.?|p/l)(?![\w])"
)

# Words that join the parts of a name in the five label languages; a name cannot end in one.
CONNECTORS = frozenset("""
    and of the & + - , / und von vom zu zur zum der den des die das et de du la le les l' d'
    y e del los las el van het en op
""".split())


def looks_cut_off(value: object) -> bool:
    """True when a name's last word is a connector (or it ends in one), i.e. its continuation
    on the next line was not read."""
    if not isinstance(value, str) or not value.strip():
        return False
    text = value.strip()
    if text[-1] in ",&+-/(" or text.count("(") > text.count(")"):
        return True  # "… UG (haftungsbeschri": the bracket was never closed
    return text.split()[-1].casefold() in CONNECTORS


def looks_cut_at_start(value: object) -> bool:
    """True when a name opens with a lower-case connecting word ("de Servicios Suministros S.L."
    for "Mediterránea de Servicios Suministros S.L."): its first line was not read. A name that
    begins with such a particle sets it in capitals ("De Vries NV", "Van Dijk N.V.")."""
    if not isinstance(value, str) or not value.strip():
        return False
    first = value.strip().split()[0]
    return first[0] in "&+,-/" or (first.islower() and first.casefold() in CONNECTORS)


# Legal forms as they are spelled; the recognizer confuses l, I, 1 and | in them ("S.à r.I.").
CANONICAL_LEGAL_FORMS = (
    "S.à r.l.", "Sàrl", "S.r.l.", "Srl", "SRL", "S.L.", "S.L.U.", "SL", "SLU", "S.A.", "SA", "S.A.S.", "SAS",
    "SARL", "SARL-S", "GmbH", "AG", "KG", "UG", "e.K.", "Ltd", "Ltd.", "Limited", "LLC", "LLP", "plc", "PLC",
    "Inc.", "Corp.", "Co.", "B.V.", "BV", "N.V.", "NV", "V.O.F.", "BVBA", "S.p.A.", "SpA", "Oy", "AB", "S/B",
)
_GLYPH = str.maketrans({"I": "l", "1": "l", "|": "l", "0": "O"})


# "Sdn Bhd" (Sendirian Berhad) with a look-alike glyph: S read as 5, D as O, I or 0, B as 8.
_SDN_BHD = re.compile(r"(?i)(?<![\w])[s5][doi0]n(\.?\s*)[b8]hd(\.?)$")


def fix_legal_form_glyphs(name: str) -> str:
    """Restore a legal form at the end of a company name that the recognizer misread with a
    look-alike glyph ("Dupont S.à r.I." -> "Dupont S.à r.l.", "Broadview Marketing 5dn Bhd" ->
    "... Sdn Bhd"); anything else is unchanged."""
    m = _SDN_BHD.search(name)
    if m is not None and not re.fullmatch(r"(?i)sdn\.?\s*bhd\.?", m.group(0)):
        upper = m.group(0)[-3:].isupper()
        return name[:m.start()] + ("SDN" if upper else "Sdn") + m.group(1) + ("BHD" if upper else "Bhd") + m.group(2)
    words = name.split()
    for k in (2, 1):
        if len(words) <= k:
            continue
        tail = " ".join(words[-k:])
        if tail in CANONICAL_LEGAL_FORMS:
            return name
        key = tail.translate(_GLYPH)
        if "/" in tail:
            key = key.replace("5", "S")  # "99 SPEED MART 5/B": S read as 5 in "S/B" (Sendirian Berhad)
        for form in CANONICAL_LEGAL_FORMS:
            if form.count(" ") == k - 1 and form != tail and form.translate(_GLYPH) == key:
                return " ".join(words[:-k] + [form])
    return name


# Word shapes that the language always writes with a diacritic: seen without one in a name
# read by OCR, the recognizer most likely dropped it ("Logistica" for "Logística"). Used only
# to doubt a value, never to change it.
_ACCENT_DROPPED = {
    "es": re.compile(r"(?i)^(?:\w{2,}(?:cion|sion)|\w*(?:istic|atic|onic|ific|ograf|olog)(?:o|a|os|as)|"
                     r"\w*ologias?|ingenieria|consultoria|asesoria|compania|ferreteria|panaderia|carpinteria|"
                     r"tecnica|tecnico|mediterranea|catalogo|credito|energia|garcia|martinez|gonzalez|"
                     r"rodriguez|fernandez|lopez|sanchez|perez|gomez|diaz|jimenez|hernandez|alvarez|ramirez|"
                     r"dominguez|vazquez|velazquez|nunez|munoz)$"),
    "fr": re.compile(r"(?i)^(?:\w*iete|ingenier\w*|electri\w*|energ\w*|telecom\w*|equipe\w*|etude\w*|reseau\w*|"
                     r"genera\w+|developpe\w*|creation\w*|securite|qualite|activite|immobiliere|lumiere|"
                     r"chene|foret|batiment\w*|hotel\w*|cafe|frere\w*|freres|prevention|medical\w*|"
                     r"numerique|strategie|cooperative|metier\w*|specialise\w*|regie|regional\w*|riviere)$"),
    "de": re.compile(r"(?i)^(?:\w*losung(?:en)?|buro\w*|gerat\w*|mobel\w*|bruder|sohne|muller|schafer|"
                     r"gartner\w*|backerei|kuche\w*|warme\w*|planungsburo|fur|uber|grun\w*|haftungsbeschrankt)$"),
    "nl": re.compile(r"(?i)^(?:cooperatie\w*|een)$"),
}


def accent_dropped(text: object, language: str | None) -> bool:
    """True when a word of `text` is spelled without a diacritic that `language` always
    writes in it."""
    rule = _ACCENT_DROPPED.get(language or "")
    if rule is None or not isinstance(text, str):
        return False
    return any(rule.match(w) for w in re.findall(r"[^\W\d_]+", text) if w.isascii() and len(w) >= 3)


_DROPPED_LETTER = re.compile(r"(?<=\w)\.\.(?!\.)")  # "MR. D.I.. (M)": a letter between two dots lost


def misread_glyphs(text: object) -> bool:
    """True when a name read by OCR has a shape that a company's name never has and a misread
    letter often gives: a first word in lower case before capitalised words ("perbang Alaf
    Restaurants Sdn Bhd", "buardian Health And Beauty": the initial G read as p or b), or two dots
    with a letter lost between them ("MR. D.I.. (M) SDN BHD"). A lower-case particle ("de Vries
    B.V.", "van Dijk") and a brand's inner capital ("easyJet", "eBay") are names as printed. Used
    only to doubt a value, never to change it."""
    if not isinstance(text, str):
        return False
    words = re.findall(r"[^\W\d_][\w'’&.-]*", text)
    if len(words) >= 2:
        first = words[0]
        if first[0].islower() and first.islower() and first.casefold() not in CONNECTORS \
                and all(w[0].isupper() for w in words[1:] if w.casefold() not in CONNECTORS):
            return True
    return bool(_DROPPED_LETTER.search(text))


LANGUAGE_HINTS: dict[str, tuple[str, ...]] = {
    "de": ("rechnung", "datum", "betrag", "mwst", "netto", "brutto", "menge", "summe", "zahlbar", "bankverbindung",
           "kundennummer", "ust", "gesamt", "einzelpreis", "bezeichnung"),
    "fr": ("facture", "montant", "tva", "quantite", "total ht", "ttc", "echeance", "prix unitaire", "designation",
           "date de", "paiement", "client"),
    "es": ("factura", "fecha", "importe", "iva", "cantidad", "precio", "vencimiento", "cliente", "descripcion",
           "base imponible", "pago"),
    "nl": ("factuur", "datum", "bedrag", "btw", "aantal", "omschrijving", "totaal", "vervaldatum", "prijs",
           "betaling", "klant"),
    "en": ("invoice", "date", "amount", "vat", "tax", "quantity", "qty", "description", "total", "due",
           "unit price", "subtotal", "bill to", "payment"),
}


@lru_cache(maxsize=65536)
def norm(text: str) -> str:
    """Lower-case, accents stripped, punctuation other than # / - & to spaces, collapsed.
    Cached per process: the same words and lines are normalized again and again (table
    headers word by word, labels, party blocks)."""
    t = text.replace("º", " ").replace("°", " ")
    t = unicodedata.normalize("NFKD", t)
    t = "".join(c for c in t if not unicodedata.combining(c)).lower()
    t = t.replace("ß", "ss").replace("°", " ").replace("º", " ")
    t = re.sub(r"[^\w#/&%\- ]", " ", t)
    t = re.sub(r"-(?!(?<=\w-)\w)", " ", t)
    return re.sub(r"\s+", " ", t).strip()


# phrase (normalized) -> list of keys; compiled once
_PHRASES: list[tuple[tuple[str, ...], str]] = sorted(
    ((tuple(norm(p).split()), key) for key, phrases in LABELS.items() for p in phrases if norm(p)),
    key=lambda pk: -len(" ".join(pk[0])),
)


@dataclass(frozen=True)
class _Phrase:
    order: int  # its place in _PHRASES: the first of equals wins, as in a scan of that list
    key: str
    text: str  # the words joined by one space
    n: int  # number of words
    strength: float  # of an exact match


def _index_phrases() -> tuple[dict[tuple[str, ...], list[_Phrase]], dict[int, list[_Phrase]]]:
    exact: dict[tuple[str, ...], list[_Phrase]] = {}
    fuzzy: dict[int, list[_Phrase]] = {}
    for order, (phrase, key) in enumerate(_PHRASES):
        text = " ".join(phrase)
        entry = _Phrase(order, key, text, len(phrase), 0.75 if text in WEAK.get(key, ()) else 1.0)
        exact.setdefault(phrase, []).append(entry)
        if len(text) >= 7:  # shorter labels must be read exactly
            fuzzy.setdefault(len(phrase), []).append(entry)
    return exact, fuzzy


# Exact look-up by the words themselves; fuzzy candidates grouped by word count, so one
# rapidfuzz call per word count compares a line's first words with every label at once
# (a Python loop over the 690 phrases per call was a third of the local provider's time).
_EXACT, _FUZZY = _index_phrases()
_FUZZY_TEXTS: dict[int, list[str]] = {n: [p.text for p in ps] for n, ps in _FUZZY.items()}
_MAX_WORDS = max((len(p) for p, _ in _PHRASES), default=0)


@lru_cache(maxsize=65536)
def match_label(text: str, fuzzy: bool = True) -> tuple[str, float, int] | None:
    """The longest label that `text` starts with: (key, strength, number of words used).

    Fuzzy matching (rapidfuzz) forgives an OCR slip in labels of 6+ letters. A pure function
    of its arguments, asked again and again for the same line texts (every suffix of every
    line of a page, the same labels on every invoice of a layout): cached per process, which
    took the local provider's time per born-digital invoice from about 250 ms to 100 ms.

    Exact matches win over fuzzy ones; among exact matches the longest label, then the
    stronger, then the first listed; among fuzzy ones (ratio >= 88) the longest label, then
    the first listed.
    """
    words = norm(text).split()
    if not words:
        return None
    top = min(len(words), _MAX_WORDS)
    for n in range(top, 0, -1):  # more words make a longer label
        hits = _EXACT.get(tuple(words[:n]))
        if hits:
            best = max(hits, key=lambda p: (p.strength, -p.order))
            return best.key, best.strength, n
    if not fuzzy:
        return None
    from rapidfuzz import fuzz, process

    found: _Phrase | None = None
    score = 0.0
    for n in range(1, top + 1):
        choices = _FUZZY_TEXTS.get(n)
        if not choices:
            continue
        cand = " ".join(words[:n])
        for _text, r, index in process.extract(cand, choices, scorer=fuzz.ratio, score_cutoff=88, limit=None):
            p = _FUZZY[n][index]
            if found is None or (len(p.text), -p.order) > (len(found.text), -found.order):
                found, score = p, r
    return (found.key, 0.85 * score / 100, found.n) if found is not None else None


def detect_language(text: str) -> str:
    t = norm(text)
    scores = {lang: sum(1 for h in hints if re.search(rf"\b{re.escape(h)}\b", t))
              for lang, hints in LANGUAGE_HINTS.items()}
    return max(scores, key=lambda k: (scores[k], k == "en"))
