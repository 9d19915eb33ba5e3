"""gunicorn settings for the Cloud Run service.

Run as ``gunicorn -c python:framerun_service.gunicorn_conf``: the settings ship in the
package, so an installed framerun needs no checkout.

One worker, one thread: an instance renders one chunk at a time (Cloud Run
container concurrency is 1) and keeps its browser warm between requests.
"""

import os

bind = f"0.0.0.0:{os.environ.get('PORT', '8080')}"
wsgi_app = "framerun_service.app:create_app()"
workers = 1
threads = 1
worker_class = "sync"
# A request may run as long as Cloud Run allows (3600 s); gunicorn must not kill it sooner.
timeout = int(os.environ.get("FRAMERUN_REQUEST_TIMEOUT_S", "3600"))
# Cloud Run sends SIGTERM and waits 10 s before SIGKILL. A chunk that cannot finish
# by then is abandoned: it uploads only when complete, so nothing partial is left,
# and the workflow retries it on another instance.
graceful_timeout = int(os.environ.get("FRAMERUN_GRACEFUL_TIMEOUT_S", "8"))
keepalive = 5
accesslog = None  # the app logs one structured JSON line per request
errorlog = "-"
loglevel = os.environ.get("FRAMERUN_LOG_LEVEL", "info")


def worker_exit(server, worker):
    """Close the warm browser so no Chrome process outlives its worker."""
    app = getattr(worker, "wsgi", None)
    engine = getattr(app, "extensions", {}).get("framerun.engine") if app else None
    if engine is not None:
        engine.close()
