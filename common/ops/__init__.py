"""What operators read: health endpoints, Prometheus metrics, request/job context in logs.

Kept apart from the request and job code: it hooks in through middleware, Django and
Celery signals, so the paths that do the work stay as they are.
"""
