"""One Blueprint per resource."""
