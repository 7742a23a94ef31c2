"""Print the API's OpenAPI document, as the app serves it at /openapi.json (no services needed).

flask-smorest names response components after `http.HTTPStatus` members, and Python 3.13
renamed some of them (422 UNPROCESSABLE_ENTITY -> UNPROCESSABLE_CONTENT, 413
REQUEST_ENTITY_TOO_LARGE -> CONTENT_TOO_LARGE, 416 REQUESTED_RANGE_NOT_SATISFIABLE ->
RANGE_NOT_SATISFIABLE). The generated client types must not depend on the Python that
generates them, so those names (and their descriptions) are written the 3.10-3.12 way here.
"""
import json

from invoice.scanner.api import create_app
from invoice.scanner.api.config import ApiConfig

RENAMED = {  # Python >= 3.13 name -> name on 3.10-3.12, with the older reason phrase
    "UNPROCESSABLE_CONTENT": ("UNPROCESSABLE_ENTITY", "Unprocessable Entity"),
    "CONTENT_TOO_LARGE": ("REQUEST_ENTITY_TOO_LARGE", "Request Entity Too Large"),
    "RANGE_NOT_SATISFIABLE": ("REQUESTED_RANGE_NOT_SATISFIABLE", "Requested Range Not Satisfiable"),
}
PHRASES = {"Unprocessable Content": "Unprocessable Entity", "Content Too Large": "Request Entity Too Large",
           "Range Not Satisfiable": "Requested Range Not Satisfiable"}


def stable(node):
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            key = RENAMED.get(key, (key,))[0]
            if isinstance(value, str):
                if key == "$ref":
                    prefix, _, name = value.rpartition("/")
                    value = f"{prefix}/{RENAMED.get(name, (name,))[0]}"
                elif key == "description":
                    value = PHRASES.get(value, value)
            out[key] = stable(value)
        return out
    if isinstance(node, list):
        return [stable(v) for v in node]
    return node


app = create_app(ApiConfig.from_env({}))
response = app.test_client().get("/openapi.json")
assert response.status_code == 200, response.status_code
print(json.dumps(stable(response.json), indent=2, sort_keys=True))
