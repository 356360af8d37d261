//! `ClinicalEvent::from_json` / `parse` and the three ways to open one (chart key, epoch key,
//! patient key), down to the FHIR parser, with fixed keys.
//!
//! Input: a mode byte, a pick byte (the kind), then text.
//! - mode 0: the text is an event's JSON, parsed and verified as is;
//! - mode 1: the text's first line may be the event's tags (JSON), the rest is the FHIR JSON
//!   a doctor encrypts under the chart key (and to the patient) and signs;
//! - mode 2: the same as the patient, under the epoch key;
//! - mode 3: valid tags, and the rest of the text as the encrypted content itself.
#![no_main]

use std::collections::HashMap;
use std::sync::OnceLock;

use ehr_client::crypto::{self, ConversationKey};
use ehr_client::event::ClinicalEvent;
use ehr_client::keys::{ChartKey, Identity};
use ehr_client::kinds::ClinicalKind;
use libfuzzer_sys::fuzz_target;
use nostr::prelude::{Event, Keys, SecretKey, Tag, Timestamp};
use nostr_ehr_fuzz::{Input, keys, near, sign, tags_and_rest};

struct Fixture {
    doctor: Keys,
    patient: Keys,
    patient_identity: Identity,
    chart: ChartKey,
    epoch: SecretKey,
    /// The chart key's self-conversation, doctor-patient, patient-self and patient-epoch.
    to_chart: ConversationKey,
    to_patient: ConversationKey,
    to_self: ConversationKey,
    to_epoch: ConversationKey,
    now: Timestamp,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let (doctor, patient, epoch) = (keys(2), keys(3), keys(6));
        let chart = ChartKey::from_bytes(1, &[5; 32]).expect("a chart key");
        let ck = |secret: &SecretKey, public| crypto::conversation_key(secret, &public);
        Fixture {
            to_chart: ck(chart.secret_key(), chart.public_key()).expect("chart conversation"),
            to_patient: ck(doctor.secret_key(), patient.public_key()).expect("to patient"),
            to_self: ck(patient.secret_key(), patient.public_key()).expect("to herself"),
            to_epoch: ck(patient.secret_key(), epoch.public_key()).expect("to epoch"),
            patient_identity: Identity::from_secret_key(patient.secret_key().clone()),
            epoch: epoch.secret_key().clone(),
            doctor,
            patient,
            chart,
            now: Timestamp::now(),
        }
    })
}

fuzz_target!(|data: &[u8]| {
    let Some(input) = Input::of(data) else {
        return;
    };
    let f = fixture();
    let parsed = match input.mode % 4 {
        0 => ClinicalEvent::from_json(input.text),
        mode => match signed(f, mode, input.pick, input.text) {
            Some(event) => ClinicalEvent::parse(event),
            None => return,
        },
    };
    let Ok(clinical) = parsed else {
        return;
    };
    let _ = clinical.decrypt_with_chart_key(&f.chart);
    let _ = clinical.decrypt_with_epoch_key(&f.epoch);
    let _ = clinical.decrypt_with_patient_key_cached(&f.patient_identity, &mut HashMap::new());
    let _ = clinical.to_json();
});

/// The event of modes 1 to 3, signed by the doctor (chart key) or the patient (epoch key).
fn signed(f: &Fixture, mode: u8, pick: u8, text: &str) -> Option<Event> {
    let kind = match ClinicalKind::ALL.get(usize::from(pick) % 16) {
        Some(kind) => kind.as_u16(),
        None => 2100 + u16::from(pick),
    };
    let (tags, plaintext) = match (mode, tags_and_rest(text)) {
        (3, _) => (None, text),
        (_, (tags, rest)) => (tags, rest),
    };
    let seal =
        |key: &ConversationKey| crypto::encrypt_with_nonce(key, plaintext.as_bytes(), [7; 32]).ok();
    let by_patient = mode == 2;
    let (author, content) = match mode {
        1 => (&f.doctor, seal(&f.to_chart)?),
        2 => (&f.patient, seal(&f.to_epoch)?),
        _ => (&f.doctor, plaintext.to_owned()),
    };
    // The patient copy is from the author to the patient (herself, when she wrote it).
    let patient_copy = seal(if by_patient {
        &f.to_self
    } else {
        &f.to_patient
    })
    .unwrap_or_else(|| "AA==".to_owned());
    let tags = match tags {
        Some(tags) => tags,
        None => {
            let field = |a: &str, b: String| Tag::parse([a.to_owned(), b]).ok();
            let key_tag = if by_patient {
                field("epoch", "0".to_owned())
            } else {
                field("chart-key", f.chart.version().to_string())
            };
            [
                field("p", f.patient.public_key().to_hex()),
                field("patient-content", patient_copy),
                key_tag,
                field("ehr", "1".to_owned()),
            ]
            .into_iter()
            .collect::<Option<Vec<Tag>>>()?
        }
    };
    sign(author, kind, near(f.now, pick), tags, &content)
}
