//! The one error type of the store, shaped by what a caller can do about each case.

use crm_core::{CustomerId, LifecycleStage, SegmentId, Violations};

use crate::engine::EngineError;

/// What a store call can fail with.
#[derive(Debug, thiserror::Error)]
#[cfg_attr(not(feature = "exhaustive-errors"), non_exhaustive)]
pub enum StoreError {
    /// The input is invalid; every violation names its field. Nothing was written.
    #[error(transparent)]
    Invalid(#[from] Violations),

    /// What was asked for does not exist.
    #[error("{0} not found")]
    NotFound(Resource),

    /// A unique field already belongs to another record. Nothing was written.
    #[error("{field} {value:?} already belongs to {existing}")]
    AlreadyExists {
        /// The field of the request whose value is taken.
        field: UniqueField,
        /// The value.
        value: String,
        /// The record that holds it (its id).
        existing: String,
    },

    /// The caller's etag is not the current one: someone else changed the record first.
    /// Read it again and retry. Nothing was written.
    #[error("etag {given:?} is stale: the record is now at {current:?}")]
    Aborted {
        /// The etag the caller sent.
        given: String,
        /// The current etag.
        current: String,
    },

    /// The request is valid but the store's state does not allow it. Nothing was written.
    #[error("{0}")]
    FailedPrecondition(Precondition),

    /// Stored bytes could not be decoded: the record at `key` is damaged or of an unknown
    /// format version. Other records are unaffected.
    #[error("stored data is damaged at {key}: {detail}")]
    Corrupt {
        /// The damaged key, printable.
        key: String,
        /// What the decoder found.
        detail: String,
    },

    /// The engine holds less than the store acknowledged (its files were damaged, truncated or
    /// replaced): the store is refused rather than served at an older state. See
    /// [`crate::StoreConfig::accept_data_loss`].
    #[error("acknowledged data is missing: {detail}")]
    DataLoss {
        /// What is missing, and what to do.
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

    /// The write kept conflicting with concurrent writes and was given up. Nothing was
    /// written: run it again.
    #[error("the write conflicted with concurrent writes; nothing was written, run it again")]
    Conflict,

    /// The write was committed but could not be made durable: the disk refused the flush.
    /// Treat the outcome as unknown and check the disk.
    #[error("write applied but not made durable: {0}")]
    Durability(String),

    /// The storage engine failed.
    #[error("storage engine failure: {0}")]
    Engine(#[source] EngineError),

    /// A backup file cannot be restored: it is not a backup, it is truncated, its checksum does
    /// not match, or its format is newer than this build. Nothing was restored.
    #[error("bad backup: {detail}")]
    BadBackup {
        /// What is wrong with it.
        detail: String,
    },

    /// A file outside the engine (a backup being written or read) failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },

    /// A record reached one of its limits (a ticket's moves or messages). Nothing was written.
    #[error("{0}")]
    LimitReached(String),

    /// Something else around the engine failed (encoding, a thread that could not start).
    #[error("storage failure: {0}")]
    Storage(String),
}

impl From<EngineError> for StoreError {
    fn from(e: EngineError) -> Self {
        match e {
            EngineError::Conflict => StoreError::Conflict,
            EngineError::Locked { path } => StoreError::Locked { path },
            EngineError::Corrupt { detail } => StoreError::Corrupt {
                key: "engine".into(),
                detail,
            },
            other => StoreError::Engine(other),
        }
    }
}

impl StoreError {
    /// A copy of an error about an item ([`StoreError::is_about_the_item`]); any other error
    /// as [`StoreError::Storage`] with its message.
    pub(crate) fn clone_for_item(&self) -> StoreError {
        match self {
            StoreError::Invalid(v) => StoreError::Invalid(v.clone()),
            StoreError::NotFound(r) => StoreError::NotFound(r.clone()),
            StoreError::AlreadyExists {
                field,
                value,
                existing,
            } => StoreError::AlreadyExists {
                field: *field,
                value: value.clone(),
                existing: existing.clone(),
            },
            StoreError::Aborted { given, current } => StoreError::Aborted {
                given: given.clone(),
                current: current.clone(),
            },
            StoreError::FailedPrecondition(p) => StoreError::FailedPrecondition(p.clone()),
            StoreError::LimitReached(m) => StoreError::LimitReached(m.clone()),
            other => StoreError::Storage(other.to_string()),
        }
    }

    /// Whether the error is about what a caller asked for (it can fail one item of a batch
    /// and leave the others), not about the store.
    pub fn is_about_the_item(&self) -> bool {
        matches!(
            self,
            StoreError::Invalid(_)
                | StoreError::NotFound(_)
                | StoreError::AlreadyExists { .. }
                | StoreError::Aborted { .. }
                | StoreError::FailedPrecondition(_)
                | StoreError::LimitReached(_)
        )
    }

    /// Whether the engine refused to write (a disk at its reserve, a fenced engine): reads that
    /// wanted to bring a derived index up to date first then read without it.
    pub(crate) fn is_write_refusal(&self) -> bool {
        matches!(
            self,
            StoreError::Engine(EngineError::DiskFull { .. } | EngineError::Unavailable { .. })
        )
    }
}

impl crate::engine::TxFailure for StoreError {
    fn is_conflict(&self) -> bool {
        matches!(self, StoreError::Conflict)
    }
}

/// What was not found.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[cfg_attr(not(feature = "exhaustive-errors"), non_exhaustive)]
pub enum Resource {
    /// A customer, by id.
    #[error("customer {0}")]
    Customer(CustomerId),
    /// A customer, by email address.
    #[error("email {0}")]
    Email(String),
    /// A customer, by external id.
    #[error("external_id {0}")]
    ExternalId(String),
    /// A segment, by id.
    #[error("segment {0}")]
    Segment(SegmentId),
    /// A customer merged into another: it answers as not found, naming the survivor.
    #[error("customer {customer} (merged into {survivor} by merge {merge})")]
    Merged {
        /// The merged customer.
        customer: CustomerId,
        /// The customer it was merged into.
        survivor: CustomerId,
        /// The merge (for UnmergeCustomers).
        merge: u64,
    },
    /// A merge, by id.
    #[error("merge {0}")]
    Merge(u64),
    /// A support ticket, by id.
    #[error("ticket {0}")]
    Ticket(crm_core::support::TicketId),
    /// A loyalty reward, by id.
    #[error("reward {0}")]
    Reward(u64),
    /// A sales pipeline, by id.
    #[error("pipeline {0}")]
    Pipeline(crm_core::deals::PipelineId),
    /// A deal, by id.
    #[error("deal {0}")]
    Deal(crm_core::deals::DealId),
    /// A task, by id.
    #[error("task {0}")]
    Task(crm_core::tasks::TaskId),
    /// An automation rule, by id.
    #[error("rule {0}")]
    Rule(crm_core::tasks::RuleId),
    /// A customer's purchase, by order reference.
    #[error("purchase {order_ref}")]
    Purchase {
        /// The customer.
        customer: CustomerId,
        /// The order reference.
        order_ref: String,
    },
}

/// A unique field.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[cfg_attr(not(feature = "exhaustive-errors"), non_exhaustive)]
pub enum UniqueField {
    /// A customer's email address (`emails[index].address`).
    #[error("emails[{index}].address")]
    Email {
        /// Its place in the customer's emails.
        index: usize,
    },
    /// A customer's external id.
    #[error("external_id")]
    ExternalId,
    /// A segment's name.
    #[error("segment.name")]
    SegmentName,
    /// A field of a family outside the store's own (named by the family).
    #[error("{0}")]
    Named(&'static str),
}

/// Why a valid request cannot be carried out in the store's current state.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[cfg_attr(not(feature = "exhaustive-errors"), non_exhaustive)]
pub enum Precondition {
    /// An organization that people still belong to cannot be deleted.
    #[error(
        "organization {organization} still has {members} people; move or delete them first (filter: organization_id = \"{organization}\")"
    )]
    OrganizationHasMembers {
        /// The organization.
        organization: CustomerId,
        /// How many people belong to it.
        members: u64,
    },
    /// A backward lifecycle move needs a reason (and an update cannot give one).
    #[error("{message}")]
    BackwardStageMove {
        /// Where the customer is.
        from: LifecycleStage,
        /// Where the move would take it.
        to: LifecycleStage,
        /// What is wrong and what to do.
        message: String,
    },
    /// A request id was used before, for a write whose result is gone or was another.
    #[error("{message}")]
    RequestIdReused {
        /// The request id.
        request_id: String,
        /// What it did before.
        message: String,
    },
    /// A refund larger than what is left of the purchase.
    #[error("order {order_ref} has {left} {currency} left to refund; {asked} asked")]
    RefundExceedsPurchase {
        /// The purchase's order reference.
        order_ref: String,
        /// What is left to refund, in minor units.
        left: i64,
        /// The currency.
        currency: String,
        /// What was asked, in minor units.
        asked: i64,
    },
    /// The store was opened after accepting a data loss: it serves reads and refuses writes.
    #[error("this store was opened with its data loss accepted and takes no writes: {detail}")]
    DataLossAccepted {
        /// What is missing.
        detail: String,
    },
    /// A change-feed cursor older than the oldest event the log keeps: the events after it are
    /// gone. Read the current state again (an export), then follow the feed from
    /// `oldest_cursor`.
    #[error(
        "the change log no longer holds the events after cursor {after}: the oldest cursor it can \
         resume from is {oldest_cursor}; export the current state and follow the feed from there"
    )]
    ChangeLogTrimmed {
        /// The cursor asked for.
        after: u64,
        /// The oldest cursor the feed can resume from.
        oldest_cursor: u64,
    },
    /// An upsert or import row matches more than one customer (its emails belong to two, or
    /// its email to a customer with another external id): writing it would merge them.
    #[error("{message}")]
    AmbiguousMatch {
        /// Which customers, and what to do.
        message: String,
    },
    /// A merge that cannot be made as asked (records of two kinds, an order reference both
    /// hold) or undone (already undone, a record that came back meanwhile).
    #[error("{message}")]
    MergeRefused {
        /// Why, and what to do.
        message: String,
    },
    /// A ticket cannot make this status move: the move graph forbids it
    /// (`ILLEGAL_TICKET_MOVE`), the reopen window passed (`REOPEN_WINDOW_PASSED`), or it is
    /// dated before the ticket's latest event (`MOVE_BEFORE_LAST_EVENT`).
    #[error("{message}")]
    TicketMove {
        /// The stable reason.
        reason: &'static str,
        /// The status now.
        from: &'static str,
        /// The status asked for.
        to: &'static str,
        /// What happened, for a person.
        message: String,
    },
    /// A redemption or deduction needs more points than the member holds.
    #[error("{asked} points asked, but the balance is {balance}")]
    InsufficientPoints {
        /// The balance.
        balance: i64,
        /// What was asked.
        asked: i64,
    },
    /// A reward cannot be redeemed: out of stock (`REWARD_OUT_OF_STOCK`) or outside its active
    /// dates (`REWARD_NOT_ACTIVE`).
    #[error("{message}")]
    RewardUnavailable {
        /// The stable reason.
        reason: &'static str,
        /// What happened.
        message: String,
    },
    /// A deal, task or pipeline cannot take this change: a won or lost deal moved
    /// (`DEAL_CLOSED`), an open deal reopened (`DEAL_OPEN`), a done or cancelled task changed
    /// (`TASK_CLOSED`), a pipeline or stage that deals are in removed (`PIPELINE_IN_USE`).
    #[error("{message}")]
    NotNow {
        /// The stable reason.
        reason: &'static str,
        /// What happened, for a person.
        message: String,
    },
    /// A restore goes only into an empty (or new) directory.
    #[error("{path} is not empty: restore into a new or empty directory")]
    RestoreTargetNotEmpty {
        /// The directory.
        path: String,
    },
}

impl Precondition {
    /// A stable, machine-readable reason (`ORGANIZATION_HAS_MEMBERS`).
    pub fn reason(&self) -> &'static str {
        match self {
            Precondition::OrganizationHasMembers { .. } => "ORGANIZATION_HAS_MEMBERS",
            Precondition::BackwardStageMove { .. } => "BACKWARD_STAGE_MOVE",
            Precondition::RequestIdReused { .. } => "REQUEST_ID_REUSED",
            Precondition::RefundExceedsPurchase { .. } => "REFUND_EXCEEDS_PURCHASE",
            Precondition::DataLossAccepted { .. } => "READ_ONLY_AFTER_DATA_LOSS",
            Precondition::ChangeLogTrimmed { .. } => "CURSOR_TRIMMED",
            Precondition::RestoreTargetNotEmpty { .. } => "RESTORE_TARGET_NOT_EMPTY",
            Precondition::AmbiguousMatch { .. } => "AMBIGUOUS_MATCH",
            Precondition::MergeRefused { .. } => "MERGE_REFUSED",
            Precondition::TicketMove { reason, .. } => reason,
            Precondition::InsufficientPoints { .. } => "INSUFFICIENT_POINTS",
            Precondition::RewardUnavailable { reason, .. } => reason,
            Precondition::NotNow { reason, .. } => reason,
        }
    }

    /// What a caller needs to act on it, by name (the `ErrorInfo` metadata over gRPC).
    pub fn metadata(&self) -> Vec<(&'static str, String)> {
        match self {
            Precondition::ChangeLogTrimmed { oldest_cursor, .. } => {
                vec![("oldest_cursor", oldest_cursor.to_string())]
            }
            Precondition::OrganizationHasMembers { organization, .. } => {
                vec![("organization", organization.to_string())]
            }
            Precondition::InsufficientPoints { balance, asked } => {
                vec![
                    ("balance", balance.to_string()),
                    ("asked", asked.to_string()),
                ]
            }
            Precondition::TicketMove { from, to, .. } => {
                vec![("from", (*from).to_owned()), ("to", (*to).to_owned())]
            }
            _ => Vec::new(),
        }
    }
}

/// A store result.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;
