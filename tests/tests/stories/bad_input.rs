//! Every bad input gets a precise error naming the field, and changes nothing.

use crm_tests::*;
use prost_types::{FieldMask, Timestamp};
use tonic::Code;

fn with(f: impl FnOnce(&mut pb::Customer)) -> pb::Customer {
    let mut c = person("Valid", "");
    f(&mut c);
    c
}

fn person_with(f: impl FnOnce(&mut pb::Person)) -> pb::Customer {
    let mut p = pb::Person {
        given_name: "Valid".into(),
        ..Default::default()
    };
    f(&mut p);
    pb::Customer {
        party: Some(pb::customer::Party::Person(p)),
        ..Default::default()
    }
}

fn far_future() -> Option<Timestamp> {
    Some(Timestamp {
        seconds: 4_102_444_800,
        nanos: 0,
    }) // 2100-01-01
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_bad_field_of_a_create_is_named_and_nothing_is_written() {
    let server = TestServer::start().await;
    let mut client = server.client().await;
    let existing = create(&mut client, person("Existing", "taken@example.com")).await;

    let cases: Vec<(&str, pb::Customer)> = vec![
        ("customer.party", pb::Customer::default()),
        (
            "customer.emails[0].address",
            with(|c| {
                c.emails.push(pb::Email {
                    address: "not-an-email".into(),
                    ..Default::default()
                })
            }),
        ),
        (
            "customer.emails[1].address",
            with(|c| {
                for _ in 0..2 {
                    c.emails.push(pb::Email {
                        address: "twice@example.com".into(),
                        ..Default::default()
                    });
                }
            }),
        ),
        (
            "customer.emails",
            with(|c| {
                for i in 0..2 {
                    c.emails.push(pb::Email {
                        address: format!("p{i}@example.com"),
                        primary: true,
                        ..Default::default()
                    });
                }
            }),
        ),
        (
            "customer.phones[0].number",
            with(|c| {
                c.phones.push(pb::Phone {
                    number: "0532 123 45 67".into(),
                    ..Default::default()
                })
            }),
        ),
        (
            "customer.address.country",
            with(|c| {
                c.address = Some(pb::PostalAddress {
                    country: "XX".into(),
                    ..Default::default()
                })
            }),
        ),
        (
            "customer.tags[0]",
            with(|c| c.tags = vec!["no spaces!".into()]),
        ),
        (
            "customer.tags",
            with(|c| c.tags = (0..40).map(|i| format!("t{i}")).collect()),
        ),
        (
            "customer.attributes[Bad-Key]",
            with(|c| {
                c.attributes.insert("Bad-Key".into(), "v".into());
            }),
        ),
        (
            "customer.attributes[big]",
            with(|c| {
                c.attributes.insert("big".into(), "x".repeat(2000));
            }),
        ),
        (
            "customer.display_name",
            with(|c| c.display_name = "x".repeat(300)),
        ),
        ("customer.owner", with(|c| c.owner = "tab\there".into())),
        (
            "customer.organization_id",
            with(|c| c.organization_id = "not-an-id".into()),
        ),
        (
            "customer.organization_id",
            with(|c| c.organization_id = "00000000000000ff".into()),
        ),
        (
            "customer.organization_id",
            with(|c| c.organization_id = existing.id.clone()),
        ),
        ("customer.lifecycle_stage", with(|c| c.lifecycle_stage = 99)),
        (
            "customer.consent.profiling.time",
            with(|c| {
                c.consent = Some(pb::Consent {
                    profiling: Some(pb::ConsentDecision {
                        granted: true,
                        time: far_future(),
                        pending: false,
                    }),
                    ..Default::default()
                })
            }),
        ),
        (
            "customer.consent.sms_marketing.time",
            with(|c| {
                c.consent = Some(pb::Consent {
                    sms_marketing: Some(pb::ConsentDecision {
                        granted: true,
                        time: Some(Timestamp {
                            seconds: 0,
                            nanos: -1,
                        }),
                        pending: false,
                    }),
                    ..Default::default()
                })
            }),
        ),
        (
            "customer.person.birth_date",
            person_with(|p| p.birth_date = "23.04.1990".into()),
        ),
        (
            "customer.person.birth_date",
            person_with(|p| p.birth_date = "2999-01-01".into()),
        ),
        ("customer.person.gender", person_with(|p| p.gender = 42)),
        (
            "customer.person.income_band",
            person_with(|p| p.income_band = -3),
        ),
        (
            "customer.person.interests[0]",
            person_with(|p| p.interests = vec!["".into()]),
        ),
        (
            "customer.display_name",
            person_with(|p| p.given_name = String::new()),
        ),
        ("customer.organization.legal_name", {
            let mut o = organization("");
            o.display_name = "Has a display name".into();
            o
        }),
        (
            "customer.organization.employee_count",
            pb::Customer {
                party: Some(pb::customer::Party::Organization(pb::Organization {
                    legal_name: "Negative Ltd".into(),
                    employee_count: Some(-5),
                    ..Default::default()
                })),
                ..Default::default()
            },
        ),
        (
            "customer.organization.website",
            pb::Customer {
                party: Some(pb::customer::Party::Organization(pb::Organization {
                    legal_name: "Site Ltd".into(),
                    website: "ftp://site".into(),
                    ..Default::default()
                })),
                ..Default::default()
            },
        ),
    ];
    for (field, customer) in cases {
        let result = client
            .create_customer(pb::CreateCustomerRequest {
                customer: Some(customer),
                request_id: String::new(),
            })
            .await;
        let status = result.err().unwrap_or_else(|| panic!("{field}: accepted"));
        assert_eq!(status.code(), Code::InvalidArgument, "{field}: {status:?}");
        assert!(
            violations(&status).contains(&field.to_owned()),
            "{field}: got {:?}",
            violations(&status)
        );
    }

    let missing = client
        .create_customer(pb::CreateCustomerRequest {
            customer: None,
            request_id: String::new(),
        })
        .await;
    assert_eq!(
        violations(&missing.err().unwrap_or_else(|| panic!("accepted"))),
        ["customer"]
    );
    let bad_request_id = client
        .create_customer(pb::CreateCustomerRequest {
            customer: Some(person("R", "")),
            request_id: "has space".into(),
        })
        .await;
    assert_eq!(
        violations(&bad_request_id.err().unwrap_or_else(|| panic!("accepted"))),
        ["request_id"]
    );

    // A taken email is ALREADY_EXISTS naming the field, whatever its case.
    let dup = client
        .create_customer(pb::CreateCustomerRequest {
            customer: Some(with(|c| {
                c.emails.push(pb::Email {
                    address: "fresh@example.com".into(),
                    ..Default::default()
                });
                c.emails.push(pb::Email {
                    address: "TAKEN@example.com".into(),
                    ..Default::default()
                });
            })),
            request_id: String::new(),
        })
        .await;
    let status = dup.err().unwrap_or_else(|| panic!("accepted"));
    assert_eq!(status.code(), Code::AlreadyExists);
    assert_eq!(violations(&status), ["customer.emails[1].address"]);
    assert_eq!(reason(&status), "EMAIL_TAKEN");

    // Nothing was written by any of them.
    let all = list_all(&mut client, "", "", 0).await;
    assert_eq!(all.len(), 1);
    assert_eq!(all[0], existing);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bad_updates_deletes_lists_and_lookups_are_refused_precisely() {
    let server = TestServer::start().await;
    let mut client = server.client().await;
    let ada = create(&mut client, person("Ada", "ada@example.com")).await;
    let mut grace = person("Grace", "grace@example.com");
    grace.external_id = "erp-7".into();
    let grace = create(&mut client, grace).await;

    let update = |customer: pb::Customer, paths: &[&str]| pb::UpdateCustomerRequest {
        customer: Some(customer),
        update_mask: Some(FieldMask {
            paths: paths.iter().map(|p| p.to_string()).collect(),
        }),
        etag: String::new(),
    };
    let id = |c: &pb::Customer| pb::Customer {
        id: c.id.clone(),
        ..Default::default()
    };

    let cases: Vec<(Code, &str, pb::UpdateCustomerRequest)> = vec![
        (
            Code::InvalidArgument,
            "update_mask.paths[0]",
            update(id(&ada), &["nickname"]),
        ),
        (
            Code::InvalidArgument,
            "update_mask.paths[0]",
            update(id(&ada), &["organization.tax_id"]),
        ),
        (
            Code::InvalidArgument,
            "customer.id",
            update(pb::Customer::default(), &["owner"]),
        ),
        (
            Code::InvalidArgument,
            "customer.emails[0].address",
            update(
                with(|c| {
                    c.id = ada.id.clone();
                    c.emails.push(pb::Email {
                        address: "bad@".into(),
                        ..Default::default()
                    });
                }),
                &["emails"],
            ),
        ),
        (
            Code::InvalidArgument,
            "customer.display_name",
            update(
                with(|c| {
                    c.id = ada.id.clone();
                    c.party = Some(pb::customer::Party::Person(pb::Person::default()));
                }),
                &["person.given_name", "emails"],
            ),
        ),
        (
            Code::AlreadyExists,
            "customer.emails[0].address",
            update(
                with(|c| {
                    c.id = ada.id.clone();
                    c.emails.push(pb::Email {
                        address: "Grace@example.com".into(),
                        ..Default::default()
                    });
                }),
                &["emails"],
            ),
        ),
        (
            Code::AlreadyExists,
            "customer.external_id",
            update(
                with(|c| {
                    c.id = ada.id.clone();
                    c.external_id = "erp-7".into();
                }),
                &["external_id"],
            ),
        ),
        (
            Code::NotFound,
            "",
            update(with(|c| c.id = "00000000000000aa".into()), &["owner"]),
        ),
    ];
    for (code, field, request) in cases {
        let status = client
            .update_customer(request)
            .await
            .err()
            .unwrap_or_else(|| panic!("{field}: accepted"));
        assert_eq!(status.code(), code, "{field}: {status:?}");
        if !field.is_empty() {
            assert!(
                violations(&status).contains(&field.to_owned()),
                "{field}: got {:?}",
                violations(&status)
            );
        }
    }

    // Moving the lifecycle backward is an illegal move for an update.
    let forward = with(|c| {
        c.id = ada.id.clone();
        c.lifecycle_stage = pb::LifecycleStage::Loyalty as i32;
    });
    client
        .update_customer(update(forward, &["lifecycle_stage"]))
        .await
        .unwrap_or_else(|s| panic!("{s:?}"));
    let backward = with(|c| {
        c.id = ada.id.clone();
        c.lifecycle_stage = pb::LifecycleStage::Awareness as i32;
    });
    let status = client
        .update_customer(update(backward, &["lifecycle_stage"]))
        .await
        .err();
    assert_eq!(
        status.map(|s| (s.code(), reason(&s))),
        Some((Code::FailedPrecondition, "BACKWARD_STAGE_MOVE".into()))
    );

    let bad_lists = [
        (
            "page_size",
            pb::ListCustomersRequest {
                page_size: -1,
                ..Default::default()
            },
        ),
        (
            "filter",
            pb::ListCustomersRequest {
                filter: r#"lifecycle_stage = "NOPE""#.into(),
                ..Default::default()
            },
        ),
        (
            "filter",
            pb::ListCustomersRequest {
                filter: "nickname = x".into(),
                ..Default::default()
            },
        ),
        (
            "filter",
            pb::ListCustomersRequest {
                filter: "(owner = a".into(),
                ..Default::default()
            },
        ),
        (
            "order_by",
            pb::ListCustomersRequest {
                order_by: "nickname".into(),
                ..Default::default()
            },
        ),
        (
            "page_token",
            pb::ListCustomersRequest {
                page_token: "garbage".into(),
                ..Default::default()
            },
        ),
    ];
    for (field, request) in bad_lists {
        let status = client
            .list_customers(request)
            .await
            .err()
            .unwrap_or_else(|| panic!("{field}: accepted"));
        assert_eq!(status.code(), Code::InvalidArgument, "{field}");
        assert_eq!(violations(&status), [field]);
    }
    // A token is tied to its filter.
    let first = client
        .list_customers(pb::ListCustomersRequest {
            page_size: 1,
            ..Default::default()
        })
        .await
        .unwrap_or_else(|s| panic!("{s:?}"))
        .into_inner();
    let mismatched = client
        .list_customers(pb::ListCustomersRequest {
            page_size: 1,
            page_token: first.next_page_token,
            filter: "kind = PERSON".into(),
            ..Default::default()
        })
        .await;
    assert_eq!(code_of(mismatched), Code::InvalidArgument);

    let lookups = [
        (
            Code::InvalidArgument,
            pb::LookupCustomerRequest { key: None },
        ),
        (
            Code::InvalidArgument,
            pb::LookupCustomerRequest {
                key: Some(pb::lookup_customer_request::Key::Email("nope".into())),
            },
        ),
        (
            Code::NotFound,
            pb::LookupCustomerRequest {
                key: Some(pb::lookup_customer_request::Key::Email(
                    "nobody@example.com".into(),
                )),
            },
        ),
        (
            Code::NotFound,
            pb::LookupCustomerRequest {
                key: Some(pb::lookup_customer_request::Key::ExternalId("ERP-7".into())),
            },
        ),
    ];
    for (code, request) in lookups {
        assert_eq!(code_of(client.lookup_customer(request).await), code);
    }
    assert_eq!(
        code_of(
            client
                .get_customer(pb::GetCustomerRequest { id: "zz".into() })
                .await
        ),
        Code::InvalidArgument
    );
    assert_eq!(
        code_of(
            client
                .delete_customer(pb::DeleteCustomerRequest {
                    id: String::new(),
                    etag: String::new()
                })
                .await
        ),
        Code::InvalidArgument
    );

    // Nothing changed but Ada's one legal move.
    let after = list_all(&mut client, "", "", 0).await;
    assert_eq!(after.len(), 2);
    assert_eq!(after[0].etag, "v2");
    assert_eq!(after[0].emails, ada.emails);
    assert_eq!(after[1], grace);
}
