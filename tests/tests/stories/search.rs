//! A support agent finds customers the way people type: without Turkish letters, in any case,
//! by a piece of a name, an email or a local phone number; a write is found at once, a delete
//! or a rename is gone at once.

use crm_tests::*;
use tonic::Code;

async fn search(client: &mut Client, query: &str) -> Vec<(String, i32)> {
    let mut out = Vec::new();
    let mut page_token = String::new();
    loop {
        let page = client
            .search_customers(pb::SearchCustomersRequest {
                query: query.into(),
                page_size: 2,
                page_token,
            })
            .await
            .unwrap_or_else(|s| panic!("search {query:?}: {s:?}"))
            .into_inner();
        out.extend(page.results.into_iter().map(|r| {
            let c = r.customer.unwrap_or_default();
            (c.display_name, r.score)
        }));
        if page.next_page_token.is_empty() {
            return out;
        }
        page_token = page.next_page_token;
    }
}

fn names(results: &[(String, i32)]) -> Vec<&str> {
    results.iter().map(|(n, _)| n.as_str()).collect()
}

#[tokio::test]
async fn customers_are_found_by_what_people_type() {
    let server = TestServer::start().await;
    let mut client = server.client().await;
    let mut ayse = person("Ayşe", "ayse.yilmaz@example.com.tr");
    if let Some(pb::customer::Party::Person(p)) = &mut ayse.party {
        p.family_name = "Yılmaz".into();
    }
    ayse.phones = vec![pb::Phone {
        number: "+90 532 123 45 67".into(),
        label: "mobile".into(),
    }];
    let ayse = create(&mut client, ayse).await;
    create(&mut client, organization("Müşteri Hizmetleri A.Ş.")).await;
    create(&mut client, organization("İstanbul Lojistik")).await;
    create(&mut client, organization("Istanbul Bakery")).await;
    create(&mut client, person("Işık", "isik@example.com")).await;
    create(&mut client, person("Ayla", "ayla@example.com")).await;

    assert_eq!(
        names(&search(&mut client, "musteri").await),
        ["Müşteri Hizmetleri A.Ş."]
    );
    assert_eq!(
        names(&search(&mut client, "istanbul").await),
        ["İstanbul Lojistik", "Istanbul Bakery"],
        "both spellings of the city, in creation order"
    );
    assert_eq!(names(&search(&mut client, "ISIK").await), ["Işık"]);
    assert_eq!(
        names(&search(&mut client, "ayse yilmaz").await),
        ["Ayşe Yılmaz"]
    );
    assert_eq!(
        names(&search(&mut client, "0532 123 45 67").await),
        ["Ayşe Yılmaz"],
        "a local number"
    );
    // A whole word ranks above a word's start: "ay" starts both, "ayla" is whole for one.
    assert_eq!(search(&mut client, "ayla").await, [("Ayla".to_string(), 2)]);
    let ay = search(&mut client, "ay").await;
    assert_eq!(names(&ay), ["Ayşe Yılmaz", "Ayla"]);
    assert!(ay.iter().all(|(_, score)| *score == 1));
    assert!(search(&mut client, "nobody").await.is_empty());

    // The index follows every write at once.
    client
        .update_customer(pb::UpdateCustomerRequest {
            customer: Some(pb::Customer {
                id: ayse.id.clone(),
                display_name: "Ayşe Demir".into(),
                ..Default::default()
            }),
            update_mask: Some(prost_types::FieldMask {
                paths: vec!["display_name".into()],
            }),
            etag: String::new(),
        })
        .await
        .unwrap_or_else(|s| panic!("{s:?}"));
    assert_eq!(names(&search(&mut client, "demir").await), ["Ayşe Demir"]);
    client
        .delete_customer(pb::DeleteCustomerRequest {
            id: ayse.id,
            etag: String::new(),
        })
        .await
        .unwrap_or_else(|s| panic!("{s:?}"));
    assert!(search(&mut client, "demir").await.is_empty());

    let empty = client
        .search_customers(pb::SearchCustomersRequest {
            query: " ... ".into(),
            ..Default::default()
        })
        .await;
    let empty = empty
        .err()
        .unwrap_or_else(|| panic!("an empty query was accepted"));
    assert_eq!(
        (empty.code(), violations(&empty)),
        (Code::InvalidArgument, vec!["query".to_string()])
    );
    server.stop().await;
}
