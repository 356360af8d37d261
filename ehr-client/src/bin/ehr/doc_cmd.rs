//! `ehr doc add|get`: encrypted documents on the practice's Blossom server, recorded as
//! DocumentReferences (kind 2121) whose key and hashes travel only inside the encryption.

use std::fs::File;
use std::io::{BufReader, BufWriter, Read};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::Subcommand;
use ehr_client::blossom::{self, BlossomClient};
use ehr_client::chart::FoldOptions;
use ehr_client::document::{self, FileKey, SEGMENT_SIZE, Sealed};
use ehr_client::fhir::Resource;
use serde_json::{Value, json};

use crate::practice;
use crate::secrets::KeyArgs;
use crate::session::Session;

#[derive(Debug, Subcommand)]
pub enum DocCommand {
    /// Encrypt a file, upload it to the Blossom server and record it in a patient's chart.
    #[command(
        after_help = "Example: ehr --key doctor.ncryptsec doc add --patient npub1... --server https://blobs.clinic.example --type application/pdf scan.pdf"
    )]
    Add {
        #[arg(long, value_name = "NPUB")]
        patient: String,
        /// The practice's Blossom server.
        #[arg(long, env = "EHR_BLOSSOM_URL", value_name = "URL")]
        server: String,
        /// The file's MIME type.
        #[arg(long = "type", default_value = "application/octet-stream")]
        mime: String,
        /// A title (default: the file name).
        #[arg(long)]
        title: Option<String>,
        file: PathBuf,
    },
    /// Download, verify and decrypt a document of a chart (as staff, guardian or the patient).
    #[command(
        after_help = "Example: ehr --key patient.nsec doc get --patient npub1... --id 6f1c... --out scan.pdf"
    )]
    Get {
        #[arg(long, value_name = "NPUB")]
        patient: String,
        /// The DocumentReference's id (`chart show --format bundle` lists them).
        #[arg(long)]
        id: String,
        /// The new file to write.
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
    },
}

/// A scratch file next to the system's temporary files, removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> Self {
        Self(std::env::temp_dir().join(format!("ehr-doc-{}", ehr_client::demo::new_id())))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Encrypt `file` into `out`: one GCM message for files of at most one segment, the stream
/// layout above that.
fn seal_file(key: &FileKey, file: &Path, out: &Path) -> Result<Sealed> {
    let size = std::fs::metadata(file)
        .with_context(|| format!("reading {}", file.display()))?
        .len();
    if size <= SEGMENT_SIZE as u64 {
        let mut plain = zeroize::Zeroizing::new(Vec::new());
        File::open(file)?.read_to_end(&mut plain)?;
        let (blob, sealed) = document::seal_single_described(key, &plain)?;
        std::fs::write(out, &blob)?;
        return Ok(sealed);
    }
    let reader = BufReader::new(File::open(file)?);
    let writer = BufWriter::new(File::create_new(out)?);
    Ok(document::seal_stream(key, reader, writer)?)
}

pub fn run(s: &mut Session, key: &KeyArgs, command: DocCommand) -> Result<Value> {
    let identity = key.identity()?;
    match command {
        DocCommand::Add {
            patient,
            server,
            mime,
            title,
            file,
        } => {
            let patient = ehr_client::keys::parse_public_key(&patient)?;
            let client = BlossomClient::new(&server)?;
            let file_key = FileKey::generate()?;
            let scratch = Scratch::new();
            let sealed = seal_file(&file_key, &file, &scratch.0)?;
            let descriptor = s
                .block_on(client.upload(&identity, &scratch.0, &sealed.ciphertext_sha256))
                .context("uploading to the Blossom server")?;
            if descriptor.sha256 != sealed.ciphertext_sha256 {
                bail!("the Blossom server stored different bytes than were sent");
            }
            let title = title.unwrap_or_else(|| {
                file.file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default()
            });
            let document = blossom::document_reference(
                &format!("Patient/{}", patient.to_hex()),
                &sealed,
                &file_key,
                &descriptor,
                &mime,
                &title,
            );
            let id = document.id.clone().unwrap_or_default();
            let mut report = practice::add_resource(
                s,
                &identity,
                &patient,
                Resource::DocumentReference(document),
            )?;
            if let Some(map) = report.as_object_mut() {
                map.insert("document_id".into(), json!(id));
                map.insert("sha256".into(), json!(sealed.ciphertext_sha256));
                map.insert("layout".into(), json!(sealed.layout.as_str()));
                map.insert("size".into(), json!(sealed.plaintext_size));
            }
            Ok(report)
        }
        DocCommand::Get { patient, id, out } => {
            let patient = ehr_client::keys::parse_public_key(&patient)?;
            if out.exists() {
                bail!("{} already exists", out.display());
            }
            let (chart, _) = practice::read_chart(
                s,
                &identity,
                &patient,
                FoldOptions {
                    include_patient_reported: true,
                },
            )?;
            let document = chart
                .entries()
                .find_map(|entry| match &entry.resource {
                    Resource::DocumentReference(d) if d.id.as_deref() == Some(id.as_str()) => {
                        Some(d.clone())
                    }
                    _ => None,
                })
                .context("no such document in the chart you may read")?;
            let file = blossom::encrypted_file(&document)?;
            let server = file
                .url
                .rsplit_once('/')
                .map(|(base, _)| base.to_owned())
                .context("the document's URL names no server")?;
            let client = BlossomClient::new(&server)?;
            let scratch = Scratch::new();
            s.block_on(client.download(&identity, &file.ciphertext_sha256, &scratch.0))
                .context("downloading from the Blossom server")?;
            // Decrypt into a scratch file and move it into place only when every segment
            // authenticated: a tampered blob leaves nothing behind.
            let plain = Scratch(out.with_extension("partial"));
            let size = document::open(
                &file.key,
                file.layout,
                BufReader::new(File::open(&scratch.0)?),
                BufWriter::new(File::create_new(&plain.0)?),
            )?;
            std::fs::rename(&plain.0, &out)?;
            Ok(
                json!({ "file": out.display().to_string(), "size": size, "type": file.content_type, "title": file.title }),
            )
        }
    }
}
