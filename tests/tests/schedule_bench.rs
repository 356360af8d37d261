#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::print_stdout
)]
//! The schedule benchmark (DESIGN.md §13, "Scale": a 10-clinician practice with a year of
//! appointments; the week view renders under 1 s). Ignored in the suite; run it with
//! `scripts/bench-schedule`. On the in-process demo practice it publishes ten clinicians'
//! schedules, enrols 2,000 more patients and books a year of appointments around today (26
//! weeks back, 26 ahead; weekdays 08:00-16:00 UTC, 30 minutes each: about 41,600, the past
//! ones also arrived and fulfilled, each with its slot hold), then drives headless Chromium
//! through the doctor's Schedule (the day, then the week) a few times and prints the medians.
//! The peer, measured in the same run: fetching every appointment event (kind 2124), as the
//! desk's views did before the day index, against fetching one week's by their `D` tags.
//! Timings are printed, never asserted.

mod bench_common;
mod demo_common;

use std::time::{Duration, Instant};

use bench_common::{practice_events, publish_all};
use demo_common::{Seeded, prepare_edited, start_seeded_with};
use ehr_client::access::PracticeView;
use ehr_client::event::ClinicalEventBuilder;
use ehr_client::fhir::{AppointmentStatus, RecordAction, Resource};
use ehr_client::keys::Identity;
use ehr_client::kinds::ClinicalKind;
use ehr_client::net::RelayClient;
use ehr_client::nostr::prelude::{Event, Filter, Kind, PublicKey, SingleLetterTag, Timestamp};
use ehr_client::schedule::booking::request;
use ehr_client::schedule::{
    FreeSlot, ScheduleDefinition, VisitType, WeeklyHours, hold_event, schedule_event, slot_id,
};
use futures_util::future::join_all;
use serde_json::{Value, json};

const PATIENTS: usize = 2_000;
const CLINICIANS: usize = 10;
/// Weeks seeded before this one, and from this one on.
const WEEKS_BACK: u64 = 26;
const WEEKS_AHEAD: u64 = 26;
/// Appointments a clinician sees a day: 30 minutes each from 08:00 to 16:00 UTC.
const PER_DAY: u64 = 16;
const RUNS: usize = 5;
/// Connections publishing the seed side by side.
const PUBLISHERS: usize = 3;
const APPOINTMENT: u16 = 2124;
const DAY: u64 = 86_400;
/// The seeded events' dates spread over this many seconds from the start of seeding.
const SPREAD: usize = 600;

/// [`publish_all`] over several connections at once (the events are independent).
async fn publish_spread(clients: &[RelayClient], events: &[Event]) {
    let share = events.len().div_ceil(clients.len()).max(1);
    join_all(
        clients
            .iter()
            .zip(events.chunks(share))
            .map(|(client, part)| publish_all(client, part)),
    )
    .await;
}

/// 2,000 more patients, each enrolled with demographics, by the doctor.
async fn seed_patients(doctor: &RelayClient, root: &Identity, author: &Identity) -> Vec<PublicKey> {
    let (patients, view) = bench_common::enrol(doctor, root, author, PATIENTS).await;
    let records = bench_common::demographics_records(&view, author, &patients, "Sched");
    publish_all(doctor, &records).await;
    patients
}

fn follow_up() -> VisitType {
    VisitType {
        code: "follow-up".to_owned(),
        label: "Follow-up".to_owned(),
        minutes: 30,
        bookable_online: true,
    }
}

/// Ten clinicians' schedules ("dr-1" to "dr-10"), weekdays 08:00-16:00 UTC, all the doctor's.
fn definitions(doctor: &PublicKey) -> Vec<ScheduleDefinition> {
    (1..=CLINICIANS)
        .map(|n| ScheduleDefinition {
            id: format!("dr-{n}"),
            clinician: doctor.to_hex(),
            name: format!("Dr. Bench {n} (synthetic)"),
            utc_offset_minutes: 0,
            step_minutes: 30,
            visit_types: vec![follow_up()],
            weekly: vec![WeeklyHours {
                days: vec![1, 2, 3, 4, 5],
                start: "08:00".to_owned(),
                end: "16:00".to_owned(),
            }],
            time_off: Vec::new(),
            active: true,
        })
        .collect()
}

/// The UTC day number of this week's Monday (day 0, 1970-01-01, was a Thursday).
fn this_monday(now: u64) -> u64 {
    let today = now / DAY;
    today - (today + 3) % 7
}

/// `current`'s next version in `status`, signed at `at`.
fn next_version(
    view: &PracticeView,
    author: &Identity,
    patient: PublicKey,
    current: &Resource,
    status: AppointmentStatus,
    at: Timestamp,
) -> (Resource, Event) {
    let mut appointment = current.as_appointment().unwrap().clone();
    appointment.status = status;
    let mut resource = Resource::Appointment(appointment);
    resource.set_version(current.version() + 1, RecordAction::StatusUpdate);
    let builder = ClinicalEventBuilder::new(ClinicalKind::Appointment, resource.clone(), patient)
        .unwrap()
        .after(current)
        .created_at(at);
    let event = view.sign_record(author, builder).unwrap().event().clone();
    (resource, event)
}

/// One day's appointments of every clinician: the holds, each booked (version 1) and, when it
/// is over, arrived and fulfilled (versions 2 and 3). Returns the events and the count.
fn day_events(
    view: &PracticeView,
    author: &Identity,
    schedules: &[ScheduleDefinition],
    patients: &[PublicKey],
    day: u64,
    now: Timestamp,
    counter: &mut usize,
) -> Vec<Event> {
    let visit = follow_up();
    let mut events = Vec::new();
    for schedule in schedules {
        for i in 0..PER_DAY {
            let start = day * DAY + 8 * 3600 + i * 1800;
            let slot = FreeSlot {
                slot: slot_id(&schedule.id, start),
                schedule: schedule.id.clone(),
                clinician: schedule.name.clone(),
                start,
                end: start + 1800,
                visit_type: visit.code.clone(),
            };
            let patient = patients[*counter % patients.len()];
            // Dated over the next ten minutes (the relay takes up to 15 ahead), a few hundred
            // a second: paging by `until` needs fewer than a page's worth in any one second,
            // and before now the doctor was not yet on the roster.
            let at = Timestamp::from_secs(now.as_secs() + (*counter % SPREAD) as u64);
            *counter += 1;
            events.push(hold_event(author, &slot, true, at).unwrap());
            let mut booked = request(&patient.to_hex(), &slot, &visit, None, at.as_secs());
            if let Resource::Appointment(appointment) = &mut booked {
                appointment.status = AppointmentStatus::Booked;
                for participant in &mut appointment.participant {
                    "accepted".clone_into(&mut participant.status);
                }
            }
            let builder =
                ClinicalEventBuilder::new(ClinicalKind::Appointment, booked.clone(), patient)
                    .unwrap()
                    .created_at(at);
            events.push(view.sign_record(author, builder).unwrap().event().clone());
            if start + 1800 <= now.as_secs() {
                let later = |s| Timestamp::from_secs(at.as_secs() + s);
                let (arrived, event) = next_version(
                    view,
                    author,
                    patient,
                    &booked,
                    AppointmentStatus::Arrived,
                    later(1),
                );
                events.push(event);
                let (_, event) = next_version(
                    view,
                    author,
                    patient,
                    &arrived,
                    AppointmentStatus::Fulfilled,
                    later(2),
                );
                events.push(event);
            }
        }
    }
    events
}

/// The schedules and a year of appointments; returns (appointments, events published).
async fn seed_schedule(
    clients: &[RelayClient],
    root: &Identity,
    author: &Identity,
    patients: Vec<PublicKey>,
) -> (usize, usize) {
    let now = Timestamp::now();
    let schedules = definitions(&author.public_key());
    let events: Vec<Event> = schedules
        .iter()
        .map(|d| schedule_event(author, d, now).unwrap())
        .collect();
    publish_all(&clients[0], &events).await;
    let org = practice_events(&clients[0]).await;
    let view = PracticeView::load(&root.public_key(), &org, author);
    // Signed week by week on a blocking thread while the previous week is published.
    let (sender, mut weeks) = tokio::sync::mpsc::channel::<Vec<Event>>(2);
    let author = author.clone();
    let signer = tokio::task::spawn_blocking(move || {
        let first = this_monday(now.as_secs()) - 7 * WEEKS_BACK;
        let mut counter = 0;
        for week in 0..WEEKS_BACK + WEEKS_AHEAD {
            let mut events = Vec::new();
            for weekday in 0..5 {
                let day = first + 7 * week + weekday;
                events.extend(day_events(
                    &view,
                    &author,
                    &schedules,
                    &patients,
                    day,
                    now,
                    &mut counter,
                ));
            }
            if sender.blocking_send(events).is_err() {
                break;
            }
        }
        counter
    });
    let mut published = 0;
    while let Some(events) = weeks.recv().await {
        publish_spread(clients, &events).await;
        published += events.len();
    }
    (signer.await.unwrap(), published)
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(f64::NAN)
}

fn median_of(results: &[Value], field: &str) -> f64 {
    median(
        results
            .iter()
            .map(|r| r[field].as_f64().unwrap_or(f64::NAN))
            .collect(),
    )
}

/// Fetch `filter` `RUNS` times: the median milliseconds and the number of events.
async fn timed_fetch(client: &RelayClient, filter: &Filter) -> (f64, usize) {
    let mut times = Vec::new();
    let mut count = 0;
    for _ in 0..RUNS {
        let started = Instant::now();
        count = client.fetch_all(filter.clone(), 5000).await.unwrap().len();
        times.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    (median(times), count)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a benchmark: scripts/bench-schedule"]
async fn schedule_bench() {
    let home = tempfile::tempdir().unwrap();
    // Seeding sends some 150,000 events: the per-connection message limit is raised so that
    // it is not spent waiting (reads are not near it either way).
    let config = prepare_edited(home.path(), |text| {
        assert!(
            text.contains("\n[blossom]\n"),
            "the [blossom] section moved"
        );
        text.replacen(
            "[blossom]\n",
            "[relay.limits]\nmessages_per_minute = 1000000\n\n[blossom]\n",
            1,
        )
    });
    let Seeded {
        mut stack, keys, ..
    } = start_seeded_with(home.path(), config, Vec::new()).await;
    let relay = stack.urls().relay.clone();
    let clinic = stack.urls().clinic.clone().unwrap();
    let mut clients = Vec::new();
    for _ in 0..PUBLISHERS {
        clients.push(
            RelayClient::connect(&relay, &keys.doctor, Duration::from_secs(60))
                .await
                .unwrap(),
        );
    }
    let seeding = Instant::now();
    let patients = seed_patients(&clients[0], &keys.root, &keys.doctor).await;
    println!(
        "seeded {PATIENTS} patients (enrolled, demographics) in {:.1} s",
        seeding.elapsed().as_secs_f64()
    );
    let booking = Instant::now();
    let (appointments, published) =
        seed_schedule(&clients, &keys.root, &keys.doctor, patients).await;
    println!(
        "seeded {CLINICIANS} schedules and {appointments} appointments ({} weeks, weekdays, {PER_DAY} a day per clinician; {published} events: holds, booked, and arrived and fulfilled when past) in {:.1} s",
        WEEKS_BACK + WEEKS_AHEAD,
        booking.elapsed().as_secs_f64()
    );

    // The peer, from Rust: every appointment event, against one week's by day tags.
    let client = &clients[0];
    let kind = Kind::from(APPOINTMENT);
    let monday = this_monday(Timestamp::now().as_secs());
    let days: Vec<String> = (monday..monday + 7).map(|d| d.to_string()).collect();
    let (all_ms, all_count) = timed_fetch(client, &Filter::new().kind(kind)).await;
    let week_filter = Filter::new()
        .kind(kind)
        .custom_tags(SingleLetterTag::from_char('D').unwrap(), days);
    let (week_ms, week_count) = timed_fetch(client, &week_filter).await;
    for client in clients {
        client.disconnect().await;
    }

    let input = json!({
        "clinic": clinic,
        "chromium": "/usr/bin/chromium",
        "nsec": keys.doctor.nsec().as_str(),
        "runs": RUNS,
    });
    let results = tokio::task::spawn_blocking(move || {
        ehr_tests::node::run_json_lines("schedule-bench.mjs", "playwright-core", &input)
    })
    .await
    .unwrap()
    .unwrap();
    stack.stop().await;
    for run in &results {
        println!("run: {run}");
    }
    let shown = |field: &str| {
        results
            .iter()
            .map(|r| r[field].to_string())
            .collect::<Vec<_>>()
            .join("/")
    };
    println!(
        "Schedule clicked -> the day's appointments drawn: median {:.0} ms, painted {:.0} ms ({} runs, in-page clock); appointments shown per run: {}",
        median_of(&results, "day"),
        median_of(&results, "dayPainted"),
        results.len(),
        shown("dayAppointments"),
    );
    println!(
        "Week clicked -> the week drawn with its rows: median {:.0} ms, painted {:.0} ms (goal < 1000 ms); appointments shown per run: {}",
        median_of(&results, "week"),
        median_of(&results, "weekPainted"),
        shown("weekAppointments"),
    );
    println!(
        "fetch one week's appointment events by day tags (#D, 7 days): median {week_ms:.0} ms, {week_count} events ({RUNS} runs, Rust RelayClient)"
    );
    println!(
        "peer, every kind {APPOINTMENT} event (the pre-index approach): median {all_ms:.0} ms, {all_count} events"
    );
    println!(
        "ratio, peer / week by day tags: {:.1}x the time, {:.1}x the events",
        all_ms / week_ms,
        all_count as f64 / week_count.max(1) as f64
    );
}
