"""The served gallery (SPEC section 7): the HTTP API over the gallery service, run by `serve`.

Everything here imports FastAPI, uvicorn and prometheus-client: only `serve` imports it."""
