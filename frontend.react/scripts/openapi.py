"""Print the API's OpenAPI document, as the app serves it at /openapi.json (no services needed)."""
import json

from invoice.scanner.api import create_app
from invoice.scanner.api.config import ApiConfig

app = create_app(ApiConfig.from_env({}))
response = app.test_client().get("/openapi.json")
assert response.status_code == 200, response.status_code
print(json.dumps(response.json, indent=2, sort_keys=True))
