"""Per-process start-up work done once in a worker's main process, before it forks its pool.

A Celery worker's pool processes are forked from its main process (prefork), and each new one
(at start, and after `WORKER_MAX_TASKS_PER_CHILD` tasks) used to pay for the same lazy work on
its first documents: dateparser's locales (its month names and their compiled regular
expressions, 25-125 ms per language), schwifty's bank registry (1-15 ms per country), python-stdnum's
country modules, pypdf's import (0.1 s). Done here in the main process (`worker_init`, which
Celery sends after the worker knows its queues and before the pool starts), the children
inherit it with the fork.

Nothing that belongs to one process is made here: no connections, no OpenMP region, no model
(the OCR engine and the learned scorer's booster stay in `worker_process_init` of their stages).
Warming reads fixed sample strings through the same functions the stages call; it writes nothing
and changes no result (the functions are pure, their caches keyed by their arguments). The one
import that starts threads is LightGBM's (for llm workers whose provider or fallback is `local`):
NumPy's OpenBLAS starts its pool at import, and OpenBLAS stops it before a fork and each process
starts its own on first use (a forked child predicting and multiplying matrices was checked).
"""
from __future__ import annotations

import logging
import time

from celery import signals

logger = logging.getLogger(__name__)

# The stages that read dates, amounts, identifiers and labels out of OCR text.
TEXT_STAGES = frozenset({"llm", "extraction"})

# One written-out date per language the label tables know (extract.labels.LANGUAGE_HINTS, and
# English), in the forms invoices print them; each is read with both day/month orders, which
# are separate dateparser settings (and so separate caches).
_DATES = {
    "en": ("15 March 2023", "March 15, 2023", "15-Mar-2023"),
    "de": ("15. März 2023", "15 März 2023"),
    "fr": ("15 mars 2023", "15 février 2023"),
    "es": ("15 de marzo de 2023", "15 marzo 2023"),
    "nl": ("15 maart 2023", "15 mrt 2023"),
}
_IBANS = ("DE89370400440532013000", "FR1420041010050500013M02606", "NL91ABNA0417164300")
_TAX_IDS = ("DE136695976", "FR40303265045", "ESA12345674", "NL004495445B01", "ATU13585627", "BE0411905847",
            "CHE-116.281.710 MWST", "CHE-116.281.710", "GB980780684", "IT00743110157")
_BICS = ("COBADEFFXXX",)
# schwifty reads a country's bank registry on its first IBAN -> BIC look-up (the identifiers'
# cross-check): these countries' (of the languages above, and their neighbours), 1-15 ms each.
_BANK_COUNTRIES = ("DE", "AT", "CH", "LI", "FR", "BE", "LU", "MC", "ES", "AD", "NL", "GB", "IE", "IT", "PT")


def warm_up_text() -> None:
    """dateparser's locales, schwifty's registry, stdnum's modules and the label matcher,
    through the functions the text stages call."""
    from invoice.scanner.processing.extract import labels, normalize

    for language, samples in _DATES.items():
        for raw in samples:
            for order in ("DMY", "MDY"):
                normalize.parse_date(raw, order, (language,))
        labels.detect_language(" ".join(samples))
    for raw in _IBANS:
        normalize.validate_iban(raw)
    for raw in _TAX_IDS:
        normalize.validate_tax_id(raw)
    for raw in _BICS:
        normalize.validate_bic(raw)
    from schwifty import registry

    for country in _BANK_COUNTRIES:
        registry.get_banks_by_country(country)
    for text in ("Invoice number", "Rechnungsdatum", "Montant TTC", "Fecha de vencimiento", "Totaal incl. btw"):
        labels.match_label(text)


def warm_up_pdf() -> None:
    """pypdf (pure Python, about 0.1 s to import), which preprocessing opens a PDF with to look
    for an embedded e-invoice (einvoice/pdf.py). pdfium, a native library, stays lazy."""
    import pypdf  # noqa: F401


def warm_up_learned_scorer() -> bool:
    """LightGBM's import, with scikit-learn's and SciPy's under it (about 1.1 s of CPU), and the
    local provider's modules (0.4 s), where the local provider is the provider or a fallback and
    a model is configured: each llm pool process paid them when it read the model (and again
    after WORKER_MAX_TASKS_PER_CHILD tasks); reading the booster itself takes 0.02 s."""
    from invoice.scanner.processing.config import get_settings
    from invoice.scanner.processing.stages.llm.fallback import parse_fallback

    settings = get_settings()
    if "local" not in (settings.llm_provider, *parse_fallback(settings.llm_fallback, settings.llm_provider)):
        return False
    from invoice.scanner.processing.stages.llm.local import scorer

    if scorer.model_path(settings) is None:
        return False
    try:
        import lightgbm  # noqa: F401
    except ImportError:
        return False
    from invoice.scanner.processing.stages.llm.local import reader  # noqa: F401
    return True


def warm_up(queues) -> list[str]:
    """Warm what the stages consumed from `queues` need; the names of what was warmed."""
    queues, done = set(queues), []
    if TEXT_STAGES & queues:
        warm_up_text()
        done.append("dates, identifiers, labels")
    if "llm" in queues and warm_up_learned_scorer():
        done.append("LightGBM")
    if "preprocessing" in queues:
        warm_up_pdf()
        done.append("pypdf")
    return done


_done: list[str] = []  # what the main process warmed, logged once the worker's logging is set up


@signals.worker_init.connect(weak=False, dispatch_uid="invoice-scanner-warm-up")
def _warm_up_main_process(sender=None, **_kwargs) -> None:
    app = getattr(sender, "app", None)
    queues = set((app.amqp.queues.consume_from or {}) if app is not None else ())
    started = time.process_time()
    try:
        done = warm_up(queues)
    except Exception as exc:  # an optimization: a failure costs the first documents time, no more
        _done.append(f"failed ({type(exc).__name__}: {exc}); its pool processes warm up lazily")
        return
    if done:
        _done.append(f"{', '.join(done)} in {time.process_time() - started:.2f} s of CPU, before forking its pool")


@signals.worker_ready.connect(weak=False, dispatch_uid="invoice-scanner-warm-up-log")
def _log_warm_up(**_kwargs) -> None:
    # worker_init comes before Celery configures logging: said here instead.
    for line in _done:
        logger.info("main process warm-up: %s", line)
