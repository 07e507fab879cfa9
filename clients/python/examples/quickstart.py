"""Creates a customer, records a purchase and prints what crm derived from it.

    pip install ./clients/python
    python clients/python/examples/quickstart.py 127.0.0.1:50051 [API_KEY]
"""

import sys
import uuid

import grpc

import crm_client
from crm.v1 import (customer_pb2, customer_service_pb2, customer_service_pb2_grpc,
                    timeline_pb2, timeline_service_pb2, timeline_service_pb2_grpc)


def main(addr: str, api_key: str = None) -> int:
    channel = crm_client.connect(addr, api_key=api_key, origin="quickstart")
    customers = customer_service_pb2_grpc.CustomerServiceStub(channel)
    timeline = timeline_service_pb2_grpc.TimelineServiceStub(channel)
    try:
        ada = customers.CreateCustomer(customer_service_pb2.CreateCustomerRequest(
            customer=customer_pb2.Customer(
                person=customer_pb2.Person(given_name="Ada", family_name="Lovelace"),
                emails=[customer_pb2.Email(address=f"ada+{uuid.uuid4().hex[:8]}@example.com")]),
            request_id=str(uuid.uuid4())))
        print(f"created {ada.id} ({ada.display_name}), etag {ada.etag}")
        bought = timeline.RecordPurchase(timeline_service_pb2.RecordPurchaseRequest(
            customer_id=ada.id,
            purchase=timeline_pb2.Purchase(
                order_ref="SO-1",
                amount=customer_pb2.Money(currency_code="EUR", amount_minor=12_500))))
        print(f"after the purchase: stage {customer_pb2.LifecycleStage.Name(bought.customer.lifecycle_stage)}")
    except grpc.RpcError as e:
        details = crm_client.error_details(e)
        print(f"{details.code.name}: {details.message}", file=sys.stderr)
        for path, problem in details.field_violations.items():
            print(f"  {path}: {problem}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
