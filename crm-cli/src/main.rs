//! `crm`: crm's command line, for people at a terminal and for shell scripts. It talks gRPC to a
//! crm server (`--addr`, `--api-key`, TLS flags, or `CRM_*` variables).
//!
//! ```text
//! crm customers list --filter 'lifecycle_stage = "PURCHASE"'
//! crm customers get 18a2b3c4d5e6f7a8 --json
//! crm customers create --name Ada --email ada@example.com --tag vip
//! crm import customers.csv --map 'Name=person.given_name,E-mail=emails' --max-errors 10
//! crm export --filter 'tags:"vip"' --timeline > vip.jsonl
//! crm watch --after 1200            # one JSON line per change, live
//! crm backup --to crm.backup
//! crm report --currency TRY
//! ```
//!
//! Output is a table by default and JSON with `--json`. Exit codes: 0 done; 1 the server
//! refused or failed (its message and the fields it names on stderr); 2 a bad command line,
//! file or column mapping; 3 not found; 4 some rows or items failed; 5 the server cannot be
//! reached.

mod client;
mod commands;
mod import;
mod json;
mod output;

use clap::{Parser, Subcommand};

use crate::client::ConnectArgs;
use crate::output::{Format, describe_status};

/// crm's command line: customers, import and export, the change feed, backups and reports.
#[derive(Debug, Parser)]
#[command(name = "crm", version, about)]
struct Args {
    #[command(flatten)]
    connect: ConnectArgs,
    /// Print JSON (one document, or one per line for lists and streams) instead of tables.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Read and write customers.
    Customers {
        #[command(subcommand)]
        action: commands::CustomersCommand,
    },
    /// Import customers (and their purchases) from a CSV or JSONL file.
    Import(import::ImportArgs),
    /// Export customers as JSON lines, from one consistent snapshot.
    Export(commands::ExportArgs),
    /// Follow the change feed: one JSON line per change, live; resumes after a disconnect.
    Watch(commands::WatchArgs),
    /// Write a backup of the server's store to a file.
    Backup {
        /// The file to write (replaced only once the backup is complete).
        #[arg(long)]
        to: std::path::PathBuf,
    },
    /// The portfolio report.
    Report(commands::ReportArgs),
}

/// Exit codes a shell can branch on.
mod exit {
    pub const FAILED: u8 = 1;
    pub const USAGE: u8 = 2;
    pub const NOT_FOUND: u8 = 3;
    pub const PARTIAL: u8 = 4;
    pub const UNREACHABLE: u8 = 5;
}

fn main() -> std::process::ExitCode {
    let args = Args::parse();
    let format = if args.json {
        Format::Json
    } else {
        Format::Table
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("crm: cannot start: {e}");
            return std::process::ExitCode::from(exit::FAILED);
        }
    };
    let outcome = runtime.block_on(run(args, format));
    match outcome {
        Ok(code) => std::process::ExitCode::from(code),
        Err(e) => {
            let code = if let Some(status) = e.downcast_ref::<tonic::Status>() {
                eprintln!("crm: {}", describe_status(status));
                match status.code() {
                    tonic::Code::NotFound => exit::NOT_FOUND,
                    tonic::Code::Unavailable => exit::UNREACHABLE,
                    _ => exit::FAILED,
                }
            } else if e.downcast_ref::<tonic::transport::Error>().is_some()
                || format!("{e:#}").contains("cannot connect")
            {
                eprintln!("crm: {e:#}");
                exit::UNREACHABLE
            } else if e.downcast_ref::<commands::Usage>().is_some() {
                eprintln!("crm: {e:#}");
                exit::USAGE
            } else {
                eprintln!("crm: {e:#}");
                exit::FAILED
            };
            std::process::ExitCode::from(code)
        }
    }
}

async fn run(args: Args, format: Format) -> anyhow::Result<u8> {
    let conn = client::Conn::connect(&args.connect).await?;
    match args.command {
        Command::Customers { action } => commands::customers(&conn, action, format).await,
        Command::Import(import) => {
            let tally = import::run(&conn, &import, format).await?;
            Ok(if tally.failed > 0 { exit::PARTIAL } else { 0 })
        }
        Command::Export(export) => commands::export(&conn, export).await,
        Command::Watch(watch) => commands::watch(&conn, watch).await,
        Command::Backup { to } => commands::backup(&conn, &to, format).await,
        Command::Report(report) => commands::report(&conn, report, format).await,
    }
}
