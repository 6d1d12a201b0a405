"""The HTTP API: routers that translate requests into application calls and back."""
