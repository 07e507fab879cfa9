"""A shop's sync job, written in Python: it loads customers, pages through them, loses a race
on an etag and recovers, reads the change feed, and is told precisely what was wrong with a bad
record."""

import grpc
import pytest
from google.protobuf import field_mask_pb2

from crm.v1 import (change_feed_service_pb2, change_feed_service_pb2_grpc, customer_pb2,
                    customer_service_pb2, customer_service_pb2_grpc)
from crm_client import error_details

NAMES = ["Ayşe Yılmaz", "Mehmet Demir", "Elif Kaya", "Can Öztürk", "Zeynep Arslan"]


def person(full_name, email):
    given, family = full_name.split(" ")
    return customer_pb2.Customer(
        person=customer_pb2.Person(given_name=given, family_name=family),
        emails=[customer_pb2.Email(address=email)],
        tags=["python"],
        address=customer_pb2.PostalAddress(country="tr"))


def test_a_sync_job_pages_updates_and_follows_the_feed(channel):
    customers = customer_service_pb2_grpc.CustomerServiceStub(channel)
    created = []
    for n, name in enumerate(NAMES):
        c = customers.CreateCustomer(customer_service_pb2.CreateCustomerRequest(
            customer=person(name, f"Person{n}@Example.com"), request_id=f"py-story-{n}"))
        assert c.emails[0].address == f"person{n}@example.com", "emails are normalized"
        assert c.address.country == "TR"
        created.append(c)

    # Every customer tagged "python", two per page, in name order: each exactly once.
    seen, token, pages = [], "", 0
    while True:
        page = customers.ListCustomers(customer_service_pb2.ListCustomersRequest(
            filter='tags:"python"', order_by="display_name", page_size=2, page_token=token))
        seen += [c.display_name for c in page.customers]
        pages += 1
        token = page.next_page_token
        if not token:
            break
    assert seen == sorted(NAMES)
    assert pages == 3

    # Two writers read the same version; the second one's etag is stale.
    ayse = created[0]
    mask = field_mask_pb2.FieldMask(paths=["owner"])
    first = customers.UpdateCustomer(customer_service_pb2.UpdateCustomerRequest(
        customer=customer_pb2.Customer(id=ayse.id, owner="zeynep"), update_mask=mask,
        etag=ayse.etag))
    assert first.owner == "zeynep" and first.etag != ayse.etag
    with pytest.raises(grpc.RpcError) as stale:
        customers.UpdateCustomer(customer_service_pb2.UpdateCustomerRequest(
            customer=customer_pb2.Customer(id=ayse.id, owner="mehmet"), update_mask=mask,
            etag=ayse.etag))
    details = error_details(stale.value)
    assert details.code == grpc.StatusCode.ABORTED
    assert details.reason == "ETAG_MISMATCH"
    # The loser re-reads and applies its change on the current version.
    current = customers.GetCustomer(customer_service_pb2.GetCustomerRequest(id=ayse.id))
    assert current.owner == "zeynep"
    second = customers.UpdateCustomer(customer_service_pb2.UpdateCustomerRequest(
        customer=customer_pb2.Customer(id=ayse.id, owner="mehmet"), update_mask=mask,
        etag=current.etag))
    assert second.owner == "mehmet"

    # The change feed has the five creates and the two updates, in commit order, with the
    # origin this client sent.
    feed = change_feed_service_pb2_grpc.ChangeFeedServiceStub(channel)
    stream = feed.WatchChanges(change_feed_service_pb2.WatchChangesRequest(after=0), timeout=10)
    events = []
    for message in stream:
        if message.HasField("event"):
            events.append(message.event)
        if len(events) == len(NAMES) + 2:
            stream.cancel()
            break
    ops = [change_feed_service_pb2.ChangeOperation.Name(e.operation) for e in events]
    assert ops == ["CREATED"] * len(NAMES) + ["UPDATED", "UPDATED"]
    assert [e.entity.id for e in events[:len(NAMES)]] == [c.id for c in created]
    assert all(e.origin == "python-tests" for e in events)
    cursors = [e.cursor for e in events]
    assert cursors == sorted(cursors)


def test_a_bad_record_is_refused_with_the_field_named_and_nothing_written(channel):
    customers = customer_service_pb2_grpc.CustomerServiceStub(channel)
    with pytest.raises(grpc.RpcError) as refused:
        customers.CreateCustomer(customer_service_pb2.CreateCustomerRequest(
            customer=person("Bad Record", "not-an-email")))
    details = error_details(refused.value)
    assert details.code == grpc.StatusCode.INVALID_ARGUMENT
    assert "customer.emails[0].address" in details.field_violations
    found = customers.SearchCustomers(customer_service_pb2.SearchCustomersRequest(query="bad record"))
    assert len(found.results) == 0

    with pytest.raises(grpc.RpcError) as missing:
        customers.GetCustomer(customer_service_pb2.GetCustomerRequest(id="00000000000000ff"))
    details = error_details(missing.value)
    assert details.code == grpc.StatusCode.NOT_FOUND
    assert details.reason == "CUSTOMER_NOT_FOUND"
