//! An importer says since when a customer is one: customer_since goes in and comes back, may be
//! updated with a mask, and is refused in the future.

#![allow(clippy::panic)]

use crm_tests::*;
use tonic::Code;

fn time(seconds: i64) -> prost_types::Timestamp {
    prost_types::Timestamp { seconds, nanos: 0 }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn customer_since_is_kept_updated_and_never_in_the_future() {
    let server = TestServer::start().await;
    let mut client = server.client().await;
    let mut imported = person("Filiz", "");
    imported.customer_since = Some(time(1_557_000_000)); // 2019-05-04
    let created = create(&mut client, imported).await;
    assert_eq!(created.customer_since, Some(time(1_557_000_000)));

    let mut patch = created.clone();
    patch.customer_since = Some(time(1_500_000_000));
    let updated = client
        .update_customer(pb::UpdateCustomerRequest {
            customer: Some(patch),
            update_mask: Some(prost_types::FieldMask {
                paths: vec!["customer_since".into()],
            }),
            ..Default::default()
        })
        .await
        .unwrap_or_else(|s| panic!("{s:?}"))
        .into_inner();
    assert_eq!(updated.customer_since, Some(time(1_500_000_000)));

    let mut future = person("Later", "");
    future.customer_since = Some(time(4_000_000_000));
    let status = try_create(&mut client, future)
        .await
        .err()
        .unwrap_or_else(|| panic!("a customer-since in the future was accepted"));
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(violations(&status), ["customer.customer_since"]);
}
