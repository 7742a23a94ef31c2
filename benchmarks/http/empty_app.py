"""The HTTP floor: a bare Flask app whose one endpoint returns an empty JSON object, served by
the same gunicorn settings as the API (benchmarks/http/run.py)."""
from flask import Flask

app = Flask(__name__)


@app.get("/empty")
def empty():
    return {}
