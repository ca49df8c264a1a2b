import os

from django.core.asgi import get_asgi_application
from django.core.management import call_command

from common.ops.limits import raise_open_file_limit

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
# A descriptor per waiting request: 1,000 at once must not hit a 1024 soft limit.
raise_open_file_limit()

django_application = get_asgi_application()

from common.ops.shutdown import DrainOnSigterm  # noqa: E402
from config.ops.proxies import TrustedProxies  # noqa: E402
from generations.api.asgi import SharedThreadForApi  # noqa: E402  (needs Django set up)

# /v1 requests wait for their jobs; they must not hold a thread each while they do.
# On SIGTERM, requests waiting on jobs answer with the job's id before the server stops.
# Only DARKROOM_TRUSTED_PROXIES may tell the client's address and scheme (first, so
# everything after sees the client's).
application = TrustedProxies(DrainOnSigterm(SharedThreadForApi(django_application)))
# Refuse to serve with a malformed catalog or settings: run the system checks at start.
call_command("check")
