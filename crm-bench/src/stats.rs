//! Timing workloads: every operation timed on its own, then ops/s over the wall time and
//! percentiles over the operations.

use std::time::Instant;

use anyhow::Result;

/// A small seedable random source (xorshift64*).
#[derive(Clone, Copy, Debug)]
pub struct Rng(pub u64);

impl Rng {
    /// The next number.
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A number below `n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }
}

/// The latencies of one workload's operations and its wall time.
#[derive(Clone, Debug)]
pub struct Sample {
    nanos: Vec<u64>,
    wall_secs: f64,
}

impl Sample {
    /// Runs `f(i)` for `i` in `0..n`, one at a time.
    pub fn run(n: u64, mut f: impl FnMut(u64) -> Result<()>) -> Result<Sample> {
        let mut nanos = Vec::with_capacity(usize::try_from(n).unwrap_or(0));
        let start = Instant::now();
        for i in 0..n {
            let t = Instant::now();
            f(i)?;
            nanos.push(u64::try_from(t.elapsed().as_nanos()).unwrap_or(u64::MAX));
        }
        Ok(Sample {
            nanos,
            wall_secs: start.elapsed().as_secs_f64(),
        })
    }

    /// Runs `f(w, i)` for `i` in `0..each` on `threads` threads at once (`w` the thread).
    pub fn run_parallel(
        threads: u64,
        each: u64,
        f: impl Fn(u64, u64) -> Result<()> + Sync,
    ) -> Result<Sample> {
        let start = Instant::now();
        let results: Vec<Result<Vec<u64>>> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..threads)
                .map(|w| {
                    let f = &f;
                    scope.spawn(move || {
                        let mut nanos = Vec::new();
                        for i in 0..each {
                            let t = Instant::now();
                            f(w, i)?;
                            nanos.push(u64::try_from(t.elapsed().as_nanos()).unwrap_or(u64::MAX));
                        }
                        Ok(nanos)
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join()
                        .unwrap_or_else(|_| Err(anyhow::anyhow!("a writer thread panicked")))
                })
                .collect()
        });
        let mut nanos = Vec::new();
        for r in results {
            nanos.extend(r?);
        }
        Ok(Sample {
            nanos,
            wall_secs: start.elapsed().as_secs_f64(),
        })
    }

    /// Operations per second over the wall time.
    pub fn ops_per_sec(&self) -> f64 {
        self.nanos.len() as f64 / self.wall_secs.max(1e-9)
    }

    /// The latency at quantile `q` (0..=1), in microseconds.
    pub fn quantile_us(&self, q: f64) -> f64 {
        let mut sorted = self.nanos.clone();
        sorted.sort_unstable();
        let Some(last) = sorted.len().checked_sub(1) else {
            return 0.0;
        };
        let at = ((last as f64) * q).round() as usize;
        sorted.get(at.min(last)).copied().unwrap_or(0) as f64 / 1000.0
    }

    /// One JSON line describing the sample.
    pub fn json(&self, engine: &str, size: u64, workload: &str) -> String {
        serde_json::json!({
            "engine": engine,
            "size": size,
            "workload": workload,
            "ops": self.nanos.len(),
            "secs": self.wall_secs,
            "ops_per_sec": self.ops_per_sec(),
            "p50_us": self.quantile_us(0.5),
            "p99_us": self.quantile_us(0.99),
        })
        .to_string()
    }
}

/// The process's peak resident set (VmHWM), in bytes; 0 where /proc does not tell.
pub fn peak_rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<u64>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}
