//! A shop starts a points program over gRPC. A customer born in January buys in January (its
//! points and a birthday bonus arrive with the purchase), reaches SILVER, redeems a reward,
//! gets a refund that takes its points back, and a year on the rest expire and, after the grace
//! period, SILVER goes. Redeeming too much, an unknown reward, a reward out of stock, a negative
//! rate and overlapping tiers get their codes and change nothing.

use crm_tests::*;
use pb::loyalty_service_client::LoyaltyServiceClient;
use pb::timeline_service_client::TimelineServiceClient;
use tonic::Code;
use tonic::transport::Channel;

type Loyalty = LoyaltyServiceClient<Channel>;

fn program() -> pb::LoyaltyProgram {
    let try_rate = pb::CurrencyRate {
        currency_code: "TRY".into(),
        minor_per_point: 100,
    };
    let tier = |name: &str, threshold, earn_percent| pb::LoyaltyTier {
        name: name.into(),
        threshold,
        earn_percent,
    };
    pb::LoyaltyProgram {
        earn_rates: vec![try_rate.clone()],
        birthday_month_bonus: 100,
        expiry_months: 12,
        tiers: vec![
            tier("BRONZE", 0, 100),
            tier("SILVER", 1_000, 125),
            tier("GOLD", 5_000, 150),
        ],
        window_days: 365,
        grace_days: 30,
        point_values: vec![try_rate],
        ..Default::default()
    }
}

async fn account(loyalty: &mut Loyalty, id: &str) -> pb::LoyaltyAccount {
    loyalty
        .get_loyalty_account(pb::GetLoyaltyAccountRequest {
            customer_id: id.into(),
            as_of: None,
        })
        .await
        .unwrap_or_else(|s| panic!("account: {s:?}"))
        .into_inner()
}

#[tokio::test]
async fn a_member_earns_climbs_redeems_is_refunded_and_expires() {
    let clock = crm_store::ManualClock::new(at("2026-01-10T10:00:00Z"));
    let server = TestServer::start_with_clock(clock.clone()).await;
    let mut customers = server.client().await;
    let mut timeline = TimelineServiceClient::new(server.channel().await);
    let mut loyalty = LoyaltyServiceClient::new(server.channel().await);
    let set = loyalty
        .update_loyalty_program(pb::UpdateLoyaltyProgramRequest {
            program: Some(program()),
            etag: String::new(),
        })
        .await
        .unwrap_or_else(|s| panic!("program: {s:?}"))
        .into_inner();
    assert_eq!(set.etag, "v1");

    let mut ayse = person("Ayşe", "ayse@example.com.tr");
    if let Some(pb::customer::Party::Person(p)) = &mut ayse.party {
        p.birth_date = "1990-01-23".into();
    }
    let ayse = create(&mut customers, ayse).await;
    timeline
        .record_purchase(pb::RecordPurchaseRequest {
            customer_id: ayse.id.clone(),
            purchase: Some(pb::Purchase {
                order_ref: "SO-1".into(),
                amount: Some(pb::Money {
                    currency_code: "TRY".into(),
                    amount_minor: 150_000,
                }),
                line_items: vec![],
            }),
            ..Default::default()
        })
        .await
        .unwrap_or_else(|s| panic!("buy: {s:?}"));
    let now = account(&mut loyalty, &ayse.id).await;
    assert_eq!(
        (now.balance, now.tier.as_str()),
        (1_600, "SILVER"),
        "1,500 + a birthday 100"
    );
    assert_eq!((now.next_tier.as_str(), now.to_next_tier), ("GOLD", 3_500));

    let mug = loyalty
        .create_reward(pb::CreateRewardRequest {
            reward: Some(pb::Reward {
                name: "Kupa".into(),
                cost_points: 400,
                stock: Some(1),
                ..Default::default()
            }),
        })
        .await
        .unwrap_or_else(|s| panic!("reward: {s:?}"))
        .into_inner();
    let redeemed = loyalty
        .redeem_reward(pb::RedeemRewardRequest {
            customer_id: ayse.id.clone(),
            reward_id: mug.id.clone(),
        })
        .await
        .unwrap_or_else(|s| panic!("redeem: {s:?}"))
        .into_inner();
    assert_eq!(redeemed.account.map(|a| a.balance), Some(1_200));
    assert_eq!(redeemed.reward.and_then(|r| r.stock), Some(0));

    // Refused: out of stock, unknown, too much; nothing moves.
    let redeem = |reward: &str| pb::RedeemRewardRequest {
        customer_id: ayse.id.clone(),
        reward_id: reward.into(),
    };
    refused(
        loyalty.redeem_reward(redeem(&mug.id)).await,
        Code::FailedPrecondition,
        "REWARD_OUT_OF_STOCK",
    );
    refused(
        loyalty.redeem_reward(redeem("999")).await,
        Code::NotFound,
        "REWARD_NOT_FOUND",
    );
    let status = refused(
        loyalty
            .redeem_points(pb::RedeemPointsRequest {
                customer_id: ayse.id.clone(),
                points: 5_000,
            })
            .await,
        Code::FailedPrecondition,
        "INSUFFICIENT_POINTS",
    );
    assert!(status.message().contains("1200"), "{status:?}");
    assert_eq!(account(&mut loyalty, &ayse.id).await.balance, 1_200);

    // A refund of 200 TL takes back the 200 points it earned.
    timeline
        .record_refund(pb::RecordRefundRequest {
            customer_id: ayse.id.clone(),
            refund: Some(pb::Refund {
                order_ref: "SO-1".into(),
                amount: Some(pb::Money {
                    currency_code: "TRY".into(),
                    amount_minor: 20_000,
                }),
                reason: "one item back".into(),
            }),
            ..Default::default()
        })
        .await
        .unwrap_or_else(|s| panic!("refund: {s:?}"));
    assert_eq!(account(&mut loyalty, &ayse.id).await.balance, 1_000);
    let entries = loyalty
        .list_loyalty_entries(pb::ListLoyaltyEntriesRequest {
            customer_id: ayse.id.clone(),
            kinds: vec![pb::LedgerEntryKind::LedgerReverse as i32],
            ..Default::default()
        })
        .await
        .unwrap_or_else(|s| panic!("entries: {s:?}"))
        .into_inner()
        .entries;
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].points, -200);

    // Filters read the standing at the instant of the listing.
    let ids = |list: Vec<pb::Customer>| list.into_iter().map(|c| c.id).collect::<Vec<_>>();
    let silver = list_all(&mut customers, r#"loyalty.tier = "SILVER""#, "", 10).await;
    assert_eq!(ids(silver), std::slice::from_ref(&ayse.id));
    let rich = list_all(&mut customers, "loyalty.points >= 1000", "", 10).await;
    assert_eq!(ids(rich), std::slice::from_ref(&ayse.id));
    let expiring = list_all(&mut customers, "loyalty.expiring_30d > 0", "", 10).await;
    assert!(expiring.is_empty(), "nothing expires within 30 days yet");
    clock.set(at("2026-12-20T10:00:00Z"));
    let expiring = list_all(&mut customers, "loyalty.expiring_30d > 0", "", 10).await;
    assert_eq!(
        ids(expiring),
        std::slice::from_ref(&ayse.id),
        "the lot of 2026-01-10 expires within 30 days"
    );

    // A year on, the rest expire; SILVER stays for the 30-day grace, then goes.
    clock.set(at("2027-01-10T10:00:01Z"));
    let later = account(&mut loyalty, &ayse.id).await;
    assert_eq!((later.balance, later.tier.as_str()), (0, "SILVER"));
    clock.set(at("2027-02-09T10:00:01Z"));
    assert_eq!(account(&mut loyalty, &ayse.id).await.tier, "BRONZE");

    let report = loyalty
        .get_loyalty_report(pb::GetLoyaltyReportRequest {
            as_of: None,
            period_start: Some(prost_types::Timestamp {
                seconds: at("2026-01-01T00:00:00Z").timestamp(),
                nanos: 0,
            }),
        })
        .await
        .unwrap_or_else(|s| panic!("report: {s:?}"))
        .into_inner();
    assert_eq!(report.members, 1);
    assert_eq!(
        (
            report.points_issued,
            report.points_redeemed,
            report.points_reversed,
            report.points_expired
        ),
        (1_600, 400, 200, 1_000),
        "{report:?}"
    );
    assert_eq!(report.points_outstanding, 0);
    assert_eq!(report.redemption_rate_percent, Some(25.0));
    assert_eq!(
        report.by_tier.first().map(|t| t.tier.as_str()),
        Some("BRONZE")
    );
}

#[tokio::test]
async fn bad_programs_change_nothing() {
    let server = TestServer::start().await;
    let mut loyalty = LoyaltyServiceClient::new(server.channel().await);
    let mut bad = program();
    bad.earn_rates[0].minor_per_point = -100;
    bad.tiers[2].threshold = 1_000;
    let status = refused(
        loyalty
            .update_loyalty_program(pb::UpdateLoyaltyProgramRequest {
                program: Some(bad),
                etag: String::new(),
            })
            .await,
        Code::InvalidArgument,
        "INVALID_ARGUMENT",
    );
    assert_eq!(
        violations(&status),
        [
            "program.earn_rates[0].minor_per_point",
            "program.tiers[2].threshold"
        ]
    );
    let in_force = loyalty
        .get_loyalty_program(pb::GetLoyaltyProgramRequest {})
        .await
        .unwrap_or_else(|s| panic!("{s:?}"))
        .into_inner();
    assert_eq!(in_force.version, 0, "no program was set");
}
