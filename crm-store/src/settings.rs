//! Store-wide settings (the SLA policy, the business calendar, the loyalty program): data
//! replaced whole, versioned, guarded by an etag (`v` and the version), every change in the
//! configuration trail. A setting never set reads as its type's default at version 0.

use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

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

fn or_default<T: Default>(stored: Option<Configured<T>>) -> Configured<T> {
    stored.unwrap_or(Configured {
        version: 0,
        update_time: None,
        value: T::default(),
    })
}

pub(crate) fn read<T>(w: &mut Write<'_>, key: &[u8]) -> Result<Configured<T>>
where
    T: Default + Serialize + DeserializeOwned,
    Configured<T>: Stored,
{
    Ok(or_default(w.read(key, &|| keys::describe(key))?))
}

pub(crate) fn load<T>(store: &crate::Store, key: &[u8]) -> Result<Configured<T>>
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
    pub(crate) fn replace_setting<T>(
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
