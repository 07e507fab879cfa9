//! The audit trail and API keys as `crm.v1` messages.

use super::time_to_proto;
use crate::pb;

/// An audit event as a message.
pub fn audit_event_to_proto(e: &crm_store::AuditEvent) -> pb::AuditEvent {
    pb::AuditEvent {
        seq: e.seq,
        time: Some(time_to_proto(e.time)),
        actor: e.actor.clone(),
        operation: e.operation.clone(),
        customer_id: e.customer_id.map(|id| id.to_string()).unwrap_or_default(),
        fields: e.fields.clone(),
        request_id: e.request_id.clone().unwrap_or_default(),
        subject: e.subject.clone(),
    }
}

/// A role as its contract value.
pub fn role_to_proto(role: crate::keys::Role) -> pb::Role {
    match role {
        crate::keys::Role::Reader => pb::Role::Reader,
        crate::keys::Role::Writer => pb::Role::Writer,
        crate::keys::Role::Admin => pb::Role::Admin,
    }
}

/// A contract role value as a role, if it names one.
pub fn role_from_proto(role: i32) -> Option<crate::keys::Role> {
    match pb::Role::try_from(role).ok()? {
        pb::Role::Unspecified => None,
        pb::Role::Reader => Some(crate::keys::Role::Reader),
        pb::Role::Writer => Some(crate::keys::Role::Writer),
        pb::Role::Admin => Some(crate::keys::Role::Admin),
    }
}

/// An API key record (never its secret) as a message.
pub fn api_key_to_proto(k: &crate::keys::KeyRecord) -> pb::ApiKey {
    pb::ApiKey {
        name: k.name.clone(),
        role: role_to_proto(k.role) as i32,
        create_time: Some(time_to_proto(k.created)),
        revoke_time: k.revoked.map(time_to_proto),
    }
}
