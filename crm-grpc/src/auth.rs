//! Authentication and roles. An interceptor on each service turns the `authorization: Bearer KEY`
//! header into a [`Caller`] (or refuses with UNAUTHENTICATED); each RPC then asks for the role it
//! needs with [`require`] (PERMISSION_DENIED if the caller's role is lower).

use std::collections::HashMap;
use std::sync::Arc;

use tonic::{Code, Request, Status};
use tonic_types::{ErrorDetails, StatusExt};

use crate::keys::{KeyRing, Role};
use crate::status::DOMAIN;

/// Whether calls must carry an API key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum AuthMode {
    /// Every call needs a valid key (health and reflection excepted).
    Required,
    /// No key needed: every caller is `anonymous` with the admin role. Loopback only.
    Disabled,
}

/// Who is calling, as established by the interceptor.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Caller {
    /// The key's name (the actor in the audit trail), or `anonymous`.
    pub name: String,
    /// What the caller may do.
    pub role: Role,
}

/// The interceptor that authenticates calls.
#[derive(Clone, Debug)]
pub struct Authenticator {
    mode: AuthMode,
    ring: Arc<KeyRing>,
}

fn unauthenticated(message: &str) -> Status {
    Status::with_error_details(
        Code::Unauthenticated,
        message,
        ErrorDetails::with_error_info("UNAUTHENTICATED", DOMAIN, HashMap::new()),
    )
}

impl Authenticator {
    /// Authenticates with `ring` when `mode` is [`AuthMode::Required`].
    pub fn new(mode: AuthMode, ring: Arc<KeyRing>) -> Self {
        Authenticator { mode, ring }
    }

    fn caller(&self, request: &Request<()>) -> Result<Caller, Status> {
        if self.mode == AuthMode::Disabled {
            return Ok(Caller {
                name: "anonymous".into(),
                role: Role::Admin,
            });
        }
        let header = request.metadata().get("authorization").ok_or_else(|| {
            unauthenticated("missing API key: send the header 'authorization: Bearer KEY'")
        })?;
        let value = header
            .to_str()
            .map_err(|_| unauthenticated("the authorization header is not text"))?;
        let secret = value
            .strip_prefix("Bearer ")
            .or_else(|| value.strip_prefix("bearer "))
            .ok_or_else(|| unauthenticated("the authorization header must be 'Bearer KEY'"))?
            .trim();
        match self.ring.authenticate(secret) {
            Ok(Some(key)) => Ok(Caller {
                name: key.name,
                role: key.role,
            }),
            Ok(None) => Err(unauthenticated("unknown or revoked API key")),
            Err(e) => {
                tracing::error!(error = %e, "cannot read the API keys");
                Err(Status::internal("cannot read the API keys"))
            }
        }
    }
}

impl tonic::service::Interceptor for Authenticator {
    fn call(&mut self, mut request: Request<()>) -> Result<Request<()>, Status> {
        let caller = self.caller(&request)?;
        request.extensions_mut().insert(caller);
        Ok(request)
    }
}

/// The caller of a request, if it has at least `role`.
pub fn require<T>(request: &Request<T>, role: Role) -> Result<Caller, Status> {
    let caller = request
        .extensions()
        .get::<Caller>()
        .cloned()
        .ok_or_else(|| unauthenticated("not authenticated"))?;
    if caller.role < role {
        return Err(Status::with_error_details(
            Code::PermissionDenied,
            format!(
                "key {:?} has the {} role; this call needs {}",
                caller.name,
                caller.role.name(),
                role.name()
            ),
            ErrorDetails::with_error_info(
                "ROLE_TOO_LOW",
                DOMAIN,
                HashMap::from([
                    ("role".to_owned(), caller.role.name().to_owned()),
                    ("required_role".to_owned(), role.name().to_owned()),
                ]),
            ),
        ));
    }
    Ok(caller)
}
