"""Webhook signatures, target checks and backoff: no services needed."""
from __future__ import annotations

import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from invoice.scanner.processing.config import Settings
from invoice.scanner.processing.webhooks import signing
from invoice.scanner.processing.webhooks.targets import InvalidTarget, check_url, redact
from invoice.scanner.processing.webhooks.tasks import backoff_s

SECRET = "whsec_test-secret"


def test_sign_then_verify():
    body = b'{"id":"evt_1","type":"document.approved"}'
    header = signing.sign(SECRET, body)
    assert header.startswith("t=") and ",v1=" in header
    assert abs(signing.verify(SECRET, body, header) - time.time()) < 5


def test_the_documented_scheme():
    """v1 is HMAC-SHA256(secret, "<t>.<body>") in hex, as INTEGRATION.md tells receivers."""
    import hashlib
    import hmac

    body = b'{"a":1}'
    expected = hmac.new(SECRET.encode(), b"1733049296." + body, hashlib.sha256).hexdigest()
    assert signing.sign(SECRET, body, timestamp=1733049296) == f"t=1733049296,v1={expected}"


@pytest.mark.parametrize("mutate", [
    lambda h, b: (h, b + b" "),                              # body changed
    lambda h, b: (h.replace("t=", "t=1"), b),               # timestamp changed
    lambda h, b: (h[:-1] + ("0" if h[-1] != "0" else "1"), b),  # signature changed
    lambda h, b: ("", b),
    lambda h, b: ("v1=abc", b),
    lambda h, b: ("t=notanumber,v1=abc", b),
])
def test_tampering_is_refused(mutate):
    body = b'{"x": 1}'
    header, body2 = mutate(signing.sign(SECRET, body), body)
    with pytest.raises(signing.SignatureError):
        signing.verify(SECRET, body2, header)


def test_wrong_secret_is_refused():
    body = b"{}"
    with pytest.raises(signing.SignatureError):
        signing.verify("whsec_other", body, signing.sign(SECRET, body))


def test_replay_window():
    body = b"{}"
    header = signing.sign(SECRET, body, timestamp=1_000_000)
    assert signing.verify(SECRET, body, header, now=1_000_000 + 299) == 1_000_000
    for now in (1_000_000 + 301, 1_000_000 - 301):  # too old, or from the future
        with pytest.raises(signing.SignatureError):
            signing.verify(SECRET, body, header, now=now)


def test_one_of_several_signatures_may_match():
    body = b"{}"
    header = signing.sign(SECRET, body, timestamp=int(time.time()))
    assert signing.verify(SECRET, body, header + ",v1=" + "0" * 64)


@given(st.binary(max_size=2000))
def test_any_body_round_trips(body):
    assert signing.verify(SECRET, body, signing.sign(SECRET, body))


def test_secrets_are_random_and_long():
    a, b = signing.new_secret(), signing.new_secret()
    assert a != b and a.startswith("whsec_") and len(a) >= 40


@pytest.mark.parametrize("url", ["http://127.0.0.1/x", "http://localhost:8080/", "http://10.0.0.5/",
                                 "http://169.254.169.254/latest/meta-data/", "http://[::1]/", "http://192.168.1.1/"])
def test_private_targets_refused_unless_allowed(url):
    with pytest.raises(InvalidTarget):
        check_url(url, allow_private=False)
    assert check_url(url, allow_private=True) == url


@pytest.mark.parametrize("url", ["ftp://example.com/", "file:///etc/passwd", "http:///nohost", "http://a.test:99999/",
                                 "https://example.com/#frag"])
def test_bad_urls_refused_even_when_private_allowed(url):
    with pytest.raises(InvalidTarget):
        check_url(url, allow_private=True)


def test_public_address_literal_is_fine():
    assert check_url("https://93.184.216.34/hook", allow_private=False)


def test_redact_drops_credentials_and_query():
    assert redact("https://user:pw@erp.example.com:8443/hooks?token=abc") == "https://erp.example.com:8443/hooks"


def test_backoff_doubles_is_capped_and_respects_retry_after():
    s = Settings.from_env({}).with_overrides(webhook_retry_backoff_s=30, webhook_retry_backoff_max_s=3600)
    for attempt, base in [(1, 30), (2, 60), (3, 120), (8, 3600), (20, 3600)]:
        assert base * 0.9 <= backoff_s(attempt, s) <= base * 1.1
    assert backoff_s(1, s, retry_after_s=600) >= 600
    assert backoff_s(1, s, retry_after_s=10 ** 6) <= 3600  # a receiver cannot push us past the cap


def test_a_host_name_that_cannot_be_one_is_refused_not_an_error():
    with pytest.raises(InvalidTarget):
        check_url("http://" + "a" * 300 + ".test/", allow_private=False)  # a label over 63 characters (IDNA)
