"""Integrations with other frameworks, each an optional extra.

* ``devsms_async.contrib.fastapi`` (``pip install 'devsms-async[fastapi]'``):
  lifespan, dependency and delivery-report receiver for FastAPI / Starlette.

Nothing here is imported by ``import devsms_async``.
"""
