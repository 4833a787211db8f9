"""The HTTP gateway: Haven's only public entry point.

It turns the JSON API (shared/API.md) into gRPC calls to the four services,
with deadlines, sessions and CSRF, problem+json errors and an OpenAPI document.
"""
