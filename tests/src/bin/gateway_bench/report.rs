//! The report: every figure, then a summary line for the README.

use std::io::Write;

use ehr_tests::bench::Percentiles;

use crate::Cli;
use crate::cold::{Breakdown, ColdStart, Speeds};
use crate::serve::{Answers, Database, Serving};

pub struct Report<'a> {
    pub cli: &'a Cli,
    pub cores: usize,
    /// The gateway's `max_count`, raised for the whole-chart page.
    pub max_count: usize,
    pub speeds: Speeds,
    pub cold: ColdStart,
    pub breakdown: Breakdown,
    pub serving: Serving,
    pub database: Database,
    /// Connect-per-request `$everything`.
    pub direct: Answers,
}

fn ms(v: f64) -> String {
    format!("{v:.2} ms")
}

/// `p50 1.00 ms p99 2.00 ms` (`max` for fewer than 100 samples).
fn p50_tail(p: &Percentiles) -> String {
    format!("p50 {} {} {}", ms(p.p50), p.tail_label(), ms(p.p99))
}

impl Report<'_> {
    pub fn write(&self, out: &mut impl Write) -> anyhow::Result<()> {
        let Self {
            cli,
            cores,
            speeds,
            cold,
            serving,
            ..
        } = self;
        let (patients, per_patient) = (cli.patients, cli.events_per_patient);
        let clinical_total = patients * per_patient;
        let all_cores_rate = *cores as f64 * speeds.decrypts_per_sec;
        let rate = cold.events_per_sec;
        let catch_up = cold.seconds;
        writeln!(out)?;
        writeln!(out, "=== gateway-bench report ===")?;
        writeln!(
            out,
            "parameters: {patients} patients x {per_patient} clinical events ({clinical_total} events, {} wraps), records ~{} B JSON, {cores} cores (relay, gateway and client in one process)",
            2 * patients,
            cli.record_bytes
        )?;
        writeln!(
            out,
            "one core: NIP-44 decrypt of {} B with a cached conversation key {:.0}/s ({:.2} us); ConversationKey::derive {:.1} us = {:.1} decrypts; event id+signature check {:.0}/s ({:.1} us, event of {} B); event JSON out and back in {:.1} us",
            cli.record_bytes,
            speeds.decrypts_per_sec,
            1e6 / speeds.decrypts_per_sec,
            speeds.derive_us,
            speeds.derive_us * speeds.decrypts_per_sec / 1e6,
            speeds.verifies_per_sec,
            1e6 / speeds.verifies_per_sec,
            speeds.event_bytes,
            1e6 / speeds.round_trips_per_sec
        )?;
        writeln!(
            out,
            "cold start: Gateway::start caught up with {clinical_total} clinical events ({served} patients served) in {catch_up:.2} s (and {served} wraps opened, one derivation each) = {rate:.0} events/s = {rate:.0} decrypts/s = {:.4} x the NIP-44 rate of {cores} cores ({all_cores_rate:.0}/s), {:.4} x one core's",
            rate / all_cores_rate,
            rate / speeds.decrypts_per_sec,
            served = cold.served,
        )?;
        writeln!(
            out,
            "CPU during catch-up: {:.1} s for {catch_up:.1} s = {:.2} of {cores} cores busy (the relay's share included)",
            cold.cpu_seconds,
            cold.cpu_seconds / catch_up
        )?;
        writeln!(
            out,
            "memory: RSS {:.0} MiB before the start, {:.0} MiB after catch-up ({:.1} KiB per clinical event held); peak RSS during catch-up {:.0} MiB (VmHWM; the relay runs in this process too{})",
            cold.rss_before,
            cold.rss_after,
            (cold.rss_after - cold.rss_before) * 1024.0 / clinical_total as f64,
            cold.peak_rss,
            if cold.peak_reset {
                ""
            } else {
                "; it could not be reset, so seeding counts too"
            }
        )?;
        self.write_breakdown(out)?;
        self.write_serving(out)?;
        let direct = &self.direct.latency;
        let whole = &serving.everything_all.latency;
        let tail_ratio = if direct.tail_label() == whole.tail_label() {
            format!(", {} {:.1}x", whole.tail_label(), direct.p99 / whole.p99)
        } else {
            String::new()
        };
        writeln!(
            out,
            "  ratio connect-per-request / warm gateway, whole chart: p50 {:.1}x{tail_ratio} (a lower bound: this mode skips the gateway's API-key check, audit commit and HTTP)",
            direct.p50 / whole.p50
        )?;
        writeln!(
            out,
            "gateway max_count set to {} for the whole-chart page",
            self.max_count
        )?;
        writeln!(out)?;
        let page = &serving.everything_page.latency;
        let search = &serving.search.latency;
        writeln!(
            out,
            "README: `$everything` {} {:.1} ms for a whole {per_patient}-event chart, {} {:.1} ms for the default page (goal < 50 ms); Observation search {} {:.1} ms; {:.0} searches/s at 16 clients; catch-up {rate:.0} events/s = {:.1} % of {cores} cores' NIP-44 rate ({patients} x {per_patient} events in {catch_up:.1} s, peak RSS {:.0} MiB); connect-per-request at least {:.0}x slower at p50 ({:.0} ms vs {:.1} ms)",
            whole.tail_label(),
            whole.p99,
            page.tail_label(),
            page.p99,
            search.tail_label(),
            search.p99,
            serving
                .concurrent
                .iter()
                .find(|c| c.clients == 16)
                .map_or(f64::NAN, |c| c.per_sec),
            100.0 * rate / all_cores_rate,
            cold.peak_rss,
            direct.p50 / whole.p50,
            direct.p50,
            whole.p50
        )?;
        Ok(())
    }

    fn write_breakdown(&self, out: &mut impl Write) -> anyhow::Result<()> {
        let b = &self.breakdown;
        let per = |s: f64| 1e6 * s / b.events as f64;
        writeln!(
            out,
            "catch-up steps, timed apart ({} patients, {} events, the calls sync.rs makes, each on one core): \
             pages {:.2} s ({:.1} us/event: relay query, WebSocket, nostr-sdk parse + the one signature check, JSON to nostr 0.45, id check); \
             PracticeView::open_verified {:.2} s ({:.1} us/event: parse, decrypt, FHIR parse+validate; a second signature check would add {:.1} us); \
             PatientIndex::build {:.2} s ({:.1} us/event: fold, to JSON, rewrite)",
            b.patients,
            b.events,
            b.fetch,
            per(b.fetch),
            b.open,
            per(b.open),
            per(b.verify_again),
            b.index,
            per(b.index)
        )?;
        Ok(())
    }

    fn write_serving(&self, out: &mut impl Write) -> anyhow::Result<()> {
        let (cli, serving) = (self.cli, &self.serving);
        writeln!(
            out,
            "warm serving over HTTP keep-alive, {} requests each, random patients (each request checks its API key, seals a kind 2107 audit copy per disclosed patient and commits it with an AuditEvent row before answering):",
            cli.requests
        )?;
        let sized = |label: &str, a: &Answers| {
            let p = &a.latency;
            format!(
                "  {label:<40} p50 {:>10}  {} {:>10}  ({:.0} KiB per answer)",
                ms(p.p50),
                p.tail_label(),
                ms(p.p99),
                a.mean_bytes / 1024.0
            )
        };
        let page = "$everything, default page (_count 50)";
        writeln!(out, "{}", sized(page, &serving.everything_page))?;
        let whole = "$everything, whole chart in one page";
        writeln!(out, "{}", sized(whole, &serving.everything_all))?;
        let search = "Observation?patient=..&_count=50";
        writeln!(out, "{}", sized(search, &serving.search))?;
        for c in &serving.concurrent {
            writeln!(
                out,
                "  concurrent Observation searches, {:>2} clients: {:>8.0} requests/s  (p50 {}, {} {}; after an untimed round)",
                c.clients,
                c.per_sec,
                ms(c.latency.p50),
                c.latency.tail_label(),
                ms(c.latency.p99)
            )?;
        }
        writeln!(
            out,
            "  Observation?code=8867-4&_count=50 over all patients ({} requests): {}",
            serving.scan.count,
            p50_tail(&serving.scan)
        )?;
        let d = &self.database;
        writeln!(
            out,
            "  per-request database work alone ({} each, no HTTP): check_api_key {}; record_access (one transaction: the AuditEvent row and its patient, no sealed copy) {}; the same from 16 tasks at once {}",
            d.check_api_key.count,
            p50_tail(&d.check_api_key),
            p50_tail(&d.record_access),
            p50_tail(&d.record_access_16)
        )?;
        writeln!(
            out,
            "connect-per-request ({} requests: new WebSocket + NIP-42, one REQ for rosters, wraps and the chart, unwrap, verify, decrypt, fold, the same Bundle):",
            self.direct.latency.count
        )?;
        writeln!(out, "{}", sized("$everything, whole chart", &self.direct))?;
        Ok(())
    }
}
