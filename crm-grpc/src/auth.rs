//! Whether calls must carry an API key. The [`crate::layer`] authenticates every call and
//! checks its role.

/// Whether calls must carry an API key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum AuthMode {
    /// Every call needs a valid key (health and reflection excepted).
    Required,
    /// No key needed: every caller is `anonymous` with the admin role. Loopback only.
    Disabled,
}
