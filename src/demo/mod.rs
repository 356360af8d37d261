//! `nostr-ehr up --demo`: a synthetic practice to try the stack with.
//!
//! On first run it makes every key (root, admin, doctor, nurse, the two agents, ten patients),
//! writes them under `keys/` and a configuration beside them, and, once the relay and Blossom
//! run, seeds the practice through the same protocol a real one uses: the roster and epoch
//! grants, enrolments, charts written by the doctor and the nurse, an encrypted PDF on Blossom,
//! a message thread, one patient's consent to FHIR sharing and another's opt-in to emergency
//! access (so the gateway can read only those two), an emergency room with the emergency
//! permission, and a guardian of two children. Everything is labelled synthetic. `demo.json` records what
//! the banner shows, so later runs print it again without seeding twice.

pub mod charts;
pub mod schedule;

use std::path::{Path, PathBuf};
use std::time::Duration;

use ehr_client::access::PracticeView;
use ehr_client::blossom::BlossomClient;
use ehr_client::document::{self, FileKey};
use ehr_client::event::ClinicalEventBuilder;
use ehr_client::fhir::Resource;
use ehr_client::grants::GuardianshipStatus;
use ehr_client::keys::{self, Identity};
use ehr_client::kinds::ClinicalKind;
use ehr_client::management::ManagementClient;
use ehr_client::net::{PublishOutcome, RelayClient};
use ehr_client::practice;
use ehr_client::roster::Role;
use ehr_client::rotation::{self, PlanError, RosterChange};
use nostr::prelude::{Event, Filter, PublicKey, Timestamp};
use serde::{Deserialize, Serialize};

use crate::error::StackError;
use crate::stack::Urls;

/// The name the demo practice signs into its connection string.
pub const DEMO_PRACTICE_NAME: &str = "Demo practice (synthetic)";
/// The outside facility the demo's consenting patient shares with.
pub const DEMO_FACILITY: &str = "demo-hospital";
/// The emergency room registered with the emergency permission (break-glass).
pub const DEMO_EMERGENCY_ROOM: &str = "demo-er";

/// Who the demo practice's keys belong to, in `keys/<name>.nsec`.
const STAFF: [&str; 7] = [
    "root",
    "admin",
    "doctor",
    "nurse",
    "frontdesk",
    "fhir-gateway",
    "billing-bot",
];

/// The demo's keys.
#[derive(Debug)]
pub struct DemoKeys {
    /// The practice root (a real practice keeps it offline; the demo keeps it here).
    pub root: Identity,
    /// The admin.
    pub admin: Identity,
    /// The doctor.
    pub doctor: Identity,
    /// The nurse.
    pub nurse: Identity,
    /// The front desk.
    pub frontdesk: Identity,
    /// The FHIR gateway's agent key.
    pub gateway: Identity,
    /// The billing bot's agent key.
    pub billing: Identity,
    /// The ten patients ([`charts::PATIENTS`] order).
    pub patients: Vec<Identity>,
}

/// Write `identity` as an nsec to a new file readable by its owner only.
pub fn write_key(path: &Path, identity: &Identity) -> Result<(), StackError> {
    use std::io::Write as _;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options
        .open(path)
        .map_err(|e| StackError::io(format!("cannot create {}", path.display()), e))?;
    writeln!(file, "{}", identity.nsec().as_str())
        .map_err(|e| StackError::io(format!("cannot write {}", path.display()), e))
}

/// Read an nsec file (as the services read their agent keys).
pub fn read_key(path: &Path) -> Result<Identity, StackError> {
    ehr_service::config::read_agent_key(Path::new(""), path).map_err(StackError::Demo)
}

fn patient_file(index: usize) -> String {
    format!("patient-{index}.nsec")
}

impl DemoKeys {
    fn generate() -> Self {
        Self {
            root: Identity::generate(),
            admin: Identity::generate(),
            doctor: Identity::generate(),
            nurse: Identity::generate(),
            frontdesk: Identity::generate(),
            gateway: Identity::generate(),
            billing: Identity::generate(),
            patients: charts::PATIENTS
                .iter()
                .map(|_| Identity::generate())
                .collect(),
        }
    }

    fn staff(&self) -> [&Identity; 7] {
        [
            &self.root,
            &self.admin,
            &self.doctor,
            &self.nurse,
            &self.frontdesk,
            &self.gateway,
            &self.billing,
        ]
    }

    fn save(&self, dir: &Path) -> Result<(), StackError> {
        std::fs::create_dir_all(dir)
            .map_err(|e| StackError::io(format!("cannot create {}", dir.display()), e))?;
        for (name, identity) in STAFF.iter().zip(self.staff()) {
            write_key(&dir.join(format!("{name}.nsec")), identity)?;
        }
        for (index, identity) in self.patients.iter().enumerate() {
            write_key(&dir.join(patient_file(index)), identity)?;
        }
        std::fs::write(
            dir.join("README.txt"),
            "Keys of the nostr-ehr DEMO practice. All synthetic, for trying the stack only.\n\
             A real practice keeps its root key offline (ehr practice init) and never here.\n",
        )
        .map_err(|e| StackError::io("cannot write the keys README", e))
    }

    /// Read the keys `prepare` wrote under `dir`.
    pub fn load(dir: &Path) -> Result<Self, StackError> {
        let key = |name: &str| read_key(&dir.join(format!("{name}.nsec")));
        Ok(Self {
            root: key("root")?,
            admin: key("admin")?,
            doctor: key("doctor")?,
            nurse: key("nurse")?,
            frontdesk: key("frontdesk")?,
            gateway: key("fhir-gateway")?,
            billing: key("billing-bot")?,
            patients: (0..charts::PATIENTS.len())
                .map(|i| read_key(&dir.join(patient_file(i))))
                .collect::<Result<_, _>>()?,
        })
    }
}

/// The demo's configuration: every service on, metrics on, keys beside it.
fn demo_toml(root: &PublicKey) -> String {
    crate::config::example_toml(&keys::to_npub(root))
        .replace(
            "name = \"Example Family Practice\"",
            "name = \"Demo Family Practice (synthetic)\"",
        )
        .replace(
            "enabled = false\nlisten = \"127.0.0.1:9464\"",
            "enabled = true\nlisten = \"127.0.0.1:9464\"",
        )
        .replace(
            "enabled = false\nlisten = \"127.0.0.1:8090\"",
            "enabled = true\nlisten = \"127.0.0.1:8090\"",
        )
        .replace(
            "enabled = false\nlisten = \"127.0.0.1:8095\"",
            "enabled = true\nlisten = \"127.0.0.1:8095\"",
        )
}

/// Make the demo's keys and configuration in `home` unless they exist; returns the config path.
pub fn prepare(home: &Path) -> Result<PathBuf, StackError> {
    let config = home.join("nostr-ehr.toml");
    if config.exists() {
        return Ok(config);
    }
    let keys = DemoKeys::generate();
    keys.save(&home.join("keys"))?;
    std::fs::write(&config, demo_toml(&keys.root.public_key()))
        .map_err(|e| StackError::io(format!("cannot write {}", config.display()), e))?;
    Ok(config)
}

/// What the banner shows, kept in `<data_dir>/demo.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DemoInfo {
    /// The patient whose login the banner shows.
    pub patient_name: String,
    /// Her key file.
    pub patient_key_file: PathBuf,
    /// The patient who consented to FHIR sharing.
    pub consenting_patient: String,
    /// Her FHIR Patient id at the gateway.
    pub consenting_patient_fhir_id: String,
    /// The demo facility's API key.
    pub fhir_api_key: String,
    /// The demo emergency room's API key (the emergency scope alone).
    #[serde(default)]
    pub emergency_api_key: String,
    /// The gateway id of the patient who opted in to emergency access (the login patient).
    #[serde(default)]
    pub emergency_patient_fhir_id: String,
    /// Where the keys are.
    pub keys_dir: PathBuf,
}

impl DemoInfo {
    fn path(data_dir: &Path) -> PathBuf {
        data_dir.join("demo.json")
    }

    /// The info of an already seeded demo.
    pub fn load(data_dir: &Path) -> Option<Self> {
        let text = std::fs::read_to_string(Self::path(data_dir)).ok()?;
        serde_json::from_str(&text).ok()
    }

    /// The banner: where everything is and how to try it.
    /// The practice's connection string, signed by the demo's root key (which a real practice
    /// keeps offline: there `ehr practice connection` signs it once), naming the relay, the
    /// Blossom server and the practice; unsigned if the root key cannot be read.
    pub fn connection(&self, urls: &Urls, practice: &PublicKey) -> String {
        let plain = ehr_client::connection::Connection::new(*practice, urls.relay.clone());
        let signed = plain.clone().and_then(|c| {
            let root = DemoKeys::load(&self.keys_dir)
                .map_err(|_| ehr_client::connection::ConnectionError::NotTheRoot)?
                .root;
            c.with_blossom(urls.blossom.clone())?
                .with_name(DEMO_PRACTICE_NAME)
                .sign(&root)
        });
        signed.or(plain).map(|c| c.to_string()).unwrap_or_default()
    }

    pub fn banner(&self, urls: &Urls, practice: &PublicKey) -> String {
        let patient = read_key(&self.patient_key_file).ok();
        let nsec = patient
            .as_ref()
            .map_or_else(|| "(key file missing)".to_owned(), |i| i.nsec().to_string());
        let connection = self.connection(urls, practice);
        let fhir = urls.fhir.clone().unwrap_or_default();
        let mut text = format!(
            "\n\
             nostr-ehr DEMO practice: every person, record and key here is SYNTHETIC.\n\
             \n  relay            {relay}\n  blossom          {blossom}\n  fhir gateway     {fhir}\n",
            relay = urls.relay,
            blossom = urls.blossom,
        );
        if let Some(billing) = &urls.billing {
            text.push_str(&format!("  billing bot      {billing}\n"));
        }
        if let Some(portal) = &urls.portal {
            text.push_str(&format!("  portal           {portal}\n"));
        }
        if let Some(clinic) = &urls.clinic {
            text.push_str(&format!("  clinic app       {clinic}\n"));
        }
        if let Some(metrics) = &urls.metrics {
            text.push_str(&format!("  metrics          {metrics}\n"));
        }
        text.push_str(&format!(
            "\nLog in as {name} (synthetic patient):\n  nsec              {nsec}\n  connection string {connection}\n\
             \nRead her chart with the ehr CLI (from the repository):\n  EHR_NSEC={nsec} cargo run --release --bin ehr -- --home /tmp/demo-patient --nsec-env EHR_NSEC practice connect '{connection}'\n  EHR_NSEC={nsec} cargo run --release --bin ehr -- --home /tmp/demo-patient --nsec-env EHR_NSEC chart show --patient {npub}\n\
             \nAn outside facility ({facility}) reads {consenting}'s chart, the only one shared:\n  BASE={fhir}\n  TOKEN={api_key}\n  curl -s -H \"Authorization: Bearer $TOKEN\" \"$BASE/Patient\"\n  curl -s -H \"Authorization: Bearer $TOKEN\" \"$BASE/Patient/{fhir_id}/\\$everything\"\n\
             \nAn emergency room ({er}) with the emergency permission gets {name}'s summary (she opted in; she is told):\n  curl -s -H \"Authorization: Bearer {er_key}\" \"$BASE/Patient/{er_patient}/\\$summary?reason=unconscious+on+arrival\"\n\
             \nDemo keys (root, staff, agents, patients): {keys}\nStop with Ctrl-C; run the same command again to continue with the same data.\n",
            name = self.patient_name,
            npub = patient.as_ref().map(Identity::npub).unwrap_or_default(),
            facility = DEMO_FACILITY,
            consenting = self.consenting_patient,
            api_key = self.fhir_api_key,
            fhir_id = self.consenting_patient_fhir_id,
            er = DEMO_EMERGENCY_ROOM,
            er_key = self.emergency_api_key,
            er_patient = self.emergency_patient_fhir_id,
            keys = self.keys_dir.display(),
        ));
        if let Some(clinic) = &urls.clinic {
            text.push_str(&self.clinic_logins(clinic));
        }
        text
    }

    /// The clinic app's demo logins: the doctor's and the front desk's keys (synthetic), each
    /// pasted into the app's key field.
    fn clinic_logins(&self, clinic: &str) -> String {
        let nsec = |name: &str| {
            read_key(&self.keys_dir.join(format!("{name}.nsec"))).map_or_else(
                |_| "(key file missing)".to_owned(),
                |i| i.nsec().to_string(),
            )
        };
        format!(
            "\nThe clinic app for staff ({clinic}); log in with a key:\n  doctor            {doctor}\n  front desk        {frontdesk}\n",
            doctor = nsec("doctor"),
            frontdesk = nsec("frontdesk"),
        )
    }
}

/// One identity's connection to the relay.
struct Actor<'a> {
    identity: &'a Identity,
    client: RelayClient,
}

const TIMEOUT: Duration = Duration::from_secs(30);

fn net(what: &'static str) -> impl Fn(ehr_client::net::NetError) -> StackError {
    move |e| StackError::Demo(format!("{what}: {e}"))
}

fn plan(what: &'static str) -> impl Fn(PlanError) -> StackError {
    move |e| StackError::Demo(format!("{what}: {e}"))
}

impl<'a> Actor<'a> {
    async fn connect(relay: &str, identity: &'a Identity) -> Result<Self, StackError> {
        let client = RelayClient::connect(relay, identity, TIMEOUT)
            .await
            .map_err(net("connecting to the relay"))?;
        Ok(Self { identity, client })
    }

    async fn publish(&self, events: &[Event]) -> Result<(), StackError> {
        if events.is_empty() {
            return Ok(());
        }
        let outcomes = self
            .client
            .publish(events)
            .await
            .map_err(net("publishing"))?;
        for (event, outcome) in events.iter().zip(outcomes) {
            if let PublishOutcome::Refused { message } = outcome {
                return Err(StackError::Demo(format!(
                    "the relay refused kind {}: {message}",
                    event.kind.as_u16()
                )));
            }
        }
        Ok(())
    }

    async fn view(&self, root: &PublicKey) -> Result<(PracticeView, Vec<Event>), StackError> {
        let events = self
            .client
            .fetch_all(Filter::new(), 5000)
            .await
            .map_err(net("reading the practice"))?;
        let view = PracticeView::load(root, events.iter(), self.identity);
        Ok((view, events))
    }

    /// Sign each record into `patient`'s chart with the newest chart key.
    fn sign(
        &self,
        view: &PracticeView,
        patient: &PublicKey,
        records: Vec<(ClinicalKind, Resource)>,
    ) -> Result<Vec<Event>, StackError> {
        records
            .into_iter()
            .map(|(kind, resource)| {
                let builder = ClinicalEventBuilder::new(kind, resource, *patient)
                    .map_err(|e| StackError::Demo(format!("building a record: {e}")))?;
                Ok(view
                    .sign_record(self.identity, builder)
                    .map_err(|e| StackError::Demo(format!("signing a record: {e}")))?
                    .event()
                    .clone())
            })
            .collect()
    }
}

/// Plan one practice operation as `actor` from what the relay holds now, and publish it.
async fn operate(
    actor: &Actor<'_>,
    root: &PublicKey,
    now: Timestamp,
    what: &'static str,
    operation: impl FnOnce(&practice::State<'_>) -> Result<practice::Plan, PlanError>,
) -> Result<(), StackError> {
    let (_, events) = actor.view(root).await?;
    let state = practice::State {
        root: *root,
        events: &events,
        actor: actor.identity,
        now,
    };
    let plan = operation(&state).map_err(plan(what))?;
    actor.publish(plan.events()).await
}

/// Put a member on the roster as the admin (with the epoch grants that follow).
async fn add_member(
    admin: &Actor<'_>,
    root: &PublicKey,
    who: &Identity,
    role: Role,
    name: &str,
    at: Timestamp,
) -> Result<(), StackError> {
    let change = RosterChange::Add {
        pubkey: who.public_key(),
        role,
        name: Some(name.to_owned()),
    };
    operate(admin, root, at, "changing the roster", |state| {
        practice::change_roster(state, &change)
    })
    .await
}

/// Seed the demo practice on the running relay and Blossom; returns what the banner shows.
pub async fn seed(
    urls: &Urls,
    keys: &DemoKeys,
    keys_dir: &Path,
    data_dir: &Path,
    gateway_database_url: Option<&str>,
) -> Result<DemoInfo, StackError> {
    let root_pk = keys.root.public_key();
    // Organisational events a little in the past, so every record is written after them.
    let at = Timestamp::from_secs(Timestamp::now().as_secs().saturating_sub(600));
    let root = Actor::connect(&urls.relay, &keys.root).await?;
    let (genesis, _) = rotation::genesis(
        &keys.root,
        Some((
            keys.admin.public_key(),
            Some("Demo Admin (synthetic)".to_owned()),
        )),
        at,
    )
    .map_err(plan("the genesis roster"))?;
    root.publish(&genesis).await?;
    let admin = Actor::connect(&urls.relay, &keys.admin).await?;
    for (who, role, name) in [
        (&keys.doctor, Role::Doctor, "Dr. Demo Rivera (synthetic)"),
        (&keys.nurse, Role::Nurse, "Nurse Demo Lee (synthetic)"),
        (
            &keys.frontdesk,
            Role::Frontdesk,
            "Front desk Demo Kim (synthetic)",
        ),
        (&keys.gateway, Role::FhirGateway, "FHIR gateway"),
        (&keys.billing, Role::BillingBot, "Billing bot"),
    ] {
        add_member(&admin, &root_pk, who, role, name, at).await?;
    }

    // Enrol and admit every patient; the guardian (patient 0) also as guardian.
    let doctor = Actor::connect(&urls.relay, &keys.doctor).await?;
    let now = Timestamp::now();
    let patients: Vec<PublicKey> = keys.patients.iter().map(Identity::public_key).collect();
    operate(&doctor, &root_pk, now, "enrolling the patients", |state| {
        practice::enrol_patients(state, &patients)
    })
    .await?;
    let management = ManagementClient::for_relay(&urls.relay)
        .map_err(|e| StackError::Demo(format!("the relay's management URL: {e}")))?;
    let guardian = keys
        .patients
        .first()
        .ok_or_else(|| StackError::Demo("no patients".into()))?;
    let mut admissions: Vec<(&Identity, &str)> =
        keys.patients.iter().map(|p| (p, "patient")).collect();
    admissions.push((guardian, "guardian"));
    for (who, role) in admissions {
        management
            .call(
                &keys.doctor,
                "assignrole",
                vec![
                    serde_json::Value::String(who.public_key().to_hex()),
                    serde_json::Value::String(role.to_owned()),
                ],
            )
            .await
            .map_err(|e| StackError::Demo(format!("admitting a patient: {e}")))?;
    }

    // Charts: the nurse records immunizations, the doctor the rest.
    let nurse = Actor::connect(&urls.relay, &keys.nurse).await?;
    let (view, _) = doctor.view(&root_pk).await?;
    let (nurse_view, _) = nurse.view(&root_pk).await?;
    let mut by_doctor = Vec::new();
    let mut by_nurse = Vec::new();
    for (index, patient) in keys.patients.iter().enumerate() {
        let patient_id = patient.public_key().to_hex();
        let (nursing, doctoring): (Vec<_>, Vec<_>) = charts::chart(index, &patient_id)
            .into_iter()
            .partition(|(kind, _)| *kind == ClinicalKind::Immunization);
        by_doctor.extend(doctor.sign(&view, &patient.public_key(), doctoring)?);
        by_nurse.extend(nurse.sign(&nurse_view, &patient.public_key(), nursing)?);
    }
    doctor.publish(&by_doctor).await?;
    nurse.publish(&by_nurse).await?;

    // The guardian's message thread and her lab report as an encrypted PDF.
    let guardian_pk = guardian.public_key();
    let guardian_id = guardian_pk.to_hex();
    let first = charts::message(
        &guardian_id,
        "Lab results",
        "Your HbA1c is back and in range. See the attached report. (synthetic)",
        "2026-03-12T15:00:00Z",
        None,
    );
    let first_id = first.id().unwrap_or_default().to_owned();
    let reply = charts::message(
        &guardian_id,
        "Lab results",
        "Thank you! Should I keep the same dose of lisinopril? (synthetic)",
        "2026-03-12T18:20:00Z",
        Some(&first_id),
    );
    let reply_id = reply.id().unwrap_or_default().to_owned();
    let answer = charts::message(
        &guardian_id,
        "Lab results",
        "Yes, same dose. We will recheck your blood pressure in three months. (synthetic)",
        "2026-03-13T09:05:00Z",
        Some(&reply_id),
    );
    doctor
        .publish(&doctor.sign(&view, &guardian_pk, vec![(ClinicalKind::Message, first)])?)
        .await?;
    // Her message goes to the office epoch, which the front desk holds too.
    let target = view
        .roster()
        .patient_seal_target(ClinicalKind::Message)
        .ok_or_else(|| StackError::Demo("no epoch key".into()))?;
    let patient_reply = ClinicalEventBuilder::new(ClinicalKind::Message, reply, guardian_pk)
        .and_then(|b| b.sign_as_patient_to(guardian, &target))
        .map_err(|e| StackError::Demo(format!("the patient's reply: {e}")))?
        .event()
        .clone();
    let patient_actor = Actor::connect(&urls.relay, guardian).await?;
    patient_actor
        .publish(std::slice::from_ref(&patient_reply))
        .await?;
    doctor
        .publish(&doctor.sign(&view, &guardian_pk, vec![(ClinicalKind::Message, answer)])?)
        .await?;
    let who = charts::PATIENTS[0];
    let pdf = charts::synthetic_pdf(&format!("{} {}", who.given, who.family));
    let document = upload_document(urls, &keys.doctor, &guardian_id, &pdf, data_dir).await?;
    doctor
        .publish(&doctor.sign(
            &view,
            &guardian_pk,
            vec![(ClinicalKind::Document, document)],
        )?)
        .await?;

    // Guardianship of the two children, then consent of patient 1 to FHIR sharing.
    let wards: Vec<PublicKey> = keys
        .patients
        .iter()
        .skip(8)
        .map(Identity::public_key)
        .collect();
    operate(&doctor, &root_pk, now, "a guardianship", |state| {
        practice::set_guardianships(
            state,
            wards.iter().map(|ward| (ward, &guardian_pk)),
            GuardianshipStatus::Active,
        )
    })
    .await?;
    let consenting = keys
        .patients
        .get(1)
        .ok_or_else(|| StackError::Demo("no patient 1".into()))?;
    let consent_id = consenting.public_key().to_hex();
    let consent = ehr_client::demo::fhir_sharing_consent(&consent_id, &[DEMO_FACILITY]);
    operate(&doctor, &root_pk, Timestamp::now(), "a consent", |state| {
        practice::consent(state, &consenting.public_key(), consent)
    })
    .await?;

    // The login patient opted in to emergency access.
    let opted_in = keys
        .patients
        .first()
        .ok_or_else(|| StackError::Demo("no patient 0".into()))?
        .public_key();
    let opt_in = ehr_client::demo::emergency_access_consent(&opted_in.to_hex());
    operate(
        &doctor,
        &root_pk,
        Timestamp::now(),
        "an emergency opt-in",
        |state| practice::consent(state, &opted_in, opt_in),
    )
    .await?;

    schedule::seed(urls, keys, &root_pk).await?;

    let (fhir_api_key, emergency_api_key) = match gateway_database_url {
        Some(url) => demo_api_keys(url).await?,
        None => (String::new(), String::new()),
    };
    for actor in [root, admin, doctor, nurse, patient_actor] {
        actor.client.disconnect().await;
    }
    let consenting_person = charts::PATIENTS[1];
    let info = DemoInfo {
        patient_name: format!("{} {}", who.given, who.family),
        patient_key_file: keys_dir.join(patient_file(0)),
        consenting_patient: format!("{} {}", consenting_person.given, consenting_person.family),
        consenting_patient_fhir_id: ehr_fhir_gateway::served::patient_id(&consenting.public_key()),
        fhir_api_key,
        emergency_api_key,
        emergency_patient_fhir_id: ehr_fhir_gateway::served::patient_id(&opted_in),
        keys_dir: keys_dir.to_owned(),
    };
    let json = serde_json::to_string_pretty(&info)
        .map_err(|e| StackError::Demo(format!("demo.json: {e}")))?;
    std::fs::write(DemoInfo::path(data_dir), json)
        .map_err(|e| StackError::io("cannot write demo.json", e))?;
    Ok(info)
}

/// Encrypt `pdf`, upload it to Blossom as the doctor, and return its DocumentReference.
async fn upload_document(
    urls: &Urls,
    doctor: &Identity,
    patient_id: &str,
    pdf: &[u8],
    scratch_dir: &Path,
) -> Result<Resource, StackError> {
    let file_key = FileKey::generate().map_err(|e| StackError::Demo(format!("file key: {e}")))?;
    let (blob, sealed) = document::seal_single_described(&file_key, pdf)
        .map_err(|e| StackError::Demo(format!("sealing the PDF: {e}")))?;
    // Only ciphertext touches the disk.
    let scratch = scratch_dir.join(format!("upload-{}.bin", sealed.ciphertext_sha256));
    std::fs::write(&scratch, &blob).map_err(|e| StackError::io("cannot stage the upload", e))?;
    let client =
        BlossomClient::new(&urls.blossom).map_err(|e| StackError::Demo(format!("blossom: {e}")))?;
    let uploaded = client
        .upload(doctor, &scratch, &sealed.ciphertext_sha256)
        .await;
    let _ = std::fs::remove_file(&scratch);
    let descriptor = uploaded.map_err(|e| StackError::Demo(format!("uploading the PDF: {e}")))?;
    let mut reference = ehr_client::blossom::document_reference(
        &format!("Patient/{patient_id}"),
        &sealed,
        &file_key,
        &descriptor,
        "application/pdf",
        "Lab report (synthetic)",
    );
    reference.meta = ehr_client::demo::synthetic_meta();
    Ok(Resource::DocumentReference(reference))
}

/// An API key for the demo facility, written straight into the gateway's database. API keys
/// are issued to registered clients only, so the facility is registered first, with no
/// backend-services keys (an empty JWKS: it can never get a token from the token endpoint).
async fn demo_api_keys(database_url: &str) -> Result<(String, String), StackError> {
    let store = ehr_fhir_gateway::store::Store::open(database_url).await?;
    let now = i64::try_from(Timestamp::now().as_secs()).unwrap_or(i64::MAX);
    let read = vec!["system/*.read".to_owned()];
    let emergency = vec![ehr_fhir_gateway::scopes::EMERGENCY_SCOPE.to_owned()];
    for (client, scopes) in [(DEMO_FACILITY, &read), (DEMO_EMERGENCY_ROOM, &emergency)] {
        let live = store
            .smart_client(client)
            .await?
            .is_some_and(|client| client.revoked_at.is_none());
        if !live {
            store
                .register_client(
                    client,
                    &ehr_fhir_gateway::smart::no_keys(),
                    scopes,
                    "nostr-ehr demo",
                    now,
                )
                .await?;
        }
    }
    let year = now + 365 * 86_400;
    Ok((
        store.add_api_key(DEMO_FACILITY, &read, now, year).await?,
        store
            .add_api_key(DEMO_EMERGENCY_ROOM, &emergency, now, year)
            .await?,
    ))
}
