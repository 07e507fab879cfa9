//! Damaged engine files: after a clean or an unclean shutdown, a truncated or bit-flipped file
//! either opens with every acknowledged write intact (a damaged record answering DATA_LOSS) or
//! is refused with an error that says data is missing or damaged. Never an older state served
//! as if it were current; never a panic.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crm_tests::*;

use super::{Acked, check_acked, trials};

/// One way to damage a file.
#[derive(Clone, Debug)]
enum Damage {
    /// Cut this many bytes off the end.
    Truncate(u64),
    /// Keep only this share of the file (per mille).
    KeepPerMille(u64),
    /// Flip these bits at these offsets (taken modulo the length).
    Flip(Vec<(u64, u8)>),
}

fn apply(file: &Path, damage: &Damage) {
    let mut bytes = std::fs::read(file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    let len = bytes.len() as u64;
    match damage {
        Damage::Truncate(n) => bytes.truncate(len.saturating_sub(*n) as usize),
        Damage::KeepPerMille(k) => bytes.truncate((len * k / 1000) as usize),
        Damage::Flip(flips) => {
            for (at, bits) in flips {
                if len > 0 {
                    bytes[(at % len) as usize] ^= bits.max(&1);
                }
            }
        }
    }
    std::fs::write(file, bytes).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap_or_else(|e| panic!("{e}"));
    for entry in std::fs::read_dir(from).unwrap_or_else(|e| panic!("{e}")) {
        let entry = entry.unwrap_or_else(|e| panic!("{e}"));
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap_or_else(|e| panic!("{e}"));
        }
    }
}

/// The files of a data directory, relative to it (the engine's and crm's own).
fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for entry in std::fs::read_dir(&d).unwrap_or_else(|e| panic!("{e}")) {
            let path = entry.unwrap_or_else(|e| panic!("{e}")).path();
            if path.is_dir() {
                todo.push(path);
            } else if path.file_name().is_some_and(|n| n != "keys.json") {
                out.push(path.strip_prefix(dir).unwrap_or(&path).to_path_buf());
            }
        }
    }
    out.sort();
    out
}

/// A store with customers updated several times, shut down cleanly or killed.
async fn written_store(dir: &Path, unclean: bool) -> Acked {
    let server = ServerProcess::start(dir, &[]);
    let mut client = connect(server.addr).await;
    let mut acked = Acked::new();
    for i in 0..30 {
        let mut c = create(&mut client, person(&format!("Damaged {i}"), "")).await;
        for version in 0..(i % 6) {
            c.attributes.insert("version".into(), version.to_string());
            c = client
                .update_customer(pb::UpdateCustomerRequest {
                    customer: Some(c.clone()),
                    update_mask: Some(prost_types::FieldMask {
                        paths: vec!["attributes".into()],
                    }),
                    ..Default::default()
                })
                .await
                .unwrap_or_else(|s| panic!("{s:?}"))
                .into_inner();
        }
        acked.insert(c.id.clone(), c.etag.clone());
    }
    if unclean {
        server.kill9();
    } else {
        let status = server.terminate_within(Duration::from_secs(10));
        assert!(status.is_some_and(|s| s.success()));
    }
    acked
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_damaged_data_file_is_refused_or_served_intact_never_older() {
    let mut rng = super::seeded();
    for unclean in [false, true] {
        let pristine = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let acked = written_store(pristine.path(), unclean).await;
        let mut cases: Vec<(PathBuf, Damage)> = Vec::new();
        for file in files(pristine.path()) {
            cases.push((file.clone(), Damage::Truncate(4096)));
            cases.push((file.clone(), Damage::KeepPerMille(500)));
            cases.push((file.clone(), Damage::Flip(vec![(u64::MAX - 99, 0x01)])));
            cases.push((file.clone(), Damage::Flip(vec![(rng.next(), 0x40)])));
            for _ in 0..trials(1) {
                let flips = (0..8)
                    .map(|_| (rng.next(), (rng.next() as u8) | 1))
                    .collect();
                cases.push((file.clone(), Damage::Flip(flips)));
                cases.push((file.clone(), Damage::Truncate(1 + rng.below(64 * 1024))));
            }
        }
        let (mut refused, mut intact, mut damaged_reads) = (0, 0, 0);
        for (file, damage) in &cases {
            let what = format!(
                "{} after {} shutdown, {damage:?}",
                file.display(),
                if unclean { "an unclean" } else { "a clean" }
            );
            let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
            copy_dir(pristine.path(), dir.path());
            apply(&dir.path().join(file), damage);
            match ServerProcess::try_start(dir.path(), None, &[]) {
                Err((status, log)) => {
                    assert_eq!(
                        status.code(),
                        Some(1),
                        "{what}: crm-server ended with {status}:\n{log}"
                    );
                    assert!(
                        log.contains("missing") || log.contains("damaged"),
                        "{what}: refused without saying data is missing or damaged:\n{log}"
                    );
                    refused += 1;
                }
                Ok(server) => {
                    let mut client = connect(server.addr).await;
                    let damaged = check_acked(&mut client, &acked).await;
                    if damaged == 0 {
                        intact += 1;
                    } else {
                        damaged_reads += 1;
                    }
                    let status = server.terminate_within(Duration::from_secs(10));
                    assert!(status.is_some(), "{what}: SIGTERM did not end the server");
                }
            }
        }
        eprintln!(
            "damage after {} shutdown: {} cases: {refused} refused, {intact} intact, \
             {damaged_reads} served with damaged records answering DATA_LOSS",
            if unclean { "an unclean" } else { "a clean" },
            cases.len()
        );
    }
}
