"""Benchmarks of agentsite against a local OpenAI-protocol server (``make bench``).

Not a test package: no module is named ``test_*`` so pytest never collects it; the harness
itself is smoke-tested by tests/test_bench.py. Entry point:
``python -m bench`` (see ``__main__``). Modules: ``upstream`` (the fast fake Responses
server, own process), ``reference`` (the FastAPI service agentsite replaces, under uvicorn),
``stack`` (``manage.py serve`` + fresh database, and the reference), ``client`` (SSE streams at
a fixed concurrency), ``comparison`` (alternating rounds, ratios), ``session_store``
(DjangoSession vs SQLiteSession latency, own process), ``profiling`` (py-spy), ``report``
(table and JSON).
"""
