//! `crm import FILE.csv|FILE.jsonl`: rows read, mapped, streamed to ImportCustomers in messages
//! of up to 1,000 rows, with a progress bar, and every bad row reported by line and field.
//!
//! - **CSV**: a header line, then one customer per line. `--map 'Column=field,...'` says which
//!   column fills which field; without it the headers are the field names. Fields:
//!   [`FIELDS`], `attributes.KEY`, and one optional purchase per row (`purchase.*`).
//! - **JSONL**: one object per line: an `ImportRow` (`{"key": ..., "customer": {...},
//!   "entries": [...]}`) or a bare `Customer`, in the contract's JSON form (what `crm export`
//!   writes).
//! - Each row's idempotency key is its `key` column or field, else `FILE:LINE`: the same file
//!   imported again (after a cut, or by mistake) creates nothing twice.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use anyhow::{Context, bail};
use crm_grpc::pb;
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::{Map, Value, json};
use tokio_stream::wrappers::ReceiverStream;

use crate::client::Conn;
use crate::json::from_value;
use crate::output::{Format, item_error};

/// The fields a CSV column can fill (plus `attributes.KEY`).
pub const FIELDS: &[&str] = &[
    "key",
    "person.given_name",
    "person.family_name",
    "person.birth_date",
    "organization.legal_name",
    "organization.tax_id",
    "organization.industry",
    "display_name",
    "emails",
    "phones",
    "external_id",
    "owner",
    "source",
    "tags",
    "address.line",
    "address.city",
    "address.region",
    "address.postal_code",
    "address.country",
    "customer_since",
    "purchase.order_ref",
    "purchase.amount_minor",
    "purchase.currency_code",
    "purchase.occurred_at",
];

/// The options of `crm import`.
#[derive(Clone, Debug, clap::Args)]
pub struct ImportArgs {
    /// The file: `.csv` or `.jsonl` (or `-` with --format, for standard input).
    pub file: PathBuf,
    /// `csv` or `jsonl` (default: from the file's extension).
    #[arg(long)]
    pub format: Option<String>,
    /// Which CSV column fills which field: `Name=person.given_name,E-mail=emails,...`.
    #[arg(long)]
    pub map: Option<String>,
    /// Validate and match every row, write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Stop after this many bad rows (0: never stop).
    #[arg(long, default_value_t = 0)]
    pub max_errors: usize,
    /// Rows per message (1 to 1,000).
    #[arg(long, default_value_t = 1000)]
    pub batch: usize,
}

/// What an import did.
#[derive(Debug, Default)]
pub struct Tally {
    pub created: u64,
    pub updated: u64,
    pub unchanged: u64,
    pub already: u64,
    pub failed: u64,
}

/// A row ready to send, with its line.
struct Row {
    line: u64,
    row: pb::ImportRow,
}

/// A CSV header mapped: for each column, the field it fills.
fn mapping(headers: &csv::StringRecord, map: Option<&str>) -> anyhow::Result<Vec<Option<String>>> {
    let valid = |field: &str| {
        FIELDS.contains(&field)
            || field
                .strip_prefix("attributes.")
                .is_some_and(|k| !k.is_empty())
    };
    let mut by_column: BTreeMap<String, String> = BTreeMap::new();
    match map {
        Some(map) => {
            for pair in map.split(',').map(str::trim).filter(|p| !p.is_empty()) {
                let Some((column, field)) = pair.split_once('=') else {
                    bail!("--map: {pair:?} is not COLUMN=field");
                };
                let (column, field) = (column.trim(), field.trim());
                if !headers.iter().any(|h| h.trim() == column) {
                    bail!(
                        "--map: the file has no column {column:?} (its columns: {})",
                        headers.iter().collect::<Vec<_>>().join(", ")
                    );
                }
                if !valid(field) {
                    bail!(
                        "--map: {field:?} is not a field; fields: {}, attributes.KEY",
                        FIELDS.join(", ")
                    );
                }
                by_column.insert(column.to_owned(), field.to_owned());
            }
        }
        None => {
            for h in headers.iter().map(str::trim) {
                if !valid(h) {
                    bail!(
                        "column {h:?} is not a field: name the columns after fields, or map them \
                         with --map 'Column=field,...' (fields: {}, attributes.KEY)",
                        FIELDS.join(", ")
                    );
                }
                by_column.insert(h.to_owned(), h.to_owned());
            }
        }
    }
    Ok(headers
        .iter()
        .map(|h| by_column.get(h.trim()).cloned())
        .collect())
}

fn set(object: &mut Map<String, Value>, path: &str, value: Value) {
    match path.split_once('.') {
        None => {
            object.insert(path.to_owned(), value);
        }
        Some((head, rest)) => {
            let child = object
                .entry(head.to_owned())
                .or_insert_with(|| Value::Object(Map::new()));
            if let Value::Object(child) = child {
                set(child, rest, value);
            }
        }
    }
}

fn list(text: &str) -> Vec<&str> {
    text.split([';', '|'])
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect()
}

/// One CSV record as a row: the customer's JSON, its purchase if any, its key.
fn csv_row(
    fields: &[Option<String>],
    record: &csv::StringRecord,
    default_key: String,
) -> anyhow::Result<pb::ImportRow> {
    let mut customer = Map::new();
    let mut purchase = Map::new();
    let mut key = None;
    for (field, text) in fields.iter().zip(record.iter()) {
        let (Some(field), text) = (field, text.trim()) else {
            continue;
        };
        if text.is_empty() {
            continue;
        }
        match field.as_str() {
            "key" => key = Some(text.to_owned()),
            "emails" => {
                customer.insert(
                    "emails".into(),
                    Value::Array(
                        list(text)
                            .into_iter()
                            .map(|a| json!({"address": a}))
                            .collect(),
                    ),
                );
            }
            "phones" => {
                customer.insert(
                    "phones".into(),
                    Value::Array(
                        list(text)
                            .into_iter()
                            .map(|n| json!({"number": n}))
                            .collect(),
                    ),
                );
            }
            "tags" => {
                customer.insert("tags".into(), json!(list(text)));
            }
            "address.line" => set(&mut customer, "address.lines", json!([text])),
            f if f.starts_with("attributes.") => {
                let k = &f["attributes.".len()..];
                customer
                    .entry("attributes")
                    .or_insert_with(|| Value::Object(Map::new()))
                    .as_object_mut()
                    .map(|a| a.insert(k.to_owned(), json!(text)));
            }
            f if f.starts_with("purchase.") => {
                purchase.insert(f["purchase.".len()..].to_owned(), json!(text));
            }
            f => set(&mut customer, f, json!(text)),
        }
    }
    if !customer.contains_key("person") && !customer.contains_key("organization") {
        customer.insert("person".into(), json!({}));
    }
    let mut entries = Vec::new();
    if !purchase.is_empty() {
        let occurred_at = purchase
            .remove("occurred_at")
            .unwrap_or_else(|| json!(chrono::Utc::now().to_rfc3339()));
        let amount = json!({
            "currency_code": purchase.remove("currency_code").unwrap_or(json!("")),
            "amount_minor": purchase.remove("amount_minor").unwrap_or(json!("0")),
        });
        entries.push(json!({
            "occurred_at": occurred_at,
            "purchase": {"order_ref": purchase.remove("order_ref").unwrap_or(json!("")), "amount": amount},
        }));
    }
    let row = json!({
        "key": key.unwrap_or(default_key),
        "customer": Value::Object(customer),
        "entries": entries,
    });
    from_value(&row, "crm.v1.ImportRow")
}

/// One JSONL line as a row.
fn jsonl_row(text: &str, default_key: String) -> anyhow::Result<pb::ImportRow> {
    let value: Value = serde_json::from_str(text).context("not JSON")?;
    let Value::Object(mut object) = value else {
        bail!("not a JSON object");
    };
    let mut row = if object.contains_key("customer") {
        object.remove("timeline");
        object.remove("cursor");
        if object
            .get("customer")
            .and_then(Value::as_object)
            .is_some_and(|c| c.contains_key("customer"))
        {
            bail!("a customer inside a customer");
        }
        from_value::<pb::ImportRow>(&Value::Object(object), "crm.v1.ImportRow")?
    } else {
        pb::ImportRow {
            key: String::new(),
            customer: Some(from_value(&Value::Object(object), "crm.v1.Customer")?),
            entries: Vec::new(),
        }
    };
    if row.key.is_empty() {
        row.key = default_key;
    }
    Ok(row)
}

/// What reading the file yields, line by line.
enum Item {
    /// A row ready to send.
    Row(Box<Row>),
    /// A line that is not a row: its number and why.
    Bad(u64, String),
}

/// The rows of a file as they are read.
type Items = Box<dyn Iterator<Item = Item> + Send>;

/// Opens the file and checks its header and mapping (a mistake here stops before anything is
/// sent); the rows are read as the import goes.
fn open_rows(args: &ImportArgs) -> anyhow::Result<Items> {
    let format = match (&args.format, args.file.extension().and_then(|e| e.to_str())) {
        (Some(f), _) => f.to_lowercase(),
        (None, Some(ext)) => ext.to_lowercase(),
        (None, None) => bail!("say --format csv or --format jsonl"),
    };
    let name = args
        .file
        .file_name()
        .map_or_else(|| "stdin".into(), |n| n.to_string_lossy().into_owned());
    let input: Box<dyn std::io::Read + Send> = if args.file == Path::new("-") {
        Box::new(std::io::stdin())
    } else {
        Box::new(
            std::fs::File::open(&args.file)
                .with_context(|| format!("cannot read {}", args.file.display()))?,
        )
    };
    let input = std::io::BufReader::with_capacity(1 << 20, input);
    match format.as_str() {
        "csv" => {
            let mut reader = csv::ReaderBuilder::new().flexible(false).from_reader(input);
            let headers = reader
                .headers()
                .context("the CSV has no header line")?
                .clone();
            let fields = mapping(&headers, args.map.as_deref())?;
            Ok(Box::new(reader.into_records().map(
                move |record| match record {
                    Ok(record) => {
                        let line = record.position().map_or(0, csv::Position::line);
                        match csv_row(&fields, &record, format!("{name}:{line}")) {
                            Ok(row) => Item::Row(Box::new(Row { line, row })),
                            Err(e) => Item::Bad(line, format!("{e:#}")),
                        }
                    }
                    Err(e) => {
                        let line = e.position().map_or(0, csv::Position::line);
                        Item::Bad(line, format!("malformed CSV: {}", e.kind_text()))
                    }
                },
            )))
        }
        "jsonl" | "ndjson" | "json" => {
            use std::io::BufRead as _;
            Ok(Box::new(input.lines().enumerate().filter_map(
                move |(i, text)| {
                    let line = i as u64 + 1;
                    match text {
                        Err(e) => Some(Item::Bad(line, format!("cannot read the line: {e}"))),
                        Ok(t) if t.trim().is_empty() => None,
                        Ok(t) => Some(match jsonl_row(&t, format!("{name}:{line}")) {
                            Ok(row) => Item::Row(Box::new(Row { line, row })),
                            Err(e) => Item::Bad(line, format!("{e:#}")),
                        }),
                    }
                },
            )))
        }
        other => bail!("{other:?} is not a format this command reads: csv or jsonl"),
    }
}

/// Rows in the file, for the progress bar: its lines (less the header, for CSV); none known
/// for standard input.
fn count_rows(args: &ImportArgs) -> Option<u64> {
    use std::io::Read as _;
    if args.file == Path::new("-") {
        return None;
    }
    let mut file = std::fs::File::open(&args.file).ok()?;
    let mut buf = vec![0u8; 1 << 20];
    let mut lines = 0u64;
    loop {
        let n = file.read(&mut buf).ok()?;
        if n == 0 {
            break;
        }
        lines += buf[..n].iter().filter(|b| **b == b'\n').count() as u64;
    }
    let csv = args.file.extension().is_some_and(|e| e == "csv");
    Some(lines.saturating_sub(u64::from(csv)))
}

trait KindText {
    fn kind_text(&self) -> String;
}

impl KindText for csv::Error {
    fn kind_text(&self) -> String {
        match self.kind() {
            csv::ErrorKind::UnequalLengths {
                expected_len, len, ..
            } => {
                format!("{len} fields where the header has {expected_len}")
            }
            _ => self.to_string(),
        }
    }
}

/// Runs the import. Returns the tally; bad rows are printed to stderr as `LINE: field: why`.
pub async fn run(conn: &Conn, args: &ImportArgs, format: Format) -> anyhow::Result<Tally> {
    if !(1..=1000).contains(&args.batch) {
        return Err(crate::commands::Usage("--batch must be 1 to 1,000".into()).into());
    }
    let items = open_rows(args).map_err(|e| crate::commands::Usage(format!("{e:#}")))?;
    let mut tally = Tally::default();
    let max_errors = args.max_errors as u64;
    let too_many = |failed: u64| max_errors > 0 && failed >= max_errors;
    let bar = match count_rows(args) {
        Some(total) => ProgressBar::new(total),
        None => ProgressBar::no_length(),
    };
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} rows  {per_sec}  ETA {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    // The reader: rows in messages of `batch`, each row's line kept for its answer; bad lines
    // reported as they are read.
    let lines = Arc::new(Mutex::new(Vec::new()));
    let unreadable = Arc::new(AtomicU64::new(0));
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    let (batch, dry_run) = (args.batch, args.dry_run);
    let reader = {
        let (lines, unreadable, bar) = (Arc::clone(&lines), Arc::clone(&unreadable), bar.clone());
        tokio::task::spawn_blocking(move || {
            let mut chunk = Vec::with_capacity(batch);
            let send = |chunk: Vec<pb::ImportRow>| {
                tx.blocking_send(pb::ImportCustomersRequest {
                    rows: chunk,
                    dry_run,
                    update_mask: None,
                })
                .is_ok()
            };
            for item in items {
                match item {
                    Item::Row(r) => {
                        lines.lock().unwrap_or_else(|e| e.into_inner()).push(r.line);
                        chunk.push(r.row);
                        if chunk.len() == batch && !send(std::mem::take(&mut chunk)) {
                            return;
                        }
                    }
                    Item::Bad(line, why) => {
                        bar.suspend(|| eprintln!("line {line}: {why}"));
                        bar.inc(1);
                        let bad = unreadable.fetch_add(1, Ordering::SeqCst) + 1;
                        if max_errors > 0 && bad >= max_errors {
                            return;
                        }
                    }
                }
            }
            if !chunk.is_empty() {
                send(chunk);
            }
        })
    };
    let mut client = pb::customer_service_client::CustomerServiceClient::new(conn.channel.clone())
        .max_decoding_message_size(64 << 20)
        .max_encoding_message_size(64 << 20);
    let mut answers = client
        .import_customers(conn.request(ReceiverStream::new(rx))?)
        .await?
        .into_inner();
    while let Some(answer) = answers.message().await? {
        for r in answer.results {
            let line = usize::try_from(r.index)
                .ok()
                .and_then(|i| {
                    lines
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .get(i)
                        .copied()
                })
                .unwrap_or(0);
            match pb::ItemAction::try_from(r.action).unwrap_or(pb::ItemAction::Unspecified) {
                pb::ItemAction::Created => tally.created += 1,
                pb::ItemAction::Updated => tally.updated += 1,
                pb::ItemAction::Unchanged => tally.unchanged += 1,
                pb::ItemAction::AlreadyImported => tally.already += 1,
                pb::ItemAction::Unspecified => {
                    tally.failed += 1;
                    let why = r.error.as_ref().map(item_error).unwrap_or_default();
                    bar.suspend(|| eprintln!("line {line}: {why}"));
                }
            }
            bar.inc(1);
        }
        if too_many(tally.failed + unreadable.load(Ordering::SeqCst)) {
            break;
        }
    }
    reader.abort();
    tally.failed += unreadable.load(Ordering::SeqCst);
    if too_many(tally.failed) {
        bar.abandon();
        eprintln!(
            "stopped: {} bad rows (--max-errors {})",
            tally.failed, args.max_errors
        );
        return Ok(tally);
    }
    bar.finish_and_clear();
    let summary = json!({
        "created": tally.created,
        "updated": tally.updated,
        "unchanged": tally.unchanged,
        "already_imported": tally.already,
        "failed": tally.failed,
        "dry_run": args.dry_run,
    });
    match format {
        Format::Json => println!("{summary}"),
        Format::Table => eprintln!(
            "{}: {} created, {} updated, {} unchanged, {} already imported, {} failed",
            if args.dry_run {
                "dry run (nothing written)"
            } else {
                "imported"
            },
            tally.created,
            tally.updated,
            tally.unchanged,
            tally.already,
            tally.failed
        ),
    }
    Ok(tally)
}
