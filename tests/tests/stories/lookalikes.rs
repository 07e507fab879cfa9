//! Text a person cannot tell apart is stored alike, or refused: invisible and
//! direction-changing characters are refused in emails and names, and every text is kept in
//! Unicode NFC, so an accent typed two ways is one email, one name, one search word.

#![allow(clippy::panic)]

use crm_tests::*;
use tonic::Code;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_email_or_name_with_invisible_or_direction_changing_characters_is_refused() {
    let server = TestServer::start().await;
    let mut client = server.client().await;
    create(&mut client, person("Ada", "ada@example.com")).await;
    for (what, email) in [
        ("a zero-width space", "ada\u{200B}@example.com"),
        ("a right-to-left override", "\u{202E}ada@example.com"),
        ("a byte-order mark", "ada@example.com\u{FEFF}"),
        ("a left-to-right isolate", "ada@exa\u{2066}mple.com"),
        ("a zero-width joiner", "ada\u{200D}@example.com"),
    ] {
        let status = try_create(&mut client, person("Ada Again", email))
            .await
            .err()
            .unwrap_or_else(|| panic!("an email with {what} was accepted"));
        assert_eq!(status.code(), Code::InvalidArgument, "{what}");
        assert_eq!(
            violations(&status),
            ["customer.emails[0].address"],
            "{what}"
        );
    }
    let mut spoofed = person("Ada", "");
    spoofed.display_name = "Ada \u{202E}nimda".into();
    let status = try_create(&mut client, spoofed).await.err();
    let status = status.unwrap_or_else(|| panic!("a name with an override was accepted"));
    assert_eq!(violations(&status), ["customer.display_name"]);
    // Nothing of it was written: Ada is still the only customer.
    assert_eq!(list_all(&mut client, "", "", 0).await.len(), 1);

    // The joiners Persian and emoji text need are kept in names.
    let persian = create(
        &mut client,
        person(
            "\u{645}\u{647}\u{62F}\u{6CC}\u{200C}\u{632}\u{627}\u{62F}\u{647}",
            "",
        ),
    )
    .await;
    assert!(display(&persian).contains('\u{200C}'));
}

fn display(c: &pb::Customer) -> String {
    match &c.party {
        Some(pb::customer::Party::Person(p)) => p.given_name.clone(),
        _ => c.display_name.clone(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_accent_typed_two_ways_is_one_email_one_name_and_one_search_word() {
    let server = TestServer::start().await;
    let mut client = server.client().await;
    // "josé" with a combining acute accent (e + U+0301).
    let jose = create(
        &mut client,
        person("Jose\u{301}", "jose\u{301}@example.com"),
    )
    .await;
    assert_eq!(display(&jose), "Jos\u{e9}", "the name is stored in NFC");
    assert_eq!(jose.emails[0].address, "jos\u{e9}@example.com");
    // The same email typed with the precomposed é is the same email.
    let status = try_create(&mut client, person("Other", "jos\u{e9}@example.com"))
        .await
        .err()
        .unwrap_or_else(|| panic!("a second customer took the same email"));
    assert_eq!(status.code(), Code::AlreadyExists);
    let found = client
        .lookup_customer(pb::LookupCustomerRequest {
            key: Some(pb::lookup_customer_request::Key::Email(
                "JOSE\u{301}@example.com".into(),
            )),
        })
        .await
        .unwrap_or_else(|s| panic!("{s:?}"))
        .into_inner();
    assert_eq!(found.id, jose.id);
    // Search folds both spellings to one word.
    for query in ["jose", "jos\u{e9}", "jose\u{301}"] {
        let page = client
            .search_customers(pb::SearchCustomersRequest {
                query: query.into(),
                ..Default::default()
            })
            .await
            .unwrap_or_else(|s| panic!("{s:?}"))
            .into_inner();
        let ids: Vec<_> = page
            .results
            .iter()
            .filter_map(|r| r.customer.as_ref().map(|c| c.id.clone()))
            .collect();
        assert_eq!(ids, std::slice::from_ref(&jose.id), "{query:?}");
    }
}
