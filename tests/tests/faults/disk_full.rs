//! A disk that fills up: writes are refused at once with DISK_FULL, reads go on, every
//! acknowledged write survives, writes work again once space is freed, and SIGTERM ends the
//! server promptly.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crm_tests::*;
use tonic::Code;

use super::{Acked, check_acked, customer_of_size, trials, within};

/// The reserve the server keeps free in these trials, in MiB.
const RESERVE_MB: u64 = 8;

/// A tmpfs mounted for one trial, unmounted when dropped.
struct SmallDisk {
    _dir: tempfile::TempDir,
    path: PathBuf,
}

impl SmallDisk {
    /// Mounts a tmpfs of `mib` MiB, or says why it cannot.
    fn mount(mib: u64) -> Result<SmallDisk, String> {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let path = dir.path().to_path_buf();
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={mib}m"), "tmpfs"])
            .arg(&path)
            .output()
            .map_err(|e| format!("cannot run mount: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "mount -t tmpfs failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        Ok(SmallDisk { _dir: dir, path })
    }

    fn free(&self) -> u64 {
        fs2::available_space(&self.path).unwrap_or_else(|e| panic!("statvfs: {e}"))
    }

    /// Takes space with a file of `bytes` (as another program would).
    fn take(&self, name: &str, bytes: u64) -> PathBuf {
        let file = self.path.join(name);
        if bytes > 0 {
            let status = Command::new("fallocate")
                .args(["-l", &bytes.to_string()])
                .arg(&file)
                .status()
                .unwrap_or_else(|e| panic!("cannot run fallocate: {e}"));
            assert!(status.success(), "fallocate of {bytes} bytes failed");
        }
        file
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.path).status();
    }
}

/// A tmpfs of `mib` MiB, or `None` (with the reason printed) where this process cannot mount
/// one: not root, or a container without the right to mount.
fn small_disk(mib: u64) -> Option<SmallDisk> {
    let mounted = match why_not_root() {
        Some(why) => Err(why),
        None => SmallDisk::mount(mib),
    };
    match mounted {
        Ok(disk) => Some(disk),
        Err(why) => {
            eprintln!("SKIPPED: a full disk needs a small file system, and {why}");
            None
        }
    }
}

fn why_not_root() -> Option<String> {
    let uid = Command::new("id").arg("-u").output().ok()?;
    let uid = String::from_utf8_lossy(&uid.stdout).trim().to_owned();
    (uid != "0").then(|| format!("running as uid {uid}: mounting a small tmpfs needs root"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_full_disk_refuses_writes_at_once_serves_reads_and_recovers_when_space_returns() {
    let Some(disk) = small_disk(64) else { return };
    drop(disk);
    let mut rng = super::seeded();
    for trial in 0..trials(2) {
        // Even trials: small records; odd: about 40 KB each. Every third: another program
        // takes the last byte of the disk while crm writes.
        let record = if trial % 2 == 0 { 300 } else { 40_000 };
        let grabbed = trial % 3 == 2;
        let disk = SmallDisk::mount(64).unwrap_or_else(|why| panic!("{why}"));
        one_trial(trial, &disk, record, grabbed, &mut rng).await;
    }
}

async fn one_trial(trial: u32, disk: &SmallDisk, record: usize, grabbed: bool, rng: &mut Rng) {
    let data = disk.path.join("data");
    let reserve = RESERVE_MB.to_string();
    let flags = ["--disk-reserve-mb", reserve.as_str()];
    let server = ServerProcess::start(&data, &flags);
    let mut client = connect(server.addr).await;
    // Leave the reserve and a few MiB for the trial to fill.
    let headroom = (6 + rng.below(6)) << 20;
    let filler = disk.take(
        "filler",
        disk.free().saturating_sub((RESERVE_MB << 20) + headroom),
    );
    let mut grab = None;

    let mut acked = Acked::new();
    let mut refusals = 0;
    let started = Instant::now();
    for i in 0..50_000u32 {
        if grabbed && grab.is_none() && acked.len() == 20 {
            grab = Some(disk.take("grab", disk.free()));
        }
        let customer = customer_of_size(&format!("Trial {trial} no {i}"), record);
        let call = client.create_customer(pb::CreateCustomerRequest {
            customer: Some(customer),
            request_id: String::new(),
        });
        match within("CreateCustomer", Duration::from_secs(10), call).await {
            Ok(c) => {
                let c = c.into_inner();
                acked.insert(c.id, c.etag);
            }
            Err(s) if s.code() == Code::ResourceExhausted && reason(&s) == "DISK_FULL" => {
                refusals += 1;
            }
            Err(s) => panic!("trial {trial}: a write on a filling disk failed with {s:?}"),
        }
        // Reads are served throughout.
        if i % 25 == 0 && !acked.is_empty() {
            let at = rng.below(acked.len() as u64) as usize;
            if let Some((id, etag)) = acked.iter().nth(at) {
                let got = within(
                    "GetCustomer",
                    Duration::from_secs(10),
                    client.get_customer(pb::GetCustomerRequest { id: id.clone() }),
                )
                .await;
                let got = got.unwrap_or_else(|s| panic!("trial {trial}: read failed: {s:?}"));
                assert_eq!(&got.into_inner().etag, etag);
            }
        }
        if refusals >= 20 {
            break;
        }
    }
    assert!(
        refusals >= 20,
        "trial {trial}: the disk never filled ({} writes acknowledged)",
        acked.len()
    );
    eprintln!(
        "trial {trial}: {} records of {record} bytes acknowledged, then {refusals} refused \
         (DISK_FULL) in {:?}{}",
        acked.len(),
        started.elapsed(),
        if grabbed {
            "; another program took the last byte"
        } else {
            ""
        }
    );
    assert_eq!(check_acked(&mut client, &acked).await, 0);

    // Space comes back: writes work again, without a restart.
    remove(&filler);
    if let Some(grab) = &grab {
        remove(grab);
    }
    let mut recovered = false;
    for attempt in 0..50 {
        let customer = customer_of_size(&format!("Trial {trial} after {attempt}"), record);
        let call = client.create_customer(pb::CreateCustomerRequest {
            customer: Some(customer),
            request_id: String::new(),
        });
        match within("CreateCustomer", Duration::from_secs(10), call).await {
            Ok(c) => {
                let c = c.into_inner();
                acked.insert(c.id, c.etag);
                recovered = true;
                break;
            }
            Err(s) if reason(&s) == "DISK_FULL" => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(s) => panic!("trial {trial}: a write after space returned failed: {s:?}"),
        }
    }
    assert!(
        recovered,
        "trial {trial}: writes did not recover once space returned"
    );

    let status = server.terminate_within(Duration::from_secs(10));
    let status = status
        .unwrap_or_else(|| panic!("trial {trial}: SIGTERM did not end the server within 10 s"));
    assert!(
        status.success(),
        "trial {trial}: the server exited with {status}"
    );

    // Every acknowledged write survives a restart, and the store is consistent.
    let server = ServerProcess::start(&data, &flags);
    let mut client = connect(server.addr).await;
    assert_eq!(check_acked(&mut client, &acked).await, 0);
    let mut admin =
        pb::admin_service_client::AdminServiceClient::new(client_channel(server.addr).await);
    let report = admin
        .verify_store(pb::VerifyStoreRequest {})
        .await
        .unwrap_or_else(|s| panic!("{s:?}"))
        .into_inner();
    assert!(report.clean, "trial {trial}: {:?}", report.problems);
    let status = server.terminate_within(Duration::from_secs(10));
    assert!(status.is_some_and(|s| s.success()));
}

fn remove(path: &Path) {
    std::fs::remove_file(path).unwrap_or_else(|e| panic!("cannot remove {}: {e}", path.display()));
}

async fn client_channel(addr: std::net::SocketAddr) -> tonic::transport::Channel {
    tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
        .unwrap_or_else(|e| panic!("{e}"))
        .connect()
        .await
        .unwrap_or_else(|e| panic!("{e}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn without_a_reserve_the_engine_meets_the_full_disk_stops_writes_and_the_server_exits_for_a_restart()
 {
    let Some(disk) = small_disk(48) else { return };
    let data = disk.path.join("data");
    let mut server = ServerProcess::start(&data, &["--disk-reserve-mb", "0", "--stall-secs", "3"]);
    let mut client = connect(server.addr).await;
    let filler = disk.take("filler", disk.free().saturating_sub(6 << 20));
    let mut acked = Acked::new();
    let mut failed = None;
    for i in 0..2_000u32 {
        let call = client.create_customer(pb::CreateCustomerRequest {
            customer: Some(customer_of_size(&format!("Unreserved {i}"), 40_000)),
            request_id: String::new(),
        });
        match tokio::time::timeout(Duration::from_secs(15), call).await {
            Ok(Ok(c)) => {
                let c = c.into_inner();
                acked.insert(c.id, c.etag);
            }
            Ok(Err(s)) => {
                failed = Some(format!("{:?} {}", s.code(), s.message()));
                break;
            }
            Err(_) => {
                failed = Some("no answer within 15 s".into());
                break;
            }
        }
    }
    let failed = failed.unwrap_or_else(|| panic!("the disk never filled"));
    eprintln!("{} writes acknowledged; then: {failed}", acked.len());
    // The engine is fenced and the server ends by itself, for a supervisor to restart it.
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = server.exited() {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "the server did not exit after the engine failed"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(status.code(), Some(75), "{status}");

    // Space back, restarted: every acknowledged write is there.
    remove(&filler);
    let server = ServerProcess::start(&data, &["--disk-reserve-mb", "0"]);
    let mut client = connect(server.addr).await;
    assert_eq!(check_acked(&mut client, &acked).await, 0);
    let status = server.terminate_within(Duration::from_secs(10));
    assert!(status.is_some_and(|s| s.success()));
}
