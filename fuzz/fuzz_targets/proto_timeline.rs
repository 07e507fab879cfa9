//! Any bytes as a timeline write or a scoring model, through conversion, validation, the
//! summary and scoring: errors, never panics. The first byte picks the message.
#![no_main]
use crm_core::timeline::{validate_interaction, validate_purchase, validate_refund};
use crm_core::{CustomerId, EntryId, Event, Summary, TimelineEntry};
use crm_grpc::convert as convert;
use crm_grpc::pb;
use prost::Message;

fn entry(event: Event, micros: i64) -> TimelineEntry {
    let at = chrono::DateTime::from_timestamp_micros(micros).unwrap_or_default();
    TimelineEntry {
        id: EntryId(1),
        customer_id: CustomerId(1),
        occurred_at: at,
        recorded_at: at,
        actor: String::new(),
        event,
    }
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Some((&which, body)) = data.split_first() else {
        return;
    };
    let mut summary = Summary::default();
    match which % 4 {
        0 => {
            if let Ok(p) = pb::Purchase::decode(body)
                && let Ok(mut p) = convert::purchase_from_proto(p)
                && validate_purchase(&mut p).is_ok()
            {
                let e = entry(Event::Purchase(p), i64::from(which) << 40);
                let _ = summary.apply(&e);
                let _ = summary.apply(&e);
            }
        }
        1 => {
            if let Ok(i) = pb::Interaction::decode(body)
                && let Ok(mut i) = convert::interaction_from_proto(i)
                && validate_interaction(&mut i).is_ok()
            {
                let _ = summary.apply(&entry(Event::Interaction(i), i64::from(which) << 48));
            }
        }
        2 => {
            if let Ok(r) = pb::Refund::decode(body)
                && let Ok(mut r) = convert::refund_from_proto(r)
            {
                let _ = validate_refund(&mut r);
            }
        }
        _ => {
            if let Ok(m) = pb::ScoringModel::decode(body)
                && let Ok(mut model) = convert::model_from_proto(m)
                && model.validate().is_ok()
            {
                let _ = convert::model_to_proto(&model);
                let customer = crm_core::Customer {
                    id: CustomerId(1),
                    create_time: chrono::DateTime::UNIX_EPOCH,
                    update_time: chrono::DateTime::UNIX_EPOCH,
                    version: 1,
                    data: crm_core::CustomerData::new(crm_core::Party::Person(
                        crm_core::Person::default(),
                    )),
                    erased: None,
                };
                summary
                    .engagement
                    .insert(crm_core::InteractionKind::Call, vec![i64::MIN, 0, i64::MAX]);
                let score = model.score(&customer, &summary, chrono::Utc::now());
                assert!(score.score <= 100);
            }
        }
    }
});
