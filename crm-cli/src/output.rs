//! What the command line prints: tables for people, JSON for scripts, and errors with the
//! fields they name.

use tonic_types::StatusExt;

use crate::json::to_json;
use crm_grpc::pb;

/// How to print.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// Aligned columns.
    Table,
    /// One JSON document (or one per line, for streams).
    Json,
}

/// Prints rows under headers, each column as wide as its widest cell.
pub fn table(headers: &[&str], rows: &[Vec<String>]) {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<String>| {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        println!("{}", padded.join("  ").trim_end());
    };
    line(headers.iter().map(|h| (*h).to_owned()).collect());
    for row in rows {
        line(row.clone());
    }
}

fn stage(c: &pb::Customer) -> String {
    pb::LifecycleStage::try_from(c.lifecycle_stage)
        .map(|s| s.as_str_name().to_owned())
        .unwrap_or_default()
}

fn status(c: &pb::Customer) -> String {
    pb::RelationshipStatus::try_from(c.relationship_status)
        .map(|s| s.as_str_name().to_owned())
        .unwrap_or_default()
}

/// Prints customers as a table or as JSON lines.
pub fn customers(format: Format, customers: &[pb::Customer]) -> anyhow::Result<()> {
    match format {
        Format::Json => {
            for c in customers {
                println!("{}", to_json(c, "crm.v1.Customer", false)?);
            }
        }
        Format::Table => {
            let rows: Vec<Vec<String>> = customers
                .iter()
                .map(|c| {
                    vec![
                        c.id.clone(),
                        c.display_name.clone(),
                        stage(c),
                        status(c),
                        c.emails
                            .first()
                            .map(|e| e.address.clone())
                            .unwrap_or_default(),
                        c.external_id.clone(),
                        c.tags.join(","),
                    ]
                })
                .collect();
            table(
                &[
                    "ID",
                    "NAME",
                    "STAGE",
                    "STATUS",
                    "EMAIL",
                    "EXTERNAL ID",
                    "TAGS",
                ],
                &rows,
            );
        }
    }
    Ok(())
}

/// One customer: every field, as JSON or as `field: value` lines.
pub fn customer(format: Format, c: &pb::Customer) -> anyhow::Result<()> {
    let json = to_json(c, "crm.v1.Customer", false)?;
    match format {
        Format::Json => println!("{json}"),
        Format::Table => {
            if let serde_json::Value::Object(fields) = json {
                for (k, v) in fields {
                    let text = match v {
                        serde_json::Value::String(s) => s,
                        other => other.to_string(),
                    };
                    println!("{k}: {text}");
                }
            }
        }
    }
    Ok(())
}

/// A server's refusal as a person reads it: the message, then each field it names.
pub fn describe_status(status: &tonic::Status) -> String {
    let mut out = format!("{:?}: {}", status.code(), status.message());
    let details = status.get_error_details();
    if let Some(info) = details.error_info() {
        out.push_str(&format!(" [{}]", info.reason));
    }
    if let Some(bad) = details.bad_request() {
        for v in &bad.field_violations {
            out.push_str(&format!("\n  {}: {}", v.field, v.description));
        }
    }
    out
}

/// The fields and descriptions a `google.rpc.Status` (a batch item's error) names.
pub fn item_error(error: &tonic_types::pb::Status) -> String {
    use prost::Message as _;
    let mut parts = Vec::new();
    for d in &error.details {
        if d.type_url.ends_with("google.rpc.BadRequest")
            && let Ok(bad) = tonic_types::pb::BadRequest::decode(d.value.as_slice())
        {
            for v in bad.field_violations {
                parts.push(format!("{}: {}", v.field, v.description));
            }
        }
    }
    if parts.is_empty() {
        error.message.clone()
    } else {
        parts.join("; ")
    }
}
