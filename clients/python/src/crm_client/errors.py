"""The error details crm sends with a failed call, typed.

crm answers bad input with a status code and `google.rpc` details in the
`grpc-status-details-bin` trailer: `BadRequest` (one violation per field, named as the caller
wrote it: `customer.emails[0].address`), `ErrorInfo` (a reason such as `ETAG_MISMATCH` with
metadata such as the current etag) and `ResourceInfo`. `error_details` decodes them.
"""

from dataclasses import dataclass, field
from typing import Dict, Optional

import grpc
from google.rpc import error_details_pb2, status_pb2

DETAILS_KEY = "grpc-status-details-bin"


@dataclass
class ErrorDetails:
    """What a failed call said, beyond its code and message."""

    code: grpc.StatusCode
    message: str
    # ErrorInfo: why (`ETAG_MISMATCH`, `EMAIL_TAKEN`, `CUSTOMER_NOT_FOUND`, ...), and its facts.
    reason: Optional[str] = None
    domain: Optional[str] = None
    metadata: Dict[str, str] = field(default_factory=dict)
    # BadRequest: field path -> what is wrong with it.
    field_violations: Dict[str, str] = field(default_factory=dict)
    # ResourceInfo: the resource the call was about.
    resource_type: Optional[str] = None
    resource_name: Optional[str] = None


def error_details(error: grpc.RpcError) -> ErrorDetails:
    """Decodes a failed call's status and details. Unknown detail types are skipped."""
    details = ErrorDetails(code=error.code(), message=error.details() or "")
    trailers = error.trailing_metadata() or ()
    raw = next((value for key, value in trailers if key == DETAILS_KEY), None)
    if raw is None:
        return details
    status = status_pb2.Status.FromString(raw)
    for any_detail in status.details:
        if any_detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            any_detail.Unpack(info)
            details.reason, details.domain = info.reason, info.domain
            details.metadata.update(info.metadata)
        elif any_detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            any_detail.Unpack(bad)
            for violation in bad.field_violations:
                details.field_violations[violation.field] = violation.description
        elif any_detail.Is(error_details_pb2.ResourceInfo.DESCRIPTOR):
            resource = error_details_pb2.ResourceInfo()
            any_detail.Unpack(resource)
            details.resource_type = resource.resource_type
            details.resource_name = resource.resource_name
    return details
