"""Language vocabularies and country conventions: labels as real invoices print them,
month names, number and date formats, VAT rates, names and addresses.

Each label key holds several real-world synonyms; an invoice picks one per key so the
corpus does not teach a model one fixed wording."""
from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

LANGUAGES: tuple[str, ...] = ("en", "de", "fr", "es", "nl")

MONTHS = {
    "en": ["January", "February", "March", "April", "May", "June", "July", "August", "September",
           "October", "November", "December"],
    "de": ["Januar", "Februar", "März", "April", "Mai", "Juni", "Juli", "August", "September",
           "Oktober", "November", "Dezember"],
    "fr": ["janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre",
           "octobre", "novembre", "décembre"],
    "es": ["enero", "febrero", "marzo", "abril", "mayo", "junio", "julio", "agosto", "septiembre",
           "octubre", "noviembre", "diciembre"],
    "nl": ["januari", "februari", "maart", "april", "mei", "juni", "juli", "augustus", "september",
           "oktober", "november", "december"],
}
MONTHS_SHORT = {
    "en": ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"],
    "de": ["Jan.", "Feb.", "März", "Apr.", "Mai", "Juni", "Juli", "Aug.", "Sep.", "Okt.", "Nov.", "Dez."],
    "fr": ["janv.", "févr.", "mars", "avr.", "mai", "juin", "juil.", "août", "sept.", "oct.", "nov.", "déc."],
    "es": ["ene.", "feb.", "mar.", "abr.", "may.", "jun.", "jul.", "ago.", "sept.", "oct.", "nov.", "dic."],
    "nl": ["jan.", "feb.", "mrt.", "apr.", "mei", "jun.", "jul.", "aug.", "sep.", "okt.", "nov.", "dec."],
}

# label key -> synonyms. `{rate}` is filled with the formatted tax rate.
LABELS: dict[str, dict[str, list[str]]] = {
    "en": {
        "title": ["INVOICE", "Invoice", "TAX INVOICE", "Sales Invoice"],
        "invoice_number": ["Invoice No.", "Invoice #", "Invoice Number", "Inv. No."],
        "invoice_date": ["Invoice Date", "Date", "Date of Issue", "Issue Date"],
        "due_date": ["Due Date", "Payment Due", "Due"],
        "purchase_order": ["PO Number", "Purchase Order", "Your Order Ref.", "P.O. #"],
        "customer_number": ["Customer No.", "Account No.", "Client ID"],
        "order_date": ["Order Date", "Ordered"],
        "delivery_date": ["Delivery Date", "Ship Date", "Date of Supply"],
        "bill_to": ["Bill To", "Invoice To", "Billed To", "Customer"],
        "from": ["From", "Supplier", "Seller"],
        "subtotal": ["Subtotal", "Net Amount", "Total excl. VAT", "Net Total"],
        "vat": ["VAT {rate}", "VAT @ {rate}", "Tax ({rate})"],
        "vat_us": ["Sales Tax ({rate})", "Tax ({rate})", "Sales Tax @ {rate}"],
        "total": ["Total", "Grand Total", "Invoice Total", "Total incl. VAT"],
        "total_us": ["Total", "Grand Total", "Invoice Total"],
        "subtotal_us": ["Subtotal", "Sub-total", "Net Total"],
        "tax_us": ["Tax", "Tax %", "Tax Rate"],
        "prepaid": ["Less: Deposit Paid", "Payment Received", "Advance Payment"],
        "amount_due": ["Amount Due", "Balance Due", "Amount Payable"],
        "payment_terms": ["Payment Terms", "Terms"],
        "terms_days": ["Net {days}", "{days} days net", "Payable within {days} days", "Net {days} days"],
        "vat_id": ["VAT No.", "VAT Reg. No.", "VAT ID"],
        "vat_id_us": ["EIN", "Tax ID", "Federal Tax ID"],
        "tax_id_customer": ["Customer VAT No.", "Your VAT ID"],
        "phone": ["Tel.", "Phone", "T"],
        "email": ["Email", "E-mail"],
        "bank": ["Bank", "Bank Name"],
        "bank_details": ["Bank Details", "Payment Details", "Remittance Information"],
        "iban": ["IBAN"], "bic": ["BIC", "SWIFT", "SWIFT/BIC"],
        "bank_code": ["Sort Code", "Bank Code"], "routing": ["Routing No. (ABA)", "ABA"],
        "account_no": ["Account No.", "Acct #"],
        "page": ["Page {p} of {n}", "Page {p}/{n}"],
        "continued": ["Continued on next page", "continued ..."],
        "carried": ["Carried forward", "Balance carried forward"],
        "brought": ["Brought forward", "Balance brought forward"],
        "pos": ["#", "Item", "No."], "code": ["SKU", "Item Code", "Part No."],
        "description": ["Description", "Item Description", "Service", "Details"],
        "qty": ["Qty", "Quantity", "Units"], "unit": ["Unit", "UoM"],
        "unit_price": ["Unit Price", "Rate", "Price", "Unit Cost"],
        "tax": ["VAT %", "Tax", "VAT"], "amount": ["Amount", "Line Total", "Total", "Net"],
        "amounts_in": ["All amounts in {cur}", "Currency: {cur}"],
        "thanks": ["Thank you for your business.", "We appreciate your prompt payment."],
        "pay_sentence": ["Please pay {total} by {due} to the account below, quoting {number}.",
                         "Please transfer {total} to IBAN {iban} quoting invoice {number}."],
        "attn": ["Attn:", "Attention:", "FAO"],
    },
    "de": {
        "title": ["RECHNUNG", "Rechnung"],
        "invoice_number": ["Rechnungsnummer", "Rechnungs-Nr.", "Rechnung Nr.", "Re.-Nr."],
        "invoice_date": ["Rechnungsdatum", "Datum", "Leistungs- und Rechnungsdatum"],
        "due_date": ["Fällig am", "Fälligkeitsdatum", "Zahlbar bis"],
        "purchase_order": ["Bestellnummer", "Ihre Bestellung", "Bestell-Nr.", "Ihr Auftrag"],
        "customer_number": ["Kundennummer", "Kunden-Nr.", "Kd.-Nr."],
        "order_date": ["Bestelldatum", "Auftragsdatum"],
        "delivery_date": ["Lieferdatum", "Leistungsdatum", "Liefertermin"],
        "bill_to": ["Rechnungsempfänger", "Rechnung an", "Kunde"],
        "from": ["Rechnungssteller", "Absender", "Von"],
        "subtotal": ["Zwischensumme", "Nettobetrag", "Summe netto", "Gesamt netto"],
        "vat": ["MwSt. {rate}", "zzgl. {rate} USt.", "Umsatzsteuer {rate}", "USt. {rate}"],
        "total": ["Gesamtbetrag", "Rechnungsbetrag", "Gesamt brutto", "Endbetrag"],
        "prepaid": ["abzgl. Anzahlung", "Bereits bezahlt", "Abschlagszahlung"],
        "amount_due": ["Zahlbetrag", "Offener Betrag", "Noch zu zahlen"],
        "payment_terms": ["Zahlungsbedingungen", "Zahlungsziel"],
        "terms_days": ["{days} Tage netto", "Zahlbar innerhalb {days} Tagen", "{days} Tage ohne Abzug"],
        "vat_id": ["USt-IdNr.", "USt-ID", "UID-Nr."],
        "tax_id_customer": ["Ihre USt-IdNr.", "USt-IdNr. Kunde"],
        "phone": ["Tel.", "Telefon", "Fon"],
        "email": ["E-Mail", "Mail"],
        "bank": ["Bank", "Kreditinstitut", "Bankverbindung"],
        "bank_details": ["Bankverbindung", "Zahlungsinformationen"],
        "iban": ["IBAN"], "bic": ["BIC", "SWIFT-BIC"],
        "bank_code": ["BLZ", "Bankleitzahl"], "account_no": ["Konto-Nr.", "Kontonummer"],
        "page": ["Seite {p} von {n}", "Seite {p}/{n}"],
        "continued": ["Fortsetzung auf der nächsten Seite", "Fortsetzung folgt"],
        "carried": ["Übertrag", "Zwischensumme Übertrag"],
        "brought": ["Übertrag", "Übertrag von Seite {prev}"],
        "pos": ["Pos.", "Pos", "Nr."], "code": ["Art.-Nr.", "Artikelnr."],
        "description": ["Bezeichnung", "Beschreibung", "Leistung", "Artikel"],
        "qty": ["Menge", "Anz.", "Anzahl"], "unit": ["Einheit", "ME"],
        "unit_price": ["Einzelpreis", "E-Preis", "Preis/Einheit"],
        "tax": ["MwSt.", "USt. %", "MwSt. %"], "amount": ["Gesamtpreis", "Betrag", "Gesamt", "Summe"],
        "amounts_in": ["Alle Beträge in {cur}", "Währung: {cur}"],
        "thanks": ["Vielen Dank für Ihren Auftrag!", "Wir danken für Ihr Vertrauen."],
        "pay_sentence": ["Bitte überweisen Sie {total} bis zum {due} unter Angabe der Rechnungsnummer {number}.",
                         "Bitte zahlen Sie den Betrag von {total} auf das unten genannte Konto (IBAN {iban})."],
        "attn": ["z. Hd.", "z.Hd."],
    },
    "fr": {
        "title": ["FACTURE", "Facture"],
        "invoice_number": ["Facture n°", "N° de facture", "Numéro de facture", "Facture N°"],
        "invoice_date": ["Date de facture", "Date", "Date d'émission", "Date de facturation"],
        "due_date": ["Date d'échéance", "Échéance", "À payer avant le"],
        "purchase_order": ["Bon de commande", "Réf. commande", "N° de commande client", "Votre commande"],
        "customer_number": ["N° client", "Code client", "Réf. client"],
        "order_date": ["Date de commande"],
        "delivery_date": ["Date de livraison", "Date de prestation"],
        "bill_to": ["Facturé à", "Client", "Adresse de facturation", "Destinataire"],
        "from": ["Émetteur", "Fournisseur", "Vendeur"],
        "subtotal": ["Total HT", "Montant HT", "Sous-total HT", "Total hors taxes"],
        "vat": ["TVA {rate}", "TVA à {rate}", "Montant TVA ({rate})"],
        "total": ["Total TTC", "Montant TTC", "Net à payer TTC", "Total toutes taxes comprises"],
        "prepaid": ["Acompte versé", "Déjà réglé", "Acompte reçu"],
        "amount_due": ["Reste à payer", "Net à payer", "Solde dû"],
        "payment_terms": ["Conditions de paiement", "Conditions de règlement", "Modalités de paiement"],
        "terms_days": ["{days} jours net", "Paiement à {days} jours", "À {days} jours date de facture"],
        "vat_id": ["N° TVA intracommunautaire", "TVA intracom.", "N° TVA"],
        "tax_id_customer": ["N° TVA client", "Votre N° TVA"],
        "phone": ["Tél.", "Téléphone", "Tél"],
        "email": ["E-mail", "Courriel"],
        "bank": ["Banque", "Domiciliation"],
        "bank_details": ["Coordonnées bancaires", "Règlement par virement", "RIB"],
        "iban": ["IBAN"], "bic": ["BIC", "Code BIC", "SWIFT"],
        "bank_code": ["Code banque", "Code guichet"], "account_no": ["N° de compte"],
        "page": ["Page {p} sur {n}", "Page {p}/{n}"],
        "continued": ["Suite page suivante", "À suivre"],
        "carried": ["À reporter", "Report"],
        "brought": ["Report", "Report page précédente"],
        "pos": ["N°", "Réf.", "#"], "code": ["Référence", "Réf. article"],
        "description": ["Désignation", "Description", "Libellé", "Prestation"],
        "qty": ["Qté", "Quantité"], "unit": ["Unité", "U."],
        "unit_price": ["Prix unitaire HT", "P.U. HT", "Prix unit."],
        "tax": ["TVA", "Taux TVA", "TVA %"], "amount": ["Montant HT", "Total HT", "Montant"],
        "amounts_in": ["Montants exprimés en {cur}", "Devise : {cur}"],
        "thanks": ["Merci de votre confiance.", "Nous vous remercions de votre commande."],
        "pay_sentence": ["Merci de régler la somme de {total} avant le {due} en indiquant la référence {number}.",
                         "Paiement par virement sur le compte IBAN {iban}."],
        "attn": ["À l'attention de", "Attn :"],
    },
    "es": {
        "title": ["FACTURA", "Factura"],
        "invoice_number": ["Nº de factura", "Factura nº", "Número de factura", "Factura N.º"],
        "invoice_date": ["Fecha de factura", "Fecha", "Fecha de emisión", "Fecha factura"],
        "due_date": ["Fecha de vencimiento", "Vencimiento", "Fecha de pago"],
        "purchase_order": ["Nº de pedido", "Pedido", "Su referencia", "Orden de compra"],
        "customer_number": ["Nº de cliente", "Código cliente", "Cliente nº"],
        "order_date": ["Fecha de pedido"],
        "delivery_date": ["Fecha de entrega", "Fecha de servicio"],
        "bill_to": ["Facturar a", "Cliente", "Datos del cliente"],
        "from": ["Emisor", "Proveedor", "Datos del emisor"],
        "subtotal": ["Base imponible", "Subtotal", "Importe neto", "Total sin IVA"],
        "vat": ["IVA {rate}", "IVA ({rate})", "Cuota IVA {rate}"],
        "total": ["Total", "Total factura", "Importe total", "Total con IVA"],
        "prepaid": ["Anticipo recibido", "Pagado a cuenta", "Anticipo"],
        "amount_due": ["Total a pagar", "Importe pendiente", "Saldo pendiente"],
        "payment_terms": ["Condiciones de pago", "Forma de pago", "Plazo de pago"],
        "terms_days": ["{days} días", "Pago a {days} días", "Transferencia a {days} días"],
        "vat_id": ["NIF", "CIF", "NIF-IVA"],
        "tax_id_customer": ["NIF cliente", "CIF cliente"],
        "phone": ["Tel.", "Teléfono", "Tlf."],
        "email": ["Email", "Correo"],
        "bank": ["Banco", "Entidad"],
        "bank_details": ["Datos bancarios", "Pago por transferencia"],
        "iban": ["IBAN"], "bic": ["BIC", "SWIFT", "BIC/SWIFT"],
        "bank_code": ["Entidad", "Código de entidad"], "account_no": ["Nº de cuenta"],
        "page": ["Página {p} de {n}", "Pág. {p}/{n}"],
        "continued": ["Continúa en la página siguiente", "Sigue ..."],
        "carried": ["Suma y sigue", "A trasladar"],
        "brought": ["Suma anterior", "Transporte"],
        "pos": ["Nº", "Lín.", "#"], "code": ["Código", "Ref."],
        "description": ["Descripción", "Concepto", "Artículo", "Detalle"],
        "qty": ["Cant.", "Cantidad", "Uds."], "unit": ["Unidad", "Ud."],
        "unit_price": ["Precio unitario", "Precio", "P. unit."],
        "tax": ["IVA", "% IVA", "IVA %"], "amount": ["Importe", "Total", "Subtotal"],
        "amounts_in": ["Importes en {cur}", "Moneda: {cur}"],
        "thanks": ["Gracias por su confianza.", "Gracias por su pedido."],
        "pay_sentence": ["Rogamos abonen {total} antes del {due} indicando la factura {number}.",
                         "Pago por transferencia a la cuenta IBAN {iban}."],
        "attn": ["A/A:", "Att.:"],
    },
    "nl": {
        "title": ["FACTUUR", "Factuur"],
        "invoice_number": ["Factuurnummer", "Factuurnr.", "Factuur nr.", "Nummer"],
        "invoice_date": ["Factuurdatum", "Datum", "Datum factuur"],
        "due_date": ["Vervaldatum", "Uiterste betaaldatum", "Te betalen voor"],
        "purchase_order": ["Ordernummer", "Uw referentie", "Inkoopordernummer", "PO-nummer"],
        "customer_number": ["Klantnummer", "Klantnr.", "Debiteurnummer"],
        "order_date": ["Orderdatum", "Besteldatum"],
        "delivery_date": ["Leverdatum", "Afleverdatum"],
        "bill_to": ["Factuuradres", "Aan", "Klant", "Gefactureerd aan"],
        "from": ["Van", "Leverancier", "Afzender"],
        "subtotal": ["Subtotaal", "Totaal excl. btw", "Netto bedrag", "Totaal exclusief btw"],
        "vat": ["btw {rate}", "BTW {rate}", "Btw ({rate})"],
        "total": ["Totaal", "Totaal incl. btw", "Totaalbedrag"],
        "prepaid": ["Reeds betaald", "Aanbetaling", "Voldaan"],
        "amount_due": ["Te betalen", "Openstaand bedrag", "Nog te betalen"],
        "payment_terms": ["Betalingsvoorwaarden", "Betalingstermijn"],
        "terms_days": ["{days} dagen netto", "Betaling binnen {days} dagen", "{days} dagen na factuurdatum"],
        "vat_id": ["Btw-nummer", "BTW-nr.", "Btw-id"],
        "tax_id_customer": ["Uw btw-nummer", "Btw-nummer klant"],
        "phone": ["Tel.", "Telefoon", "T"],
        "email": ["E-mail", "Mail"],
        "bank": ["Bank", "Bankrelatie"],
        "bank_details": ["Bankgegevens", "Betaalgegevens"],
        "iban": ["IBAN"], "bic": ["BIC", "SWIFT"],
        "bank_code": ["Bankcode"], "account_no": ["Rekeningnummer"],
        "page": ["Pagina {p} van {n}", "Blad {p}/{n}"],
        "continued": ["Vervolg op volgende pagina", "Zie volgende pagina"],
        "carried": ["Transport", "Over te brengen"],
        "brought": ["Transport", "Overgebracht"],
        "pos": ["Nr.", "#", "Regel"], "code": ["Artikelnr.", "Code"],
        "description": ["Omschrijving", "Beschrijving", "Artikel", "Dienst"],
        "qty": ["Aantal", "Aant."], "unit": ["Eenheid", "Eenh."],
        "unit_price": ["Prijs per stuk", "Stukprijs", "Tarief", "Prijs"],
        "tax": ["Btw", "Btw %", "BTW"], "amount": ["Bedrag", "Totaal", "Regeltotaal"],
        "amounts_in": ["Bedragen in {cur}", "Valuta: {cur}"],
        "thanks": ["Bedankt voor uw opdracht.", "Wij danken u voor uw bestelling."],
        "pay_sentence": ["Gelieve {total} voor {due} over te maken onder vermelding van {number}.",
                         "Graag betaling op IBAN {iban} o.v.v. het factuurnummer."],
        "attn": ["T.a.v.", "t.a.v."],
    },
}

ITEMS: dict[str, list[tuple[str, str, tuple[int, int]]]] = {
    # (description, unit, (min, max) unit price in whole currency units)
    "en": [("Consulting services", "h", (80, 220)), ("Software licence (annual)", "pcs", (300, 2400)),
           ("Ergonomic office chair", "pcs", (120, 650)), ("Printer toner, black", "pcs", (25, 120)),
           ("Website maintenance", "month", (150, 900)), ("Cloud hosting - Pro plan", "month", (40, 400)),
           ("On-site installation", "h", (60, 140)), ("Travel expenses", "lump sum", (50, 600)),
           ("Training workshop (1 day)", "day", (600, 1800)), ("USB-C docking station", "pcs", (90, 260)),
           ("Project management", "h", (70, 160)), ("A4 copy paper, 500 sheets", "box", (4, 12)),
           ("Delivery and handling", "lump sum", (10, 80)), ("Network switch 24-port", "pcs", (180, 900)),
           ("Graphic design", "h", (55, 130)), ("Annual support contract", "year", (500, 5000)),
           ("Laptop stand, aluminium", "pcs", (25, 90)), ("Data migration", "day", (500, 1400))],
    "de": [("Beratungsleistung", "Std.", (80, 220)), ("Softwarelizenz (jährlich)", "Stk.", (300, 2400)),
           ("Bürostuhl ergonomisch", "Stk.", (120, 650)), ("Toner schwarz", "Stk.", (25, 120)),
           ("Wartung Website", "Monat", (150, 900)), ("Cloud-Hosting Paket Pro", "Monat", (40, 400)),
           ("Montage vor Ort", "Std.", (60, 140)), ("Reisekosten", "pausch.", (50, 600)),
           ("Schulung (1 Tag)", "Tag", (600, 1800)), ("Dockingstation USB-C", "Stk.", (90, 260)),
           ("Projektleitung", "Std.", (70, 160)), ("Kopierpapier A4, 500 Blatt", "Pck.", (4, 12)),
           ("Versandkosten", "pausch.", (10, 80)), ("Netzwerk-Switch 24 Port", "Stk.", (180, 900)),
           ("Grafikdesign", "Std.", (55, 130)), ("Wartungsvertrag jährlich", "Jahr", (500, 5000)),
           ("Laptopständer Aluminium", "Stk.", (25, 90)), ("Datenmigration", "Tag", (500, 1400))],
    "fr": [("Prestation de conseil", "h", (80, 220)), ("Licence logicielle (annuelle)", "u", (300, 2400)),
           ("Fauteuil de bureau ergonomique", "u", (120, 650)), ("Toner noir", "u", (25, 120)),
           ("Maintenance du site web", "mois", (150, 900)), ("Hébergement cloud - offre Pro", "mois", (40, 400)),
           ("Installation sur site", "h", (60, 140)), ("Frais de déplacement", "forfait", (50, 600)),
           ("Formation (1 jour)", "jour", (600, 1800)), ("Station d'accueil USB-C", "u", (90, 260)),
           ("Gestion de projet", "h", (70, 160)), ("Ramette papier A4, 500 feuilles", "u", (4, 12)),
           ("Frais de port", "forfait", (10, 80)), ("Commutateur réseau 24 ports", "u", (180, 900)),
           ("Création graphique", "h", (55, 130)), ("Contrat de maintenance annuel", "an", (500, 5000)),
           ("Support ordinateur portable", "u", (25, 90)), ("Migration de données", "jour", (500, 1400))],
    "es": [("Servicios de consultoría", "h", (80, 220)), ("Licencia de software (anual)", "ud.", (300, 2400)),
           ("Silla de oficina ergonómica", "ud.", (120, 650)), ("Tóner negro", "ud.", (25, 120)),
           ("Mantenimiento web", "mes", (150, 900)), ("Alojamiento en la nube - plan Pro", "mes", (40, 400)),
           ("Instalación in situ", "h", (60, 140)), ("Gastos de desplazamiento", "global", (50, 600)),
           ("Curso de formación (1 día)", "día", (600, 1800)), ("Base de conexión USB-C", "ud.", (90, 260)),
           ("Gestión de proyecto", "h", (70, 160)), ("Papel A4, paquete 500 hojas", "paq.", (4, 12)),
           ("Gastos de envío", "global", (10, 80)), ("Switch de red 24 puertos", "ud.", (180, 900)),
           ("Diseño gráfico", "h", (55, 130)), ("Contrato de mantenimiento anual", "año", (500, 5000)),
           ("Soporte para portátil", "ud.", (25, 90)), ("Migración de datos", "día", (500, 1400))],
    "nl": [("Advieswerkzaamheden", "uur", (80, 220)), ("Softwarelicentie (jaarlijks)", "st.", (300, 2400)),
           ("Ergonomische bureaustoel", "st.", (120, 650)), ("Toner zwart", "st.", (25, 120)),
           ("Onderhoud website", "maand", (150, 900)), ("Cloudhosting - Pro pakket", "maand", (40, 400)),
           ("Installatie op locatie", "uur", (60, 140)), ("Reiskosten", "vast", (50, 600)),
           ("Training (1 dag)", "dag", (600, 1800)), ("USB-C dockingstation", "st.", (90, 260)),
           ("Projectmanagement", "uur", (70, 160)), ("Kopieerpapier A4, 500 vel", "pak", (4, 12)),
           ("Verzendkosten", "vast", (10, 80)), ("Netwerkswitch 24 poorten", "st.", (180, 900)),
           ("Grafisch ontwerp", "uur", (55, 130)), ("Onderhoudscontract jaarlijks", "jaar", (500, 5000)),
           ("Laptopstandaard aluminium", "st.", (25, 90)), ("Datamigratie", "dag", (500, 1400))],
}


@dataclass(frozen=True)
class Country:
    code: str
    name: dict[str, str]  # country name by language, printed in foreign addresses
    currency: str
    vat_rates: tuple[Decimal, ...]  # first is the standard rate
    date_numeric: tuple[str, ...]  # strftime formats, country's usual numeric order
    number_styles: tuple[str, ...]  # see formatting.format_number
    page_size: str = "A4"
    streets: tuple[str, ...] = ()
    cities: tuple[tuple[str, str], ...] = ()  # (postcode, city)
    street_number_first: bool = False
    legal_forms: tuple[str, ...] = ()


COUNTRIES: dict[str, Country] = {
    "GB": Country("GB", {"en": "United Kingdom", "de": "Vereinigtes Königreich", "fr": "Royaume-Uni",
                         "es": "Reino Unido", "nl": "Verenigd Koninkrijk"}, "GBP",
                  (Decimal("20"), Decimal("5")), ("%d/%m/%Y",), ("en",),
                  streets=("High Street", "Station Road", "Church Lane", "Victoria Road", "Mill Lane", "King Street"),
                  cities=(("SW1A 2AA", "London"), ("M1 1AE", "Manchester"), ("B2 4QA", "Birmingham"),
                          ("LS1 4AP", "Leeds"), ("BS1 5TR", "Bristol"), ("EH1 1YZ", "Edinburgh")),
                  street_number_first=True, legal_forms=("Ltd", "Limited", "LLP", "plc")),
    "US": Country("US", {"en": "USA", "de": "USA", "fr": "États-Unis", "es": "EE. UU.", "nl": "VS"}, "USD",
                  (Decimal("8.875"), Decimal("7.25"), Decimal("6")), ("%m/%d/%Y",), ("en",), page_size="letter",
                  streets=("Market Street", "Main Street", "Oak Avenue", "Broadway", "Elm Street", "5th Avenue"),
                  cities=(("CA 94103", "San Francisco"), ("NY 10001", "New York"), ("IL 60601", "Chicago"),
                          ("TX 78701", "Austin"), ("WA 98101", "Seattle"), ("MA 02110", "Boston")),
                  street_number_first=True, legal_forms=("Inc.", "LLC", "Corp.", "Co.")),
    "IE": Country("IE", {"en": "Ireland", "de": "Irland", "fr": "Irlande", "es": "Irlanda", "nl": "Ierland"}, "EUR",
                  (Decimal("23"), Decimal("13.5")), ("%d/%m/%Y",), ("en",),
                  streets=("Grafton Street", "Main Street", "O'Connell Street", "Dame Street"),
                  cities=(("D02 XY45", "Dublin 2"), ("T12 K8AF", "Cork"), ("H91 E2K3", "Galway")),
                  street_number_first=True, legal_forms=("Ltd", "Limited", "DAC")),
    "DE": Country("DE", {"en": "Germany", "de": "Deutschland", "fr": "Allemagne", "es": "Alemania",
                         "nl": "Duitsland"}, "EUR", (Decimal("19"), Decimal("7")), ("%d.%m.%Y", "%d.%m.%y"), ("de", "de_plain"),
                  streets=("Hauptstraße", "Bahnhofstraße", "Goethestraße", "Industriestraße", "Lindenallee",
                           "Am Markt", "Schillerweg"),
                  cities=(("10115", "Berlin"), ("80331", "München"), ("20095", "Hamburg"), ("50667", "Köln"),
                          ("60311", "Frankfurt am Main"), ("70173", "Stuttgart"), ("04109", "Leipzig")),
                  legal_forms=("GmbH", "AG", "GmbH & Co. KG", "KG", "e.K.", "UG (haftungsbeschränkt)")),
    "AT": Country("AT", {"en": "Austria", "de": "Österreich", "fr": "Autriche", "es": "Austria", "nl": "Oostenrijk"},
                  "EUR", (Decimal("20"), Decimal("10")), ("%d.%m.%Y",), ("de",),
                  streets=("Mariahilfer Straße", "Landstraße", "Herrengasse", "Kärntner Straße"),
                  cities=(("1060", "Wien"), ("8010", "Graz"), ("4020", "Linz"), ("5020", "Salzburg")),
                  legal_forms=("GmbH", "AG", "OG", "KG")),
    "CH": Country("CH", {"en": "Switzerland", "de": "Schweiz", "fr": "Suisse", "es": "Suiza", "nl": "Zwitserland"},
                  "CHF", (Decimal("8.1"), Decimal("2.6")), ("%d.%m.%Y",), ("ch",),
                  streets=("Bahnhofstrasse", "Seestrasse", "Rue du Rhône", "Marktgasse", "Avenue de la Gare"),
                  cities=(("8001", "Zürich"), ("3011", "Bern"), ("1204", "Genève"), ("4051", "Basel"),
                          ("1003", "Lausanne")),
                  legal_forms=("AG", "GmbH", "SA", "Sàrl")),
    "FR": Country("FR", {"en": "France", "de": "Frankreich", "fr": "France", "es": "Francia", "nl": "Frankrijk"},
                  "EUR", (Decimal("20"), Decimal("10"), Decimal("5.5")), ("%d/%m/%Y",), ("fr", "fr_nbsp"),
                  streets=("rue de la Paix", "avenue des Champs-Élysées", "boulevard Haussmann", "rue Victor Hugo",
                           "rue de la République", "place Bellecour"),
                  cities=(("75002", "Paris"), ("69002", "Lyon"), ("13001", "Marseille"), ("31000", "Toulouse"),
                          ("33000", "Bordeaux"), ("59000", "Lille")),
                  street_number_first=True, legal_forms=("SARL", "SAS", "SA", "EURL", "SASU")),
    "BE": Country("BE", {"en": "Belgium", "de": "Belgien", "fr": "Belgique", "es": "Bélgica", "nl": "België"},
                  "EUR", (Decimal("21"), Decimal("6")), ("%d/%m/%Y", "%d-%m-%Y"), ("de", "fr"),
                  streets=("Rue Neuve", "Meir", "Avenue Louise", "Veldstraat", "Grand-Place"),
                  cities=(("1000", "Bruxelles"), ("2000", "Antwerpen"), ("9000", "Gent"), ("4000", "Liège")),
                  legal_forms=("SRL", "SA", "BV", "NV")),
    "LU": Country("LU", {"en": "Luxembourg", "de": "Luxemburg", "fr": "Luxembourg", "es": "Luxemburgo",
                         "nl": "Luxemburg"}, "EUR", (Decimal("17"), Decimal("8")), ("%d/%m/%Y", "%d.%m.%Y"), ("fr", "de"),
                  streets=("Avenue de la Liberté", "Boulevard Royal", "Grand-Rue", "Route d'Arlon"),
                  cities=(("L-1930", "Luxembourg"), ("L-4002", "Esch-sur-Alzette"), ("L-8050", "Bertrange")),
                  street_number_first=True, legal_forms=("S.à r.l.", "S.A.", "SARL-S")),
    "ES": Country("ES", {"en": "Spain", "de": "Spanien", "fr": "Espagne", "es": "España", "nl": "Spanje"}, "EUR",
                  (Decimal("21"), Decimal("10"), Decimal("4")), ("%d/%m/%Y", "%d-%m-%Y"), ("de", "de_plain"),
                  streets=("Calle Mayor", "Gran Vía", "Calle de Alcalá", "Paseo de Gracia", "Avenida Diagonal",
                           "Calle Colón"),
                  cities=(("28013", "Madrid"), ("08007", "Barcelona"), ("46002", "Valencia"), ("41001", "Sevilla"),
                          ("48001", "Bilbao"), ("29015", "Málaga")),
                  legal_forms=("S.L.", "S.A.", "S.L.U.")),
    "NL": Country("NL", {"en": "Netherlands", "de": "Niederlande", "fr": "Pays-Bas", "es": "Países Bajos",
                         "nl": "Nederland"}, "EUR", (Decimal("21"), Decimal("9")), ("%d-%m-%Y", "%d/%m/%Y"), ("de",),
                  streets=("Keizersgracht", "Damrak", "Coolsingel", "Oudegracht", "Stationsplein", "Lange Voorhout"),
                  cities=(("1015 CJ", "Amsterdam"), ("3011 AD", "Rotterdam"), ("3511 AB", "Utrecht"),
                          ("2514 EA", "Den Haag"), ("5611 AZ", "Eindhoven")),
                  legal_forms=("B.V.", "N.V.", "V.O.F.")),
}

# Which countries write invoices in which language.
LANGUAGE_COUNTRIES: dict[str, tuple[str, ...]] = {
    "en": ("GB", "US", "IE", "GB", "US"),
    "de": ("DE", "AT", "CH", "DE"),
    "fr": ("FR", "BE", "CH", "LU", "FR"),
    "es": ("ES",),
    "nl": ("NL", "BE", "NL"),
}

COMPANY_STEMS = {
    "en": ["Northwind", "Blue Harbor", "Redwood", "Summit Peak", "Brightline", "Oakridge", "Silverstone",
           "Harbourview", "Ironbridge", "Greenfield", "Kestrel", "Meridian", "Pinecrest", "Copperleaf"],
    "de": ["Müller", "Schmidt & Partner", "Nordlicht", "Weber Technik", "Bergmann", "Alpenblick", "Sonnenhof",
           "Hoffmann Systeme", "Krause & Söhne", "Rheinwerk", "Schwarzwald Digital", "Becker Logistik"],
    "fr": ["Dupont", "Lumière", "Atelier Moreau", "Provence Services", "Bernard & Fils", "Horizon Conseil",
           "Rivière", "Les Ateliers Girard", "Azur Digital", "Lefèvre Industrie", "Chêne Bleu"],
    "es": ["García", "Soluciones Iberia", "Martínez y Asociados", "Levante Digital", "Sol de Castilla",
           "Hermanos López", "Mediterránea de Servicios", "Ruiz Consultores", "Galicia Tech"],
    "nl": ["De Vries", "Van Dijk", "Oranje Techniek", "Bakker & Zn.", "Polderwerk", "Jansen Advies",
           "Hollandse Handel", "Visser Logistiek", "De Molen", "Noordzee Digital"],
}
COMPANY_SECTORS = {
    "en": ["Consulting", "Supplies", "Logistics", "Software", "Engineering", "Solutions", "Trading"],
    "de": ["Consulting", "Bürobedarf", "Logistik", "Software", "Maschinenbau", "Handel", "IT-Service"],
    "fr": ["Conseil", "Fournitures", "Logistique", "Informatique", "Ingénierie", "Distribution"],
    "es": ["Consultoría", "Suministros", "Logística", "Informática", "Ingeniería", "Distribución"],
    "nl": ["Advies", "Kantoorartikelen", "Logistiek", "Software", "Techniek", "Handel"],
}
FIRST_NAMES = ["Anna", "Thomas", "Marie", "Lukas", "Sophie", "Jan", "Laura", "Pierre", "Carmen", "Pieter", "Emma",
               "James", "Olivia", "Daniel", "Lucía", "Sanne", "Julien", "Katrin"]
LAST_NAMES = ["Schneider", "Martin", "García", "Jansen", "Smith", "Dubois", "Fernández", "de Jong", "Wagner",
              "Brown", "Lambert", "Meyer", "Peeters", "Taylor"]


@dataclass
class Party:
    name: str
    address_lines: list[str]
    country: str
    vat_id: str | None = None  # compact
    vat_id_printed: str | None = None
    phone: str | None = None
    email: str | None = None
    website: str | None = None
    contact: str | None = None
    extra: dict = field(default_factory=dict)


def company_name(rng: random.Random, language: str, country: Country) -> str:
    stem = rng.choice(COMPANY_STEMS[language])
    if rng.random() < 0.5:
        stem = f"{stem} {rng.choice(COMPANY_SECTORS[language])}"
    return f"{stem} {rng.choice(country.legal_forms)}"


def address_lines(rng: random.Random, country: Country, foreign_language: str | None = None) -> list[str]:
    street = rng.choice(country.streets)
    number = str(rng.randint(1, 240))
    if rng.random() < 0.15 and country.code not in ("US", "GB", "IE"):
        number += rng.choice("abc")
    street_line = f"{number} {street}" if country.street_number_first else f"{street} {number}"
    if country.code == "FR" and street_line[0].isdigit():
        street_line = f"{number}, {street}" if rng.random() < 0.3 else street_line
    postcode, city = rng.choice(country.cities)
    lines = [street_line]
    if country.code == "US":
        if rng.random() < 0.4:
            lines.append(f"Suite {rng.randint(100, 990)}")
        state, zip_ = postcode.split()
        lines.append(f"{city}, {state} {zip_}")
    elif country.code in ("GB", "IE"):
        if country.code == "IE":
            lines.append(f"{city}, {postcode}" if rng.random() < 0.5 else city)
            if not lines[-1].endswith(postcode):
                lines.append(postcode)
        else:
            lines.append(city)
            lines.append(postcode)
    else:
        lines.append(f"{postcode} {city}")
    if foreign_language is not None:
        lines.append(country.name[foreign_language])
    return lines


def person_name(rng: random.Random) -> str:
    return f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}"


def email_for(rng: random.Random, company: str, tld: str) -> tuple[str, str]:
    slug = "".join(ch for ch in company.split()[0].lower() if ch.isascii() and ch.isalnum()) or "mail"
    return f"{rng.choice(['info', 'billing', 'accounts', 'invoice', 'office'])}@{slug}.{tld}", f"www.{slug}.{tld}"


def tld(country: str) -> str:
    return {"GB": "co.uk", "US": "com", "IE": "ie", "DE": "de", "AT": "at", "CH": "ch", "FR": "fr", "BE": "be",
            "LU": "lu", "ES": "es", "NL": "nl"}[country]


def month_name(language: str, d: date, short: bool = False) -> str:
    return (MONTHS_SHORT if short else MONTHS)[language][d.month - 1]
