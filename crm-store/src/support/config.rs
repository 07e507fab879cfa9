//! The SLA policy and the business calendar: store-wide data, versioned, replaced whole with an
//! etag (`v` and the version), every change in the configuration trail. A ticket's clocks are
//! computed with the policy and calendar in force when it is written ([`crm_core::support::sla`]).

use crm_core::support::{BusinessCalendar, SlaPolicy};

use super::Support;
use crate::error::Result;
use crate::kv::codec::Stored;
use crate::kv::keys;
pub use crate::settings::Configured;
use crate::settings::{load, read};
use crate::write::Write;

impl Stored for Configured<SlaPolicy> {}
impl Stored for Configured<BusinessCalendar> {}

impl Write<'_> {
    /// The SLA policy in force, as this write sees it.
    pub(crate) fn sla_policy(&mut self) -> Result<Configured<SlaPolicy>> {
        read(self, keys::META_SLA_POLICY)
    }

    /// The business calendar in force, as this write sees it.
    pub(crate) fn business_calendar(&mut self) -> Result<Configured<BusinessCalendar>> {
        read(self, keys::META_CALENDAR)
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
            w.replace_setting(
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
            w.replace_setting(
                keys::META_CALENDAR,
                &calendar,
                etag,
                "UpdateBusinessCalendar",
                "business calendar",
            )
        })
    }
}
