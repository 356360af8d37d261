//! Where the CLI gets secrets from: an `ncryptsec` (or `nsec`) file, an environment variable,
//! or a passphrase prompt. Never from argv, so secrets stay out of shell history and `ps`.

use std::fs;
use std::io::Write;
use std::path::Path;

use anyhow::{Context, Result, bail};
use clap::Args;
use ehr_client::keys::{self, Identity};

/// How to find the acting user's key.
#[derive(Debug, Clone, Args)]
pub struct KeyArgs {
    /// File holding your secret key as NIP-49 `ncryptsec` (or `nsec`).
    #[arg(long, global = true, env = "EHR_KEY_FILE", value_name = "FILE")]
    pub key: Option<std::path::PathBuf>,
    /// Environment variable holding your secret key (nsec, hex or ncryptsec).
    #[arg(long, global = true, value_name = "ENV_VAR")]
    pub nsec_env: Option<String>,
    /// Environment variable holding the ncryptsec passphrase (otherwise you are prompted).
    #[arg(long, global = true, value_name = "ENV_VAR")]
    pub password_env: Option<String>,
}

impl KeyArgs {
    /// The acting identity.
    pub fn identity(&self) -> Result<Identity> {
        let secret = match (&self.key, &self.nsec_env) {
            (Some(path), _) => fs::read_to_string(path)
                .with_context(|| format!("reading the key file {}", path.display()))?,
            (None, Some(name)) => {
                std::env::var(name).with_context(|| format!("{name} is not set"))?
            }
            (None, None) => bail!("this command needs your key: pass --key FILE or --nsec-env VAR"),
        };
        let secret = zeroize::Zeroizing::new(secret.trim().to_owned());
        let password = if secret.starts_with("ncryptsec1") {
            Some(self.passphrase("Passphrase for your key: ")?)
        } else {
            None
        };
        Identity::parse(&secret, password.as_ref().map(|p| p.as_str()))
            .context("the key is not valid (or the passphrase is wrong)")
    }

    /// A passphrase from `--password-env`, or from the terminal.
    pub fn passphrase(&self, prompt: &str) -> Result<zeroize::Zeroizing<String>> {
        let password = match &self.password_env {
            Some(name) => std::env::var(name).with_context(|| format!("{name} is not set"))?,
            None => rpassword::prompt_password(prompt).context("reading the passphrase")?,
        };
        if password.is_empty() {
            bail!("the passphrase must not be empty");
        }
        Ok(zeroize::Zeroizing::new(password))
    }

    /// A new passphrase: from `--password-env`, or typed twice.
    pub fn new_passphrase(&self) -> Result<zeroize::Zeroizing<String>> {
        let first = self.passphrase("New passphrase: ")?;
        if self.password_env.is_none() {
            let again = self.passphrase("Repeat the passphrase: ")?;
            if *again != *first {
                bail!("the passphrases differ");
            }
        }
        Ok(first)
    }
}

/// Write a secret to a new file readable by its owner only. Refuses to overwrite.
pub fn write_secret_file(path: &Path, contents: &str) -> Result<()> {
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options
        .open(path)
        .with_context(|| format!("creating {} (it must not exist yet)", path.display()))?;
    file.write_all(contents.as_bytes())?;
    file.write_all(b"\n")?;
    file.sync_all()?;
    Ok(())
}

/// Encrypt `identity` with NIP-49 and write it to `path`.
pub fn write_ncryptsec(path: &Path, identity: &Identity, password: &str, log_n: u8) -> Result<()> {
    let ncryptsec = keys::to_ncryptsec(identity.secret_key(), password, log_n)?;
    write_secret_file(path, &ncryptsec)
}
