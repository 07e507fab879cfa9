//! The commands but import: customers, export, watch, backup, report.

use std::io::Write as _;
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, bail};
use crm_grpc::pb;
use pb::customer_service_client::CustomerServiceClient;
use tonic::transport::Channel;

use crate::client::Conn;
use crate::json::{from_json, to_json};
use crate::output::{self, Format};

/// A mistake on the command line, in a file or a mapping (exit code 2).
#[derive(Debug)]
pub struct Usage(pub String);

impl std::fmt::Display for Usage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Usage {}

fn usage(message: impl Into<String>) -> anyhow::Error {
    anyhow::Error::new(Usage(message.into()))
}

fn customers_client(conn: &Conn) -> CustomerServiceClient<Channel> {
    CustomerServiceClient::new(conn.channel.clone()).max_decoding_message_size(64 << 20)
}

/// `crm customers ...`.
#[derive(Debug, clap::Subcommand)]
pub enum CustomersCommand {
    /// One customer, by id, or by --email or --external-id.
    Get {
        /// The customer's id.
        id: Option<String>,
        /// Look up by email instead.
        #[arg(long, conflicts_with = "id")]
        email: Option<String>,
        /// Look up by external id instead.
        #[arg(long, conflicts_with_all = ["id", "email"])]
        external_id: Option<String>,
    },
    /// Customers that match a filter, in order: one page, or --all of them.
    List {
        /// The filter (`lifecycle_stage = "PURCHASE" AND tags:"vip"`).
        #[arg(long, default_value = "")]
        filter: String,
        /// The order (`display_name`, `update_time desc`).
        #[arg(long, default_value = "")]
        order_by: String,
        /// Customers per page (1 to 1,000).
        #[arg(long, default_value_t = 50)]
        page_size: i32,
        /// Walk every page.
        #[arg(long)]
        all: bool,
    },
    /// Customers whose names, emails or phones start with the query's words.
    Search {
        /// The words.
        query: String,
    },
    /// Create a customer: from --data, or from the flags.
    Create {
        /// The customer as JSON (the contract's form), or @FILE.
        #[arg(long)]
        data: Option<String>,
        /// A person's given name.
        #[arg(long)]
        name: Option<String>,
        /// A person's family name.
        #[arg(long)]
        family_name: Option<String>,
        /// An organization's legal name (instead of a person).
        #[arg(long, conflicts_with_all = ["name", "family_name"])]
        organization: Option<String>,
        /// Email addresses.
        #[arg(long)]
        email: Vec<String>,
        /// Phone numbers (E.164: +905321234567).
        #[arg(long)]
        phone: Vec<String>,
        /// Tags.
        #[arg(long)]
        tag: Vec<String>,
        /// The id in another system.
        #[arg(long)]
        external_id: Option<String>,
        /// Makes the create idempotent.
        #[arg(long)]
        request_id: Option<String>,
    },
    /// Update the fields --mask names (default: those the JSON sets) from --data.
    Update {
        /// The customer's id.
        id: String,
        /// The new values as JSON (the contract's form), or @FILE.
        #[arg(long)]
        data: String,
        /// The fields to change, comma-separated (`tags,owner`).
        #[arg(long)]
        mask: Option<String>,
        /// Only if the customer is still at this etag.
        #[arg(long)]
        etag: Option<String>,
    },
    /// Delete a customer.
    Delete {
        /// The customer's id.
        id: String,
        /// Only if the customer is still at this etag.
        #[arg(long)]
        etag: Option<String>,
    },
}

fn json_arg(text: &str) -> anyhow::Result<String> {
    match text.strip_prefix('@') {
        Some(path) => {
            std::fs::read_to_string(path).map_err(|e| usage(format!("cannot read {path}: {e}")))
        }
        None => Ok(text.to_owned()),
    }
}

fn customer_from(json: Option<String>, flags: serde_json::Value) -> anyhow::Result<pb::Customer> {
    let text = match json {
        Some(j) => json_arg(&j)?,
        None => flags.to_string(),
    };
    from_json(&text, "crm.v1.Customer").map_err(|e| usage(format!("{e:#}")))
}

/// Runs `crm customers ...`.
pub async fn customers(
    conn: &Conn,
    action: CustomersCommand,
    format: Format,
) -> anyhow::Result<u8> {
    let mut client = customers_client(conn);
    match action {
        CustomersCommand::Get {
            id,
            email,
            external_id,
        } => {
            let customer = match (id, email, external_id) {
                (Some(id), _, _) => {
                    client
                        .get_customer(conn.request(pb::GetCustomerRequest { id })?)
                        .await?
                }
                (None, Some(email), _) => {
                    let key = pb::lookup_customer_request::Key::Email(email);
                    client
                        .lookup_customer(
                            conn.request(pb::LookupCustomerRequest { key: Some(key) })?,
                        )
                        .await?
                }
                (None, None, Some(ext)) => {
                    let key = pb::lookup_customer_request::Key::ExternalId(ext);
                    client
                        .lookup_customer(
                            conn.request(pb::LookupCustomerRequest { key: Some(key) })?,
                        )
                        .await?
                }
                (None, None, None) => return Err(usage("give an id, --email or --external-id")),
            };
            output::customer(format, &customer.into_inner())?;
        }
        CustomersCommand::List {
            filter,
            order_by,
            page_size,
            all,
        } => {
            let mut page_token = String::new();
            loop {
                let page = client
                    .list_customers(conn.request(pb::ListCustomersRequest {
                        page_size,
                        page_token: page_token.clone(),
                        filter: filter.clone(),
                        order_by: order_by.clone(),
                    })?)
                    .await?
                    .into_inner();
                output::customers(format, &page.customers)?;
                if !all || page.next_page_token.is_empty() {
                    if !all && !page.next_page_token.is_empty() && format == Format::Table {
                        eprintln!("(more: --all walks every page)");
                    }
                    break;
                }
                page_token = page.next_page_token;
            }
        }
        CustomersCommand::Search { query } => {
            let page = client
                .search_customers(conn.request(pb::SearchCustomersRequest {
                    query,
                    page_size: 50,
                    page_token: String::new(),
                })?)
                .await?
                .into_inner();
            let found: Vec<pb::Customer> = page
                .results
                .into_iter()
                .filter_map(|r| r.customer)
                .collect();
            output::customers(format, &found)?;
        }
        CustomersCommand::Create {
            data,
            name,
            family_name,
            organization,
            email,
            phone,
            tag,
            external_id,
            request_id,
        } => {
            let party = match organization {
                Some(legal_name) => serde_json::json!({"organization": {"legal_name": legal_name}}),
                None => serde_json::json!({"person": {
                    "given_name": name.unwrap_or_default(),
                    "family_name": family_name.unwrap_or_default(),
                }}),
            };
            let mut flags = party;
            flags["emails"] = email
                .iter()
                .map(|a| serde_json::json!({"address": a}))
                .collect();
            flags["phones"] = phone
                .iter()
                .map(|n| serde_json::json!({"number": n}))
                .collect();
            flags["tags"] = serde_json::json!(tag);
            flags["external_id"] = serde_json::json!(external_id.unwrap_or_default());
            let customer = customer_from(data, flags)?;
            let created = client
                .create_customer(conn.request(pb::CreateCustomerRequest {
                    customer: Some(customer),
                    request_id: request_id.unwrap_or_default(),
                })?)
                .await?
                .into_inner();
            output::customer(format, &created)?;
        }
        CustomersCommand::Update {
            id,
            data,
            mask,
            etag,
        } => {
            let mut customer: pb::Customer = from_json(&json_arg(&data)?, "crm.v1.Customer")
                .map_err(|e| usage(format!("{e:#}")))?;
            customer.id = id;
            let update_mask = mask.map(|m| prost_types::FieldMask {
                paths: m
                    .split(',')
                    .map(|p| p.trim().to_owned())
                    .filter(|p| !p.is_empty())
                    .collect(),
            });
            let updated = client
                .update_customer(conn.request(pb::UpdateCustomerRequest {
                    customer: Some(customer),
                    update_mask,
                    etag: etag.unwrap_or_default(),
                })?)
                .await?
                .into_inner();
            output::customer(format, &updated)?;
        }
        CustomersCommand::Delete { id, etag } => {
            let deleted = client
                .delete_customer(conn.request(pb::DeleteCustomerRequest {
                    id,
                    etag: etag.unwrap_or_default(),
                })?)
                .await?
                .into_inner();
            match format {
                Format::Json => println!("{}", serde_json::json!({"deleted": deleted.id})),
                Format::Table => eprintln!("deleted {}", deleted.id),
            }
        }
    }
    Ok(0)
}

/// `crm export`.
#[derive(Debug, clap::Args)]
pub struct ExportArgs {
    /// Only customers that match.
    #[arg(long, default_value = "")]
    pub filter: String,
    /// Each customer's timeline too.
    #[arg(long)]
    pub timeline: bool,
    /// Write to this file instead of standard output.
    #[arg(long)]
    pub out: Option<std::path::PathBuf>,
}

/// Runs `crm export`: one JSON line per customer (`{"customer": ..., "timeline": [...],
/// "cursor": N}`), always JSON.
pub async fn export(conn: &Conn, args: ExportArgs) -> anyhow::Result<u8> {
    let mut client = customers_client(conn);
    let mut stream = client
        .export_customers(conn.request(pb::ExportCustomersRequest {
            filter: args.filter,
            include_timeline: args.timeline,
        })?)
        .await?
        .into_inner();
    let mut out: Box<dyn std::io::Write> = match &args.out {
        Some(path) => Box::new(std::io::BufWriter::new(
            std::fs::File::create(path)
                .with_context(|| format!("cannot write {}", path.display()))?,
        )),
        None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
    };
    let (mut n, mut cursor) = (0u64, 0u64);
    while let Some(message) = stream.message().await? {
        cursor = message.cursor;
        writeln!(
            out,
            "{}",
            to_json(&message, "crm.v1.ExportCustomersResponse", false)?
        )?;
        n += 1;
    }
    out.flush()?;
    eprintln!(
        "exported {n} customers (the state at cursor {cursor}: `crm watch --after {cursor}` follows on)"
    );
    Ok(0)
}

/// `crm watch`.
#[derive(Debug, clap::Args)]
pub struct WatchArgs {
    /// Start after this cursor (0: the whole log).
    #[arg(long, default_value_t = 0)]
    pub after: u64,
    /// Only these kinds: customer, segment.
    #[arg(long)]
    pub kind: Vec<String>,
    /// Only this customer's changes.
    #[arg(long)]
    pub customer: Option<String>,
    /// Each customer's current state with its event.
    #[arg(long)]
    pub state: bool,
    /// Stop after this many events (0: follow until interrupted).
    #[arg(long, default_value_t = 0)]
    pub count: u64,
}

/// Runs `crm watch`: one JSON line per event, reconnecting from the last cursor when the stream
/// breaks (a restarted server).
pub async fn watch(conn: &Conn, args: WatchArgs) -> anyhow::Result<u8> {
    let mut kinds = Vec::new();
    for k in &args.kind {
        match pb::EntityKind::from_str_name(&k.to_uppercase()) {
            Some(kind) if kind != pb::EntityKind::Unspecified => kinds.push(kind as i32),
            _ => return Err(usage(format!("--kind {k:?}: customer or segment"))),
        }
    }
    let mut client =
        pb::change_feed_service_client::ChangeFeedServiceClient::new(conn.channel.clone());
    let (mut cursor, mut seen) = (args.after, 0u64);
    let stdout = std::io::stdout();
    loop {
        let request = pb::WatchChangesRequest {
            after: cursor,
            kinds: kinds.clone(),
            customer_id: args.customer.clone().unwrap_or_default(),
            include_state: args.state,
        };
        let mut stream = match client.watch_changes(conn.request(request)?).await {
            Ok(s) => s.into_inner(),
            Err(s) if s.code() == tonic::Code::Unavailable => {
                eprintln!("crm watch: {}; retrying from cursor {cursor}", s.message());
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
            Err(s) => return Err(s.into()),
        };
        loop {
            match stream.message().await {
                Ok(Some(message)) => {
                    cursor = message.cursor.max(cursor);
                    if let Some(event) = message.event {
                        let line = to_json(&event, "crm.v1.ChangeEvent", false)?;
                        let mut out = stdout.lock();
                        writeln!(out, "{line}")?;
                        out.flush()?;
                        seen += 1;
                        if args.count > 0 && seen >= args.count {
                            return Ok(0);
                        }
                    }
                }
                Ok(None) => break,
                Err(s) if matches!(s.code(), tonic::Code::Unavailable | tonic::Code::Unknown) => {
                    eprintln!("crm watch: {}; resuming after cursor {cursor}", s.message());
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    break;
                }
                Err(s) => return Err(s.into()),
            }
        }
    }
}

/// Runs `crm backup`: the server's backup stream into a file, renamed into place once whole.
pub async fn backup(conn: &Conn, to: &Path, format: Format) -> anyhow::Result<u8> {
    let mut client = pb::admin_service_client::AdminServiceClient::new(conn.channel.clone())
        .max_decoding_message_size(8 << 20);
    let partial = to.with_extension("partial");
    let mut file = std::io::BufWriter::new(
        std::fs::File::create(&partial)
            .with_context(|| format!("cannot write {}", partial.display()))?,
    );
    let mut stream = client
        .backup(conn.request(pb::BackupRequest {})?)
        .await?
        .into_inner();
    let summary = loop {
        let message = match stream.message().await {
            Ok(Some(m)) => m,
            Ok(None) => {
                let _ = std::fs::remove_file(&partial);
                bail!("the server ended the backup without its summary: it is incomplete");
            }
            Err(s) => {
                let _ = std::fs::remove_file(&partial);
                return Err(s.into());
            }
        };
        file.write_all(&message.data)?;
        if let Some(summary) = message.summary {
            break summary;
        }
    };
    let file = file.into_inner().map_err(|e| e.into_error())?;
    file.sync_all()?;
    std::fs::rename(&partial, to).with_context(|| format!("cannot write {}", to.display()))?;
    match format {
        Format::Json => println!("{}", to_json(&summary, "crm.v1.BackupSummary", true)?),
        Format::Table => eprintln!(
            "backup written to {}: {} bytes, {} keys, the state at cursor {}",
            to.display(),
            summary.bytes,
            summary.entries,
            summary.cursor
        ),
    }
    Ok(0)
}

/// `crm report`.
#[derive(Debug, clap::Args)]
pub struct ReportArgs {
    /// The currency of the money figures (ISO 4217: TRY, EUR).
    #[arg(long)]
    pub currency: String,
    /// The report as of this time (RFC 3339; default: now).
    #[arg(long)]
    pub as_of: Option<String>,
}

/// Runs `crm report`: the whole report as JSON, or its headline figures as a table.
pub async fn report(conn: &Conn, args: ReportArgs, format: Format) -> anyhow::Result<u8> {
    let as_of = match &args.as_of {
        None => None,
        Some(t) => {
            let t = chrono::DateTime::parse_from_rfc3339(t)
                .map_err(|e| usage(format!("--as-of {t:?}: {e}")))?;
            Some(prost_types::Timestamp {
                seconds: t.timestamp(),
                nanos: 0,
            })
        }
    };
    let mut client = pb::report_service_client::ReportServiceClient::new(conn.channel.clone())
        .max_decoding_message_size(64 << 20);
    let report = client
        .get_portfolio_report(conn.request(pb::GetPortfolioReportRequest {
            as_of,
            currency_code: args.currency,
            ..Default::default()
        })?)
        .await?
        .into_inner();
    let json = to_json(&report, "crm.v1.PortfolioReport", true)?;
    match format {
        Format::Json => println!("{json}"),
        Format::Table => {
            let rows: Vec<Vec<String>> = json
                .as_object()
                .into_iter()
                .flatten()
                .filter(|(_, v)| !v.is_array() && !v.is_object())
                .map(|(k, v)| vec![k.clone(), v.to_string()])
                .collect();
            output::table(&["FIGURE", "VALUE"], &rows);
            eprintln!("(--json prints the whole report: funnel, cohorts, RFM)");
        }
    }
    Ok(0)
}
