"""The worker main process's warm-up (warmup.py): what it loads, for which queues, and that the
stages' answers do not depend on it."""
from __future__ import annotations

import functools
import json
import os
import subprocess
import sys

CHILD = r"""
import json, sys, time
from invoice.scanner.processing import warmup
queues = json.loads(sys.argv[1])
done = warmup.warm_up(queues)
from dateparser.languages.loader import LocaleDataLoader
from schwifty import registry
from invoice.scanner.processing.extract.normalize import parse_date, validate_iban
t = time.process_time()
answers = [parse_date("3 mai 2024", "DMY", ("fr",)), parse_date("7. Juni 2022", "DMY", ("de",)),
           validate_iban("DE02120300000000202051")]
print(json.dumps({"done": done, "dateparser": "dateparser" in sys.modules, "lightgbm": "lightgbm" in sys.modules,
                  "locales": sorted(LocaleDataLoader._loaded_locales),
                  "banks": sorted(registry._default_registry._banks),
                  "answers": [a if isinstance(a, tuple) else (a.iso, a.ambiguous) for a in answers]}))
"""


def run(queues: list[str], **env: str) -> dict:
    """What a fresh worker process warmed for these queues and answered (one process per set of
    queues and env in this module: each start imports and warms the text stages)."""
    return _run(tuple(queues), tuple(sorted(env.items())))


@functools.cache
def _run(queues: tuple[str, ...], env: tuple[tuple[str, str], ...]) -> dict:
    out = subprocess.run([sys.executable, "-c", CHILD, json.dumps(list(queues))], capture_output=True, text=True,
                         check=True, env={**os.environ, "LLM_PROVIDER": "local", "LLM_FALLBACK": "", **dict(env)})
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_text_stages_load_dates_and_registries_before_forking():
    warm = run(["llm", "llm.recovery"])
    assert warm["done"] == ["dates, identifiers, labels", "LightGBM"]
    assert warm["lightgbm"]
    assert {"en", "de", "fr", "es", "nl"} <= set(warm["locales"])
    assert {"DE", "FR", "ES", "NL", "AT", "CH", "BE", "GB"} <= set(warm["banks"])


def test_other_queues_warm_nothing_of_the_text_stages():
    cold = run(["ocr", "evaluation"])
    assert cold["done"] == []
    assert cold["banks"] == []
    assert not cold["lightgbm"]


def test_lightgbm_stays_out_where_the_local_model_is_off():
    warm = run(["extraction", "llm"], LOCAL_MODEL_PATH="off")
    assert warm["done"] == ["dates, identifiers, labels"]
    assert not warm["lightgbm"]


def test_answers_are_the_same_warm_or_cold():
    warm, cold = run(["llm", "llm.recovery"]), run(["ocr", "evaluation"])  # the processes of the tests above
    assert warm["done"] and not cold["done"]
    assert warm["answers"] == cold["answers"]
