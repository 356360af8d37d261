//! What the benchmarks (`relay-bench`, `blossom-bench`, `gateway-bench`) share: percentiles and
//! medians, this process's memory and CPU time from `/proc` (Linux), single-core rates, and a
//! small deterministic random number generator.

use std::time::{Duration, Instant};

use anyhow::Context;

/// The 50th and 99th percentiles of some samples, by nearest rank, and how many there were.
#[derive(Debug, Clone, Copy)]
pub struct Percentiles {
    pub p50: f64,
    pub p99: f64,
    pub count: usize,
}

impl Percentiles {
    /// Nearest rank: the smallest sample with at least `q` of all samples at or below it.
    /// Under 100 samples that makes the 99th percentile the largest one. No samples: `NaN`.
    pub fn of(mut samples: Vec<f64>) -> Self {
        samples.sort_by(f64::total_cmp);
        let count = samples.len();
        let rank = |q: f64| {
            let rank = (q * count as f64).ceil() as usize;
            samples.get(rank.max(1) - 1).copied().unwrap_or(f64::NAN)
        };
        Self {
            p50: rank(0.50),
            p99: rank(0.99),
            count,
        }
    }

    /// What [`Percentiles::p99`] is called in a report: `max` when there are fewer than 100
    /// samples (the 99th percentile of so few is the largest).
    pub fn tail_label(&self) -> &'static str {
        if self.count < 100 { "max" } else { "p99" }
    }
}

/// The median: the middle figure, the upper of the two middle ones for an even count
/// (`NaN` for none).
pub fn median(mut figures: Vec<f64>) -> f64 {
    figures.sort_by(f64::total_cmp);
    figures.get(figures.len() / 2).copied().unwrap_or(f64::NAN)
}

/// A `kB` field of `/proc/<pid>/status` (`pid` `self` for this process) in MiB: `VmHWM` (peak
/// resident set), `VmRSS` (resident set), `RssAnon` (its anonymous part).
pub fn status_mib(pid: &str, field: &str) -> anyhow::Result<f64> {
    let path = format!("/proc/{pid}/status");
    let status = std::fs::read_to_string(&path).with_context(|| format!("cannot read {path}"))?;
    let kib = kib_field(&status, field).with_context(|| format!("no {field} in {path}"))?;
    Ok(kib / 1024.0)
}

/// A field of `/proc/meminfo` (`MemAvailable`, `MemTotal`, ...) in MiB.
pub fn meminfo_mib(field: &str) -> Option<f64> {
    let meminfo = std::fs::read_to_string("/proc/meminfo").ok()?;
    kib_field(&meminfo, field).map(|kib| kib / 1024.0)
}

/// `<field>:   1234 kB` from a `/proc` file, in KiB.
fn kib_field(text: &str, field: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()
}

/// Start this process's peak-RSS mark (`VmHWM`) afresh (`5` to `/proc/self/clear_refs`, Linux
/// 4.0 and later). False when that was refused: the peak then still counts what came before.
pub fn reset_peak_rss() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

/// User and system CPU time of this process so far, in seconds (`/proc/self/stat`, taking the
/// usual `USER_HZ` of 100).
pub fn cpu_seconds() -> anyhow::Result<f64> {
    process_cpu_seconds("self")
}

/// The same for process `pid` (`self` for this one), all its threads included.
pub fn process_cpu_seconds(pid: &str) -> anyhow::Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // The fields after the command name (which is in parentheses and may hold spaces).
    let rest = stat.rsplit_once(") ").map(|(_, r)| r).unwrap_or_default();
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the whole line, 12 and 13 after the name.
    let ticks = |i: usize| -> anyhow::Result<f64> {
        Ok(fields
            .get(i)
            .context("short /proc/self/stat")?
            .parse::<f64>()?)
    };
    Ok((ticks(11)? + ticks(12)?) / 100.0)
}

/// How often `op` runs per second on this thread: warmed up for a tenth of a second, then timed
/// for at least a second in batches that grow until one takes 10 ms (so that reading the clock
/// costs nothing next to fast operations, and slow ones are not run needlessly often).
pub fn per_second<E: Into<anyhow::Error>>(
    mut op: impl FnMut() -> Result<(), E>,
) -> anyhow::Result<f64> {
    let mut run = |times: u64| -> anyhow::Result<()> {
        for _ in 0..times {
            op().map_err(Into::into)?;
        }
        Ok(())
    };
    let warm_up = Instant::now();
    while warm_up.elapsed() < Duration::from_millis(100) {
        run(1)?;
    }
    let started = Instant::now();
    let (mut done, mut batch) = (0u64, 1u64);
    loop {
        let batch_started = Instant::now();
        run(batch)?;
        done += batch;
        if batch_started.elapsed() < Duration::from_millis(10) {
            batch = batch.saturating_mul(2);
        }
        let elapsed = started.elapsed().as_secs_f64();
        if elapsed >= 1.0 {
            return Ok(done as f64 / elapsed);
        }
    }
}

/// splitmix64: reproducible figures and content for a seed, without another dependency.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ 0x2545_f491_4f6c_dd1d)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `[0, n)` (0 when `n` is 0).
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 { 0 } else { self.next_u64() % n }
    }

    /// One of `items` (`None` when there are none).
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> Option<&'a T> {
        items.get(self.below(items.len() as u64) as usize)
    }

    /// A value in `[low, high)` rounded to `decimals`.
    pub fn value(&mut self, low: f64, high: f64, decimals: i32) -> f64 {
        let unit = (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
        let scale = 10f64.powi(decimals);
        ((low + unit * (high - low)) * scale).round() / scale
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank() {
        let hundred: Vec<f64> = (1..=100).map(f64::from).collect();
        let p = Percentiles::of(hundred);
        assert_eq!(
            (p.p50, p.p99, p.count, p.tail_label()),
            (50.0, 99.0, 100, "p99")
        );
        let few = Percentiles::of(vec![3.0, 1.0, 2.0]);
        assert_eq!((few.p50, few.p99, few.tail_label()), (2.0, 3.0, "max"));
        assert!(Percentiles::of(Vec::new()).p50.is_nan());
        assert_eq!(median(vec![4.0, 1.0, 3.0, 2.0]), 3.0);
    }

    #[test]
    fn proc_fields() {
        let text = "VmHWM:\t  2048 kB\nVmRSS:\t  1024 kB\nRssAnon:\t 512 kB\n";
        assert_eq!(kib_field(text, "VmRSS"), Some(1024.0));
        assert_eq!(kib_field(text, "RssAnon"), Some(512.0));
        assert_eq!(kib_field(text, "Vm"), None);
        assert!(status_mib("self", "VmRSS").is_ok_and(|mib| mib > 0.0));
    }

    #[test]
    fn rng_is_reproducible() {
        let (mut a, mut b) = (Rng::new(7), Rng::new(7));
        assert_eq!(a.next_u64(), b.next_u64());
        assert!((0..1000).all(|_| a.below(10) < 10));
        assert_eq!(a.pick::<u8>(&[]), None);
    }
}
