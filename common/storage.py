"""S3 storage whose signed URLs name the address browsers use, not the one servers use.

In compose (and many clusters) the app reaches the object store by an internal name
(`http://minio:9000`) that a browser cannot resolve. A signed URL covers its host, so it
must be *signed* for the public address: AWS_S3_PUBLIC_ENDPOINT_URL. Reads and writes
still go to AWS_S3_ENDPOINT_URL. Unset, this is django-storages' S3Storage unchanged.
"""

from __future__ import annotations

import threading
from typing import Any

from storages.backends.s3 import S3Storage


class PublicEndpointS3Storage(S3Storage):
    def __init__(self, *, public_endpoint_url: str = "", **options: Any) -> None:
        super().__init__(**options)
        self.public_endpoint_url = public_endpoint_url
        self._public = threading.local()

    def url(
        self,
        name: str,
        parameters: dict[str, Any] | None = None,
        expire: int | None = None,
        http_method: str | None = None,
    ) -> str:
        if not self.public_endpoint_url:
            return super().url(name, parameters, expire, http_method)
        params = {
            **(parameters or {}),
            "Bucket": self.bucket_name,
            "Key": self._normalize_name(name),
        }
        return self._public_client().generate_presigned_url(
            "get_object",
            Params=params,
            ExpiresIn=self.querystring_expire if expire is None else expire,
            HttpMethod=http_method,
        )

    def _public_client(self) -> Any:
        client = getattr(self._public, "client", None)
        if client is None:
            client = self._create_session().client(
                "s3",
                region_name=self.region_name,
                endpoint_url=self.public_endpoint_url,
                config=self.client_config,
            )
            self._public.client = client
        return client
