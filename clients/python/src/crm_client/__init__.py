"""A Python client for crm (crm.v1): the generated stubs live in `crm.v1`; this package adds a
channel that sends the API key and origin, and typed error details."""

from typing import Optional

import grpc

from .errors import ErrorDetails, error_details

__all__ = ["ErrorDetails", "connect", "error_details"]


class _Headers(grpc.UnaryUnaryClientInterceptor, grpc.UnaryStreamClientInterceptor,
               grpc.StreamUnaryClientInterceptor, grpc.StreamStreamClientInterceptor):
    def __init__(self, headers):
        self._headers = headers

    def _with_headers(self, details):
        metadata = list(details.metadata or []) + self._headers
        return details._replace(metadata=metadata)

    def intercept_unary_unary(self, continuation, details, request):
        return continuation(self._with_headers(details), request)

    def intercept_unary_stream(self, continuation, details, request):
        return continuation(self._with_headers(details), request)

    def intercept_stream_unary(self, continuation, details, requests):
        return continuation(self._with_headers(details), requests)

    def intercept_stream_stream(self, continuation, details, requests):
        return continuation(self._with_headers(details), requests)


def connect(addr: str, api_key: Optional[str] = None, origin: Optional[str] = None,
            credentials: Optional[grpc.ChannelCredentials] = None) -> grpc.Channel:
    """A channel to crm at `addr` (`host:port`): plaintext, or TLS with `credentials`. Every call
    carries `authorization: Bearer API_KEY` and `x-crm-origin: ORIGIN` when given."""
    channel = (grpc.secure_channel(addr, credentials) if credentials
               else grpc.insecure_channel(addr))
    headers = []
    if api_key:
        headers.append(("authorization", f"Bearer {api_key}"))
    if origin:
        headers.append(("x-crm-origin", origin))
    if not headers:
        return channel
    return grpc.intercept_channel(channel, _Headers(headers))
