"""End-to-end tests: a real OIDC client library against the provider served by gunicorn."""
