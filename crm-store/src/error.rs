//! The one error type of the store, shaped by what a caller can do about each case.

use crm_core::{CustomerId, Violations};

/// What can go wrong in a store call.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The input is invalid; every violation names its field. Nothing was written.
    #[error(transparent)]
    Invalid(#[from] Violations),

    /// The customer (or the email or external id looked up) does not exist.
    #[error("{what} {key} not found")]
    NotFound {
        /// What was looked for (`customer`, `email`, `external_id`).
        what: &'static str,
        /// The key looked up.
        key: String,
    },

    /// A unique field (`emails[i].address`, `external_id`) already belongs to another customer.
    /// Nothing was written.
    #[error("{field} {value:?} already belongs to customer {existing}")]
    AlreadyExists {
        /// The field path in the request.
        field: String,
        /// The conflicting value.
        value: String,
        /// The customer that has it.
        existing: CustomerId,
    },

    /// The caller's etag is not the current one: someone else changed the customer first.
    /// Read it again and retry. Nothing was written.
    #[error("etag {given:?} is stale: the customer is now at {current:?}")]
    Aborted {
        /// The etag the caller sent.
        given: String,
        /// The current etag.
        current: String,
    },

    /// The request is valid but the store's state does not allow it (for example deleting an
    /// organization that people still belong to). Nothing was written.
    #[error("{message}")]
    FailedPrecondition {
        /// A stable, machine-readable reason (`ORGANIZATION_HAS_MEMBERS`).
        reason: &'static str,
        /// What is wrong and what to do, for a person.
        message: String,
    },

    /// Stored bytes could not be decoded: the record at `key` is damaged or of an unknown
    /// format version. Other records are unaffected.
    #[error("stored data is damaged at {key}: {detail}")]
    Corrupt {
        /// The damaged key, printable.
        key: String,
        /// What the decoder found.
        detail: String,
    },

    /// The data directory is in use by another process (another server or program).
    #[error("the data directory {path} is in use by another process")]
    Locked {
        /// The data directory.
        path: String,
    },

    /// The data directory holds a format this version does not read.
    #[error("the data directory has format version {found}; this build reads version {supported}")]
    UnsupportedFormat {
        /// The version found on disk.
        found: String,
        /// The version this build reads and writes.
        supported: u8,
    },

    /// The write was applied but could not be made durable: the disk refused the flush. Treat
    /// the outcome as unknown and check the disk.
    #[error("write applied but not made durable: {0}")]
    Durability(String),

    /// The storage engine or the file system failed.
    #[error("storage failure: {0}")]
    Storage(String),
}

impl StoreError {
    pub(crate) fn not_found(what: &'static str, key: impl ToString) -> Self {
        StoreError::NotFound {
            what,
            key: key.to_string(),
        }
    }
}

/// A store result.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;
