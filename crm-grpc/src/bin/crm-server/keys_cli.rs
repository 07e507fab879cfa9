//! `crm-server keys`: API keys in the data directory's key file, managed while a server runs.

use std::path::Path;

use anyhow::{Context, bail};
use clap::Subcommand;
use crm_grpc::keys::{KEYS_FILE, KeyRing, Role};

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Make a key and print it once; only its hash is stored.
    Create {
        /// A unique name: the actor in the audit trail.
        #[arg(long)]
        name: String,
        /// What the key may do.
        #[arg(long, value_enum)]
        role: Role,
        /// Whether the key sees personal data (emails, phones, addresses, birth dates) whole;
        /// without it, writers and admins do and readers see it masked.
        #[arg(long)]
        personal_data: Option<bool>,
    },
    /// List keys (never their secrets).
    List,
    /// Revoke a key, effective at once.
    Revoke {
        /// The key's name.
        #[arg(long)]
        name: String,
    },
}

/// Runs a `keys` command on `data_dir`'s key file.
pub fn run(data_dir: &Path, create: bool, action: KeysCommand) -> anyhow::Result<()> {
    if create {
        std::fs::create_dir_all(data_dir)
            .with_context(|| format!("cannot create {}", data_dir.display()))?;
    } else if !holds_crm_data(data_dir) {
        bail!(
            "{} holds no crm data (no store, no key file): check --data-dir (the server's, \
             ./crm-data by default), or pass --create to start a key file there",
            data_dir.display()
        );
    }
    let ring = KeyRing::new(data_dir);
    match action {
        KeysCommand::Create {
            name,
            role,
            personal_data,
        } => {
            let secret = ring.create_with(&name, role, personal_data)?;
            eprintln!(
                "created key {name:?} with role {}; it is shown only now:",
                role.name()
            );
            println!("{secret}");
        }
        KeysCommand::List => {
            for k in ring.list()? {
                let state = k.revoked.map_or("active".to_owned(), |t| {
                    format!("revoked {}", t.to_rfc3339())
                });
                println!(
                    "{}\t{}\tcreated {}\t{state}",
                    k.name,
                    k.role.name(),
                    k.created.to_rfc3339()
                );
            }
        }
        KeysCommand::Revoke { name } => {
            ring.revoke(&name)?;
            eprintln!("revoked key {name:?}");
        }
    }
    Ok(())
}

/// Whether `dir` is a data directory crm has used: its store's files, its acknowledgement mark
/// or a key file. A mistyped path holds none of them.
fn holds_crm_data(dir: &Path) -> bool {
    ["db", "conf", crm_store::mark::FILE, KEYS_FILE]
        .iter()
        .any(|name| dir.join(name).exists())
}
