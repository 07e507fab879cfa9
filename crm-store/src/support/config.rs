//! The SLA policy and the business calendar: store-wide data, versioned, replaced whole with an
//! etag (`v` and the version), every change in the configuration trail. A ticket's clocks are
//! computed with the policy and calendar in force when it is written ([`crm_core::support::sla`]).

use chrono::{DateTime, Utc};
use crm_core::support::{BusinessCalendar, SlaPolicy};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::Support;
use crate::error::Result;
use crate::kv::codec::{self, Stored};
use crate::kv::keys;
use crate::write::Write;

/// A store-wide setting with its version.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Configured<T> {
    /// 0 for the default, never set; bumped by every change.
    pub version: u64,
    /// When it was last set.
    #[serde(with = "crm_core::summary::opt_micros")]
    pub update_time: Option<DateTime<Utc>>,
    /// The setting.
    pub value: T,
}

impl<T> Configured<T> {
    /// The etag: `v` and the version.
    pub fn etag(&self) -> String {
        format!("v{}", self.version)
    }
}

impl Stored for Configured<SlaPolicy> {}
impl Stored for Configured<BusinessCalendar> {}

fn or_default<T: Default>(stored: Option<Configured<T>>) -> Configured<T> {
    stored.unwrap_or(Configured {
        version: 0,
        update_time: None,
        value: T::default(),
    })
}

fn read<T>(w: &mut Write<'_>, key: &[u8]) -> Result<Configured<T>>
where
    T: Default + Serialize + DeserializeOwned,
    Configured<T>: Stored,
{
    Ok(or_default(w.read(key, &|| keys::describe(key))?))
}

fn load<T>(store: &crate::Store, key: &[u8]) -> Result<Configured<T>>
where
    T: Default + Serialize + DeserializeOwned,
    Configured<T>: Stored,
{
    let stored = match store.inner.engine.get(key)? {
        Some(bytes) => Some(codec::decode(&bytes, &|| keys::describe(key))?),
        None => None,
    };
    Ok(or_default(stored))
}

impl Write<'_> {
    /// The SLA policy in force, as this write sees it.
    pub(crate) fn sla_policy(&mut self) -> Result<Configured<SlaPolicy>> {
        read(self, keys::META_SLA_POLICY)
    }

    /// The business calendar in force, as this write sees it.
    pub(crate) fn business_calendar(&mut self) -> Result<Configured<BusinessCalendar>> {
        read(self, keys::META_CALENDAR)
    }

    fn replace<T>(
        &mut self,
        key: &[u8],
        value: &T,
        etag: Option<&str>,
        operation: &str,
        subject: &str,
    ) -> Result<Configured<T>>
    where
        T: Clone + Default + PartialEq + Serialize + DeserializeOwned,
        Configured<T>: Stored,
    {
        let current: Configured<T> = read(self, key)?;
        crate::customers::check_etag(&current.etag(), etag)?;
        let next = Configured {
            version: current.version + 1,
            update_time: Some(self.store.now()),
            value: value.clone(),
        };
        self.put_raw(key, codec::encode(&next)?);
        let fields = if current.value == next.value {
            Vec::new()
        } else {
            vec![subject.replace(' ', "_")]
        };
        self.log_configuration(operation, subject.into(), fields)?;
        Ok(next)
    }
}

impl Support<'_> {
    /// The SLA policy in force (version 0: none set, no targets).
    pub fn sla_policy(&self) -> Result<Configured<SlaPolicy>> {
        load(self, keys::META_SLA_POLICY)
    }

    /// Replaces the SLA policy; with `etag`, only if it is still that version. Tickets follow
    /// it from their next write.
    ///
    /// Errors: [`crate::StoreError::Invalid`] (a zero or negative target, a priority twice, a
    /// share outside 1-99), [`crate::StoreError::Aborted`].
    pub fn update_sla_policy(
        &self,
        mut policy: SlaPolicy,
        etag: Option<&str>,
    ) -> Result<Configured<SlaPolicy>> {
        policy.validate().map_err(|v| v.prefixed("policy"))?;
        self.write(|w| {
            w.replace(
                keys::META_SLA_POLICY,
                &policy,
                etag,
                "UpdateSlaPolicy",
                "sla policy",
            )
        })
    }

    /// The business calendar in force (version 0: none set, around the clock in UTC).
    pub fn business_calendar(&self) -> Result<Configured<BusinessCalendar>> {
        load(self, keys::META_CALENDAR)
    }

    /// Replaces the business calendar; with `etag`, only if it is still that version. Tickets
    /// follow it from their next write.
    ///
    /// Errors: [`crate::StoreError::Invalid`] (an unknown zone, overlapping or empty hours, a
    /// holiday twice), [`crate::StoreError::Aborted`].
    pub fn update_business_calendar(
        &self,
        mut calendar: BusinessCalendar,
        etag: Option<&str>,
    ) -> Result<Configured<BusinessCalendar>> {
        calendar.validate().map_err(|v| v.prefixed("calendar"))?;
        self.write(|w| {
            w.replace(
                keys::META_CALENDAR,
                &calendar,
                etag,
                "UpdateBusinessCalendar",
                "business calendar",
            )
        })
    }
}
