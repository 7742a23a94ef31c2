"""Local HTTP servers that speak the LLM vendors' real wire protocols, for tests.

Each fake (`FakeOpenAI`, `FakeAnthropic`, `FakeGemini`) listens on 127.0.0.1 on a random
port, answers from a per-test script (a queue of `Reply` actions) and records every
request (path, headers, JSON body) so tests can assert on what the SDKs sent.
"""
from fakes.base import Reply, answer, blocked, delay, error, malformed, partial, refusal
from fakes.anthropic_fake import FakeAnthropic
from fakes.gemini_fake import FakeGemini
from fakes.openai_fake import FakeOpenAI

__all__ = ["FakeAnthropic", "FakeGemini", "FakeOpenAI", "Reply", "answer", "blocked", "delay", "error",
           "malformed", "partial", "refusal"]
