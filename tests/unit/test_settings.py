"""Settings from the environment (pydantic-settings): names, types, defaults, the API's extension."""
from pathlib import Path

import pytest
from pydantic import ValidationError

from invoice.scanner.api.config import DEFAULT_ORIGINS, ApiConfig
from invoice.scanner.processing.config import Settings


def test_each_field_reads_the_variable_of_its_name_typed():
    s = Settings.from_env({"DATABASE_URL": "postgresql://db/x", "MAX_PAGES": "7", "LLM_TIMEOUT_S": "2.5",
                           "OCR_USE_GPU": "yes", "LLM_SEND_IMAGES": "0", "DOCUMENTS_DIR": "/srv/docs",
                           "CELERY_VISIBILITY_TIMEOUT_S": "9000", "OCR_MAX_RETRIES": "9"})
    assert (s.database_url, s.max_pages, s.llm_timeout_s) == ("postgresql://db/x", 7, 2.5)
    assert s.ocr_use_gpu is True and s.llm_send_images is False
    assert s.documents_dir == Path("/srv/docs")
    assert s.visibility_timeout_s == 9000  # the one field whose variable has another name
    assert s.retry["ocr"].max_retries == 9 and s.retry["llm"].max_retries == 3


def test_from_env_with_an_empty_mapping_gives_the_defaults_whatever_the_process_has(monkeypatch):
    monkeypatch.setenv("MAX_PAGES", "3")
    monkeypatch.setenv("CELERY_VISIBILITY_TIMEOUT_S", "5")
    assert Settings.from_env({}).max_pages == 50
    assert Settings.from_env({}).visibility_timeout_s == 7200
    assert Settings.from_env().max_pages == 3 and Settings().max_pages == 3  # the process environment
    assert Settings.from_env({}, max_pages=4).max_pages == 4  # overrides on top


def test_bad_values_are_refused_with_the_variable_named():
    with pytest.raises(ValidationError, match="max_pages"):
        Settings.from_env({"MAX_PAGES": "many"})


def test_settings_are_frozen_and_derived_with_overrides():
    s = Settings.from_env({})
    with pytest.raises(ValidationError):
        s.max_pages = 3
    t = s.with_overrides(max_pages=3, visibility_timeout_s=10)
    assert (t.max_pages, t.visibility_timeout_s, s.max_pages) == (3, 10, 50)
    with pytest.raises(TypeError, match="no field"):
        s.with_overrides(max_pagez=3)
    with pytest.raises(ValidationError):
        s.with_overrides(max_pages="many")


def test_the_api_config_is_the_shared_settings_plus_its_own():
    c = ApiConfig.from_env({"DATABASE_URL": "postgresql://db/x", "MAX_UPLOAD_BYTES": "100",
                            "ALLOWED_ORIGINS": "http://a.example, http://b.example", "API_DB_POOL_SIZE": "3",
                            "MAX_PAGE_PIXELS": "1000"})
    assert isinstance(c, Settings) and c.processing is c
    assert (c.database_url, c.max_upload_bytes, c.db_pool_size) == ("postgresql://db/x", 100, 3)
    assert c.allowed_origins == ("http://a.example", "http://b.example")
    assert c.max_image_pixels == 1000  # follows MAX_PAGE_PIXELS unless MAX_IMAGE_PIXELS is set
    assert ApiConfig.from_env({"MAX_IMAGE_PIXELS": "5"}).max_image_pixels == 5
    assert ApiConfig.from_env({}).allowed_origins == DEFAULT_ORIGINS
    assert ApiConfig.from_env({"ALLOWED_ORIGINS": ""}).allowed_origins == ()
    d = c.with_overrides(redis_url="redis://127.0.0.1:1/5", login_rate_limit=1)
    assert d.processing.redis_url == "redis://127.0.0.1:1/5" and d.login_rate_limit == 1


def test_a_workers_pool_size_is_its_own_setting():
    """WORKER_DB_POOL_SIZE sizes a worker's pool (the runner's repository), API_DB_POOL_SIZE the
    API's: the test stacks set both small (tests/pgbudget.py)."""
    from invoice.scanner.processing.db.repository import Repository

    assert Settings.from_env({}).worker_db_pool_size == 2
    c = ApiConfig.from_env({"WORKER_DB_POOL_SIZE": "1", "API_DB_POOL_SIZE": "4"})
    assert (c.worker_db_pool_size, c.db_pool_size) == (1, 4)
    with pytest.raises(ValidationError):
        Settings.from_env({"WORKER_DB_POOL_SIZE": "0"})
    assert Repository("postgresql://db/x", c.worker_db_pool_size).pool_size == 1
    assert Repository("postgresql://db/x").pool_size == 2
