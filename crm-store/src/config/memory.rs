//! The default cache: a share of the memory the process may use.
//!
//! The memory a process may use is the smallest of the machine's memory (`MemTotal` in
//! `/proc/meminfo`) and the limit of its control group (cgroup v2 `memory.max`, cgroup v1
//! `memory.limit_in_bytes`), so a container's limit counts, not its host's. The default cache
//! is [`CACHE_SHARE_DIVISOR`]th of it, kept between [`MIN_DEFAULT_CACHE`] and
//! [`MAX_DEFAULT_CACHE`].
//!
//! Why an eighth: sled's resident memory is not bounded by its cache setting. It overshoots it
//! (about 2× in our runs) and keeps per-page metadata that grows with the data: up to about
//! 1.25 KiB per customer at 1M customers once random reads have filled the cache (BENCHMARKS.md,
//! "Warm reads at 1M"). With an eighth in cache the process stays near a quarter of its memory
//! plus that metadata, and the rest is left to the operating system's page cache, which serves
//! the reads that miss sled's own.

use std::path::Path;

/// The default cache is this fraction (1/n) of the memory the process may use.
pub const CACHE_SHARE_DIVISOR: u64 = 8;
/// The default cache is never below this: 64 MiB.
pub const MIN_DEFAULT_CACHE: u64 = 64 << 20;
/// The default cache is never above this: 8 GiB.
pub const MAX_DEFAULT_CACHE: u64 = 8 << 30;
/// The default where the memory cannot be read (not Linux): 256 MiB.
pub const FALLBACK_CACHE: u64 = 256 << 20;

/// The memory this process may use, in bytes, if it can be read.
pub fn memory_limit() -> Option<u64> {
    let read = |path: &str| std::fs::read_to_string(Path::new(path)).ok();
    let total = read("/proc/meminfo").as_deref().and_then(mem_total);
    let cgroup = read("/sys/fs/cgroup/memory.max")
        .or_else(|| read("/sys/fs/cgroup/memory/memory.limit_in_bytes"))
        .as_deref()
        .and_then(cgroup_limit);
    match (total, cgroup) {
        (Some(t), Some(c)) => Some(t.min(c)),
        (t, c) => t.or(c),
    }
}

/// The default cache for a process that may use `limit` bytes (`None`: unknown).
pub fn cache_for(limit: Option<u64>) -> u64 {
    match limit {
        Some(limit) => (limit / CACHE_SHARE_DIVISOR).clamp(MIN_DEFAULT_CACHE, MAX_DEFAULT_CACHE),
        None => FALLBACK_CACHE,
    }
}

/// The default cache of this process: [`cache_for`] its [`memory_limit`].
pub fn default_cache_bytes() -> u64 {
    cache_for(memory_limit())
}

/// `MemTotal` of a `/proc/meminfo` text, in bytes.
fn mem_total(meminfo: &str) -> Option<u64> {
    let line = meminfo.lines().find(|l| l.starts_with("MemTotal:"))?;
    let mut words = line["MemTotal:".len()..].split_whitespace();
    let kib: u64 = words.next()?.parse().ok()?;
    match words.next() {
        Some("kB") | None => kib.checked_mul(1024),
        Some(_) => None,
    }
}

/// A cgroup memory limit file's value in bytes; `None` for no limit (`max`, or v1's huge
/// stand-in for none) or an unreadable value.
fn cgroup_limit(text: &str) -> Option<u64> {
    let value: u64 = text.trim().parse().ok()?;
    (value > 0 && value < 1 << 60).then_some(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_machine_memory_is_read_from_meminfo() {
        let meminfo = "MemTotal:       24615424 kB\nMemFree:        23000000 kB\n";
        assert_eq!(mem_total(meminfo), Some(24_615_424 * 1024));
        assert_eq!(mem_total("MemFree: 1 kB\n"), None);
        assert_eq!(mem_total("MemTotal: lots kB\n"), None);
        assert_eq!(mem_total("MemTotal: 1 MB\n"), None);
    }

    #[test]
    fn a_cgroup_limit_counts_and_max_means_none() {
        assert_eq!(cgroup_limit("2147483648\n"), Some(2 << 30));
        assert_eq!(cgroup_limit("max\n"), None);
        assert_eq!(cgroup_limit("9223372036854771712\n"), None);
        assert_eq!(cgroup_limit("0\n"), None);
        assert_eq!(cgroup_limit(""), None);
    }

    #[test]
    fn the_default_cache_is_an_eighth_of_memory_within_its_bounds() {
        // A 2 GiB container gets 256 MiB, the old fixed default.
        assert_eq!(cache_for(Some(2 << 30)), 256 << 20);
        assert_eq!(cache_for(Some(24 << 30)), 3 << 30);
        assert_eq!(cache_for(Some(128 << 20)), MIN_DEFAULT_CACHE);
        assert_eq!(cache_for(Some(1 << 40)), MAX_DEFAULT_CACHE);
        assert_eq!(cache_for(None), FALLBACK_CACHE);
    }

    #[test]
    fn this_machine_gets_a_cache_within_the_bounds() {
        let cache = default_cache_bytes();
        assert!((MIN_DEFAULT_CACHE..=MAX_DEFAULT_CACHE).contains(&cache));
        if let Some(limit) = memory_limit() {
            assert!(cache <= limit.max(MIN_DEFAULT_CACHE));
        }
    }
}
