//! API keys: random secrets shown once, stored only as SHA-256 hashes in `api-keys.json` in the
//! data directory, each with a name and a role.
//!
//! The file lives beside the store (not in it) so that `crm-server keys ...` can change it while a
//! server runs: the server checks the file's modification time on every call and reloads it, so a
//! revocation takes effect at once. Writes replace the file atomically (write, then rename).

use std::path::{Path, PathBuf};
use std::sync::RwLock;
use std::time::SystemTime;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// The file name of the key list in the data directory.
pub const KEYS_FILE: &str = "api-keys.json";

/// What a key may do. Each role includes the ones before it.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, clap::ValueEnum,
)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Reads customers.
    Reader,
    /// Reads and writes customers.
    Writer,
    /// Also manages keys, reads the audit trail, verifies the store.
    Admin,
}

impl Role {
    /// Whether keys of the role see personal data whole unless told otherwise: writers and
    /// admins do, readers (dashboards, reports) see it masked.
    pub fn sees_personal_data(self) -> bool {
        self != Role::Reader
    }

    /// The role's name.
    pub fn name(self) -> &'static str {
        match self {
            Role::Reader => "reader",
            Role::Writer => "writer",
            Role::Admin => "admin",
        }
    }
}

/// One key, as stored: never the secret itself.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyRecord {
    /// A unique name, used as the actor in the audit trail.
    pub name: String,
    /// What the key may do.
    pub role: Role,
    /// SHA-256 of the key, hex.
    pub sha256: String,
    /// When the key was made.
    pub created: DateTime<Utc>,
    /// When the key was revoked, if it was.
    pub revoked: Option<DateTime<Utc>>,
    /// Whether it sees personal data (emails, phones, addresses, birth dates) whole; unset:
    /// the role's default ([`Role::sees_personal_data`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub personal_data: Option<bool>,
}

impl KeyRecord {
    /// Whether the key sees personal data whole (otherwise masked).
    pub fn sees_personal_data(&self) -> bool {
        self.personal_data.unwrap_or(self.role.sees_personal_data())
    }
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct KeyFile {
    keys: Vec<KeyRecord>,
}

/// The most API keys a server holds: ListApiKeys answers them all (about 150 bytes each), so
/// its answer stays far under the 4 MiB a client accepts.
pub const MAX_KEYS: usize = 10_000;

/// What can go wrong managing keys.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The name is not 1-64 characters of letters, digits, `-`, `_`, `.`.
    #[error("a key name is 1 to 64 letters, digits, '-', '_' or '.'")]
    BadName,
    /// A key with this name exists.
    #[error("a key named {0:?} already exists")]
    Exists(String),
    /// No active key has this name.
    #[error("no active key is named {0:?}")]
    NotFound(String),
    /// The key file holds [`MAX_KEYS`] keys (revoked ones included): ListApiKeys answers them
    /// all in one message, which must stay small.
    #[error("the server holds its limit of {MAX_KEYS} API keys (revoked ones included)")]
    TooMany,
    /// The key file could not be read or written.
    #[error("key file {path}: {message}")]
    Io {
        /// The file.
        path: String,
        /// What failed.
        message: String,
    },
}

/// The keys of one data directory, reloaded when the file changes.
#[derive(Debug)]
pub struct KeyRing {
    path: PathBuf,
    cache: RwLock<(Option<Fingerprint>, Vec<KeyRecord>)>,
}

/// What identifies one version of the key file: every write renames a new file into place, so
/// the inode changes even when two writes land in the same clock tick.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Fingerprint {
    modified: SystemTime,
    len: u64,
    inode: u64,
}

fn fingerprint(m: &std::fs::Metadata) -> Option<Fingerprint> {
    #[cfg(unix)]
    let inode = std::os::unix::fs::MetadataExt::ino(m);
    #[cfg(not(unix))]
    let inode = 0;
    Some(Fingerprint {
        modified: m.modified().ok()?,
        len: m.len(),
        inode,
    })
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A key's SHA-256, hex: what the key file stores, and a fingerprint safe to log.
pub fn hash(secret: &str) -> String {
    hex(&Sha256::digest(secret.as_bytes()))
}

impl KeyRing {
    /// The key ring of a data directory (the file need not exist).
    pub fn new(data_dir: &Path) -> KeyRing {
        KeyRing {
            path: data_dir.join(KEYS_FILE),
            cache: RwLock::new((None, Vec::new())),
        }
    }

    fn io(&self, e: impl std::fmt::Display) -> KeyError {
        KeyError::Io {
            path: self.path.display().to_string(),
            message: e.to_string(),
        }
    }

    fn read(&self) -> Result<KeyFile, KeyError> {
        match std::fs::read(&self.path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| self.io(e)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(KeyFile::default()),
            Err(e) => Err(self.io(e)),
        }
    }

    fn write(&self, file: &KeyFile) -> Result<(), KeyError> {
        let tmp = self.path.with_extension("json.tmp");
        let bytes = serde_json::to_vec_pretty(file).map_err(|e| self.io(e))?;
        std::fs::write(&tmp, bytes).map_err(|e| self.io(e))?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o600))
                .map_err(|e| self.io(e))?;
        }
        std::fs::rename(&tmp, &self.path).map_err(|e| self.io(e))
    }

    /// Makes a key with its role's default sight of personal data; returns its secret.
    pub fn create(&self, name: &str, role: Role) -> Result<String, KeyError> {
        self.create_with(name, role, None)
    }

    /// Makes a key and returns its secret: shown once, never stored. `personal_data` overrides
    /// the role's default sight of personal data.
    pub fn create_with(
        &self,
        name: &str,
        role: Role,
        personal_data: Option<bool>,
    ) -> Result<String, KeyError> {
        let valid = !name.is_empty()
            && name.len() <= 64
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
        if !valid {
            return Err(KeyError::BadName);
        }
        let mut file = self.read()?;
        if file.keys.iter().any(|k| k.name == name) {
            return Err(KeyError::Exists(name.to_owned()));
        }
        if file.keys.len() >= MAX_KEYS {
            return Err(KeyError::TooMany);
        }
        let mut secret = [0u8; 32];
        getrandom::fill(&mut secret).map_err(|e| self.io(format!("no randomness: {e}")))?;
        let key = format!("crm_{}", hex(&secret));
        file.keys.push(KeyRecord {
            name: name.to_owned(),
            role,
            sha256: hash(&key),
            created: Utc::now(),
            revoked: None,
            personal_data,
        });
        self.write(&file)?;
        Ok(key)
    }

    /// Every key, active and revoked.
    pub fn list(&self) -> Result<Vec<KeyRecord>, KeyError> {
        Ok(self.read()?.keys)
    }

    /// Revokes the active key with this name; effective at once, also for running servers.
    pub fn revoke(&self, name: &str) -> Result<(), KeyError> {
        let mut file = self.read()?;
        let key = file
            .keys
            .iter_mut()
            .find(|k| k.name == name && k.revoked.is_none())
            .ok_or_else(|| KeyError::NotFound(name.to_owned()))?;
        key.revoked = Some(Utc::now());
        self.write(&file)
    }

    /// The active key matching a presented secret. Compares against every key in constant time.
    pub fn authenticate(&self, secret: &str) -> Result<Option<KeyRecord>, KeyError> {
        self.refresh()?;
        let presented = hash(secret);
        let cache = self.cache.read().unwrap_or_else(|e| e.into_inner());
        let mut found = None;
        for key in &cache.1 {
            let same: bool = key.sha256.as_bytes().ct_eq(presented.as_bytes()).into();
            if same && key.revoked.is_none() {
                found = Some(key.clone());
            }
        }
        Ok(found)
    }

    /// Reloads the file if it changed since the last look.
    fn refresh(&self) -> Result<(), KeyError> {
        let modified = match std::fs::metadata(&self.path) {
            Ok(m) => fingerprint(&m),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(self.io(e)),
        };
        let stale = {
            let cache = self.cache.read().unwrap_or_else(|e| e.into_inner());
            cache.0 != modified || modified.is_none()
        };
        if stale {
            let keys = self.read()?.keys;
            *self.cache.write().unwrap_or_else(|e| e.into_inner()) = (modified, keys);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ring_at_its_limit_refuses_another_key() -> Result<(), KeyError> {
        let dir = tempfile::tempdir().map_err(|e| KeyError::Io {
            path: String::new(),
            message: e.to_string(),
        })?;
        let ring = KeyRing::new(dir.path());
        let full = KeyFile {
            keys: (0..MAX_KEYS)
                .map(|n| KeyRecord {
                    name: format!("k{n}"),
                    role: Role::Reader,
                    sha256: String::new(),
                    created: Utc::now(),
                    revoked: None,
                    personal_data: None,
                })
                .collect(),
        };
        ring.write(&full)?;
        assert!(matches!(
            ring.create("one-more", Role::Reader),
            Err(KeyError::TooMany)
        ));
        Ok(())
    }

    #[test]
    fn keys_are_shown_once_stored_hashed_and_revocable() -> Result<(), KeyError> {
        let dir = tempfile::tempdir().map_err(|e| KeyError::Io {
            path: String::new(),
            message: e.to_string(),
        })?;
        let ring = KeyRing::new(dir.path());
        let secret = ring.create("ops", Role::Admin)?;
        assert!(secret.starts_with("crm_") && secret.len() == 68);
        let stored = std::fs::read_to_string(dir.path().join(KEYS_FILE)).unwrap_or_default();
        assert!(
            !stored.contains(&secret),
            "the secret itself is never stored"
        );
        assert_eq!(
            ring.authenticate(&secret)?.map(|k| k.role),
            Some(Role::Admin)
        );
        assert_eq!(ring.authenticate("crm_wrong")?, None);
        assert!(matches!(
            ring.create("ops", Role::Reader),
            Err(KeyError::Exists(_))
        ));
        assert!(matches!(
            ring.create("bad name", Role::Reader),
            Err(KeyError::BadName)
        ));
        // Another process (the CLI) revokes: the ring sees it on the next call.
        KeyRing::new(dir.path()).revoke("ops")?;
        assert_eq!(ring.authenticate(&secret)?, None);
        assert!(matches!(ring.revoke("ops"), Err(KeyError::NotFound(_))));
        Ok(())
    }
}
