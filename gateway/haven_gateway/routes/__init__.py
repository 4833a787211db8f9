"""The API's routes, one module per part of shared/API.md."""
