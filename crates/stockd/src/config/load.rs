//! Loading: the defaults, then the file, then the environment, then the
//! flags, each layer merged over the one before by `figment`.
//!
//! Every value from the environment and the flags enters as text and
//! becomes a number or a boolean only where its key takes one (figment's
//! lossy extraction), so `STOCKD_DATABASE__POSTGRES__PORT=5432` is a port
//! and an all-digit secret stays text. Errors name the key and where its
//! value came from (the file, or the environment variable by name).

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use figment::providers::Serialized;
use figment::value::{Dict, Map, Value};
use figment::{Figment, Metadata, Profile, Provider};

use super::schema::Config;

/// Values given on the command line; they win over everything else.
#[derive(Debug, Clone, Default)]
pub struct Flags {
    pub port: Option<u16>,
    pub database: Option<String>,
    pub redis: Option<String>,
}

/// What every configuration variable starts with.
const ENV_PREFIX: &str = "STOCKD_";
/// What stands between the levels of a key: `STOCKD_SERVER__PORT`.
const ENV_SEPARATOR: &str = "__";

/// Short environment names and the keys they set.
pub(super) const ENV_ALIASES: &[(&str, &str)] = &[
    ("STOCKD_PORT", "server.port"),
    ("STOCKD_HOST", "server.host"),
    ("STOCKD_DATABASE_URL", "database.url"),
    ("STOCKD_REDIS_URL", "redis.url"),
    ("STOCKD_NATS_URL", "nats.url"),
    ("STOCKD_ADMIN_KEY", "auth.admin_key"),
    ("STOCKD_LOG_FORMAT", "log.format"),
    ("STOCKD_LOG", "log.level"),
];

/// `STOCKD_` names that are not configuration keys, and who reads them.
/// They are left alone; any other `STOCKD_` name that is not a key is
/// refused.
pub(super) const ENV_NOT_KEYS: &[(&str, &str)] = &[
    ("STOCKD_CONFIG", "the configuration file (--config)"),
    (
        "STOCKD_TEST_DATABASE",
        "the backend the test suites run on (scripts/test)",
    ),
    (
        "STOCKD_TEST_POSTGRES",
        "the PostgreSQL server of the test suites (scripts/test)",
    ),
    (
        "STOCKD_CRASH_CYCLES",
        "how many cycles the crash test runs (tests/it/crash.rs)",
    ),
];

/// Builds the configuration from a file's text (if any), environment
/// variables and flags, in rising precedence.
pub fn resolve(
    file: Option<&str>,
    env: &[(String, String)],
    flags: &Flags,
) -> anyhow::Result<Config> {
    let mut layers = Figment::new();
    if let Some(tree) = file_tree(file)? {
        layers = layers.merge(FileLayer(tree));
    }
    for setting in environment(env)? {
        layers = layers.merge(setting);
    }
    for setting in flags.settings() {
        layers = layers.merge(setting);
    }
    let config: Config = layers.extract_lossy().context("invalid configuration")?;
    config.check()?;
    Ok(config)
}

/// The file as a tree of sections, or nothing for no file or an empty one.
fn file_tree(file: Option<&str>) -> anyhow::Result<Option<serde_yaml_ng::Value>> {
    let Some(text) = file.filter(|text| !text.trim().is_empty()) else {
        return Ok(None);
    };
    let tree: serde_yaml_ng::Value =
        serde_yaml_ng::from_str(text).context("config file is not valid YAML")?;
    if !tree.is_mapping() {
        bail!("config file must be a mapping of sections (server, database, inventory, ...)");
    }
    Ok(Some(tree))
}

/// The configuration file's keys, as YAML typed them.
struct FileLayer(serde_yaml_ng::Value);

impl Provider for FileLayer {
    fn metadata(&self) -> Metadata {
        Metadata::named("the config file").interpolater(|_: &Profile, keys: &[&str]| keys.join("."))
    }

    fn data(&self) -> Result<Map<Profile, Dict>, figment::Error> {
        Serialized::defaults(&self.0).data()
    }
}

/// One key set from outside the file, as text: by an environment variable
/// or by a flag.
struct Setting {
    /// Where it came from, as an error names it.
    origin: String,
    /// The key's path, with `.` between levels.
    key: String,
    value: Value,
}

impl Provider for Setting {
    fn metadata(&self) -> Metadata {
        Metadata::named(self.origin.clone())
            .interpolater(|_: &Profile, keys: &[&str]| keys.join("."))
    }

    fn data(&self) -> Result<Map<Profile, Dict>, figment::Error> {
        let dict = figment::util::nest(&self.key, self.value.clone())
            .into_dict()
            .expect("a key of one or more levels nests into a dictionary");
        Ok(Profile::Default.collect(dict))
    }
}

impl Flags {
    fn settings(&self) -> Vec<Setting> {
        let flag = |origin: &str, key: &str, value: Value| Setting {
            origin: format!("the flag {origin}"),
            key: key.to_owned(),
            value,
        };
        let mut settings = Vec::new();
        if let Some(port) = self.port {
            settings.push(flag("--port", "server.port", Value::from(port)));
        }
        if let Some(url) = &self.database {
            settings.push(flag(
                "--database",
                "database.url",
                Value::from(url.as_str()),
            ));
        }
        if let Some(url) = &self.redis {
            settings.push(flag("--redis", "redis.url", Value::from(url.as_str())));
        }
        settings
    }
}

/// The configuration keys the environment sets, in its order; a `STOCKD_`
/// name that is neither a key, a short name nor one of [`ENV_NOT_KEYS`]
/// is refused by name.
fn environment(env: &[(String, String)]) -> anyhow::Result<Vec<Setting>> {
    let mut settings = Vec::new();
    for (name, raw) in env {
        if !name.starts_with(ENV_PREFIX) || ENV_NOT_KEYS.iter().any(|(other, _)| other == name) {
            continue;
        }
        let key = match ENV_ALIASES.iter().find(|(alias, _)| alias == name) {
            Some((_, key)) => (*key).to_owned(),
            None => env_key(name)?,
        };
        settings.push(Setting {
            origin: format!("the environment variable {name}"),
            key,
            value: Value::from(raw.as_str()),
        });
    }
    Ok(settings)
}

/// `STOCKD_INVENTORY__HEALTH_CHECK__INTERVAL` → `inventory.health_check.interval`.
fn env_key(name: &str) -> anyhow::Result<String> {
    let rest = &name[ENV_PREFIX.len()..];
    if !rest.contains(ENV_SEPARATOR) {
        let aliases: Vec<&str> = ENV_ALIASES.iter().map(|(alias, _)| *alias).collect();
        bail!(
            "{name} is not a configuration variable: a key is set as {ENV_PREFIX}<SECTION>{ENV_SEPARATOR}<KEY> \
             (for example STOCKD_SERVER__PORT), and the short names are {}",
            aliases.join(", ")
        );
    }
    let parts: Vec<String> = rest
        .split(ENV_SEPARATOR)
        .map(str::to_ascii_lowercase)
        .collect();
    let well_formed = parts.iter().all(|part| {
        !part.is_empty() && part.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
    });
    if !well_formed {
        bail!("{name} is not a configuration variable: every level between {ENV_SEPARATOR} is letters, digits and _");
    }
    Ok(parts.join("."))
}

/// Reads the config file: the one named, else `./config.yaml` if present.
pub fn read_file(named: Option<&Path>) -> anyhow::Result<Option<(PathBuf, String)>> {
    let path = match named {
        Some(path) => path.to_path_buf(),
        None => {
            let local = PathBuf::from("config.yaml");
            if !local.exists() {
                return Ok(None);
            }
            local
        }
    };
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    Ok(Some((path, text)))
}
