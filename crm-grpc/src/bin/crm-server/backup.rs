//! `crm-server backup`, `crm-server restore` and `crm-server migrate` (a backup piped into a
//! restore on another engine).

use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use crm_grpc::pb;
use crm_store::{BackupInfo, Embedded, Store, StoreConfig, StoreError};

/// Where a backup is taken from.
pub(crate) enum Source {
    /// A running server, through `AdminService/Backup`.
    Server {
        /// Its address (`http://127.0.0.1:50051`).
        addr: String,
        /// An admin API key, when the server needs one.
        api_key: Option<String>,
    },
    /// A data directory no server holds.
    Directory(PathBuf),
}

/// Writes a backup to `to`: first to a temporary file beside it, renamed into place once
/// complete, so an interrupted backup never leaves a file that looks whole.
pub(crate) fn backup(source: Source, to: &Path) -> anyhow::Result<()> {
    let partial = to.with_extension("partial");
    let file = std::fs::File::create(&partial)
        .with_context(|| format!("cannot create {}", partial.display()))?;
    let mut out = std::io::BufWriter::with_capacity(1 << 20, file);
    let taken = match source {
        Source::Directory(dir) => from_directory(&dir, &mut out),
        Source::Server { addr, api_key } => from_server(&addr, api_key, &mut out),
    };
    let summary = match taken.and_then(|s| {
        let file = out.into_inner().context("cannot write the backup")?;
        file.sync_all().context("cannot fsync the backup")?;
        Ok(s)
    }) {
        Ok(summary) => summary,
        Err(e) => {
            let _ = std::fs::remove_file(&partial);
            return Err(e);
        }
    };
    std::fs::rename(&partial, to).with_context(|| format!("cannot write {}", to.display()))?;
    eprintln!(
        "backup written to {}: {} bytes, {} keys, the state at cursor {} (format {})",
        to.display(),
        summary.bytes,
        summary.entries,
        summary.cursor,
        summary.format
    );
    Ok(())
}

fn from_directory(dir: &Path, out: &mut impl std::io::Write) -> anyhow::Result<pb::BackupSummary> {
    if !dir.exists() {
        bail!("{} does not exist: no store to back up", dir.display());
    }
    let info: BackupInfo = open_stopped(dir, "back it up")?.backup(out)?;
    Ok(crm_grpc::convert::backup_summary_to_proto(&info))
}

/// The store in `dir`, on the engine whose files it holds, when no server holds it.
fn open_stopped(dir: &Path, what: &str) -> anyhow::Result<Store> {
    let engine = Embedded::found_in(dir).unwrap_or_default();
    match Store::open_with(StoreConfig::new(dir).engine(engine)) {
        Ok(store) => Ok(store),
        Err(StoreError::Locked { path }) => bail!(
            "a server holds {path}: stop it to {what}, or back it up through the server with \
             `crm-server backup --addr` (http://127.0.0.1:50051)"
        ),
        Err(e) => Err(e).with_context(|| format!("cannot open {}", dir.display())),
    }
}

fn from_server(
    addr: &str,
    api_key: Option<String>,
    out: &mut impl std::io::Write,
) -> anyhow::Result<pb::BackupSummary> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let channel = tonic::transport::Endpoint::from_shared(addr.to_owned())
            .with_context(|| format!("{addr:?} is not an address (http://host:port)"))?
            .connect()
            .await
            .with_context(|| format!("cannot connect to {addr}"))?;
        let mut client = pb::admin_service_client::AdminServiceClient::new(channel)
            .max_decoding_message_size(8 << 20);
        let mut request = tonic::Request::new(pb::BackupRequest {});
        if let Some(key) = api_key {
            request.metadata_mut().insert(
                "authorization",
                format!("Bearer {key}")
                    .parse()
                    .context("the API key is not valid header text")?,
            );
        }
        let mut stream = client
            .backup(request)
            .await
            .map_err(|s| anyhow::anyhow!("the server refused the backup: {}", s.message()))?
            .into_inner();
        loop {
            let message = stream
                .message()
                .await
                .map_err(|s| anyhow::anyhow!("the backup stopped: {}", s.message()))?;
            let Some(message) = message else {
                bail!("the server ended the backup without its summary: it is incomplete");
            };
            out.write_all(&message.data)
                .context("cannot write the backup")?;
            if let Some(summary) = message.summary {
                return Ok(summary);
            }
        }
    })
}

/// Restores `from` into the empty directory `dir`, then verifies the restored store.
pub(crate) fn restore(from: &Path, dir: &Path) -> anyhow::Result<()> {
    let file =
        std::fs::File::open(from).with_context(|| format!("cannot read {}", from.display()))?;
    let (store, info) = crm_store::restore(file, dir, StoreConfig::new(dir))
        .with_context(|| format!("cannot restore {}", from.display()))?;
    let customers = verified(&store, dir)?;
    eprintln!(
        "restored {} keys into {}: the state at cursor {} (taken {} from {}); verify is clean \
         ({customers} customers)",
        info.entries,
        dir.display(),
        info.cursor,
        info.time.to_rfc3339(),
        info.engine,
    );
    Ok(())
}

/// Copies the stopped store in `from` into `to` (empty or missing) on `engine`: a backup of
/// one consistent state streamed into a restore, then `verify`. `from` is only read.
pub(crate) fn migrate(from: &Path, to: &Path, engine: Embedded) -> anyhow::Result<()> {
    if Embedded::found_in(from).is_none() {
        bail!("{} holds no sled or fjall store", from.display());
    }
    let source = open_stopped(from, "migrate it")?;
    let (reader, writer) = std::io::pipe().context("cannot make a pipe")?;
    let sending = std::thread::spawn(move || -> anyhow::Result<BackupInfo> {
        let mut out = std::io::BufWriter::with_capacity(1 << 20, writer);
        let info = source.backup(&mut out)?;
        out.flush().context("cannot write to the restore")?;
        Ok(info)
    });
    let input = std::io::BufReader::with_capacity(1 << 20, reader);
    let restored = crm_store::restore(input, to, StoreConfig::new(to).engine(engine));
    let sent = sending
        .join()
        .map_err(|_| anyhow::anyhow!("the backup thread failed"))?;
    let (store, info) = restored.with_context(|| format!("cannot copy into {}", to.display()))?;
    sent.context("cannot read the source store")?;
    let customers = verified(&store, to)?;
    eprintln!(
        "migrated {} keys from {} ({}) into {} ({}): the state at cursor {}; verify is clean \
         ({customers} customers)",
        info.entries,
        from.display(),
        info.engine,
        to.display(),
        engine.name(),
        info.cursor,
    );
    Ok(())
}

/// Verifies a store just written; its customer count when clean.
fn verified(store: &Store, dir: &Path) -> anyhow::Result<u64> {
    let report = store.verify()?;
    if !report.is_clean() {
        for problem in report.problems.iter().take(20) {
            eprintln!("  {problem}");
        }
        bail!(
            "wrote {}, but verify found {} problems",
            dir.display(),
            report.problems.len()
        );
    }
    let _ = std::io::stderr().flush();
    Ok(report.customers)
}
