//! `.hubwarden.yml`: typed configuration read at the scanned root (or `--config FILE`).
//!
//! YAML stays behind this module: callers only see the typed `Config`.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::{Deserialize, Serialize};

use crate::model::{HubKind, Level};

/// The file looked for at the scanned root.
pub const FILE_NAME: &str = ".hubwarden.yml";

/// Cap on the config file size: it is user input read before anything else.
const MAX_CONFIG_BYTES: u64 = 1024 * 1024;

/// The whole configuration file. Every field is optional.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Config {
    /// Exit 1 when a finding is at or above this level (`--fail-on` wins).
    #[serde(default, deserialize_with = "de_opt_level")]
    pub fail_on: Option<Level>,
    /// Globs (relative to the scanned root) of paths to skip.
    #[serde(default)]
    pub exclude: Vec<String>,
    /// Trusted organisations, repositories or exact commits.
    #[serde(default)]
    pub allow: Vec<AllowEntry>,
    /// Per-rule overrides: `{rule-id: warning}`, `{rule-id: {level: warning}}` or `{rule-id: off}`.
    #[serde(default)]
    pub rules: BTreeMap<String, RuleOverride>,
    /// Make no network request (`--offline` wins when set).
    #[serde(default)]
    pub offline: Option<bool>,
}

/// One allow-list entry: `org: acme`, `repo: acme/chat`, or `repo` + `commit`,
/// each optionally restricted to one hub.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct AllowEntry {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub org: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repo: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hub: Option<HubKind>,
}

impl AllowEntry {
    /// Whether this entry trusts `repo_id` on `hub` (any commit unless the entry names one).
    pub fn matches_repo(&self, hub: HubKind, repo_id: &str) -> bool {
        if self.hub.is_some_and(|h| h != hub) {
            return false;
        }
        if let Some(org) = &self.org {
            return repo_id
                .split_once('/')
                .is_some_and(|(owner, _)| owner.eq_ignore_ascii_case(org));
        }
        self.repo
            .as_deref()
            .is_some_and(|r| r.eq_ignore_ascii_case(repo_id))
    }

    /// Whether this entry trusts exactly `repo_id` at `commit`.
    pub fn matches_commit(&self, hub: HubKind, repo_id: &str, commit: &str) -> bool {
        self.org.is_none()
            && self.matches_repo(hub, repo_id)
            && self
                .commit
                .as_deref()
                .is_some_and(|c| c.eq_ignore_ascii_case(commit))
    }

    /// Whether this entry trusts the repo at any commit (no `commit:` given).
    pub fn is_whole_repo(&self) -> bool {
        self.commit.is_none()
    }
}

/// A per-rule override.
#[derive(Serialize, Clone, Copy, Debug, PartialEq, Eq)]
pub enum RuleOverride {
    /// The rule is disabled.
    Off,
    /// The rule reports at this level.
    Level(Level),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RuleSetting {
    #[serde(deserialize_with = "de_level")]
    level: Level,
}

fn de_level<'de, D: Deserializer<'de>>(d: D) -> Result<Level, D::Error> {
    let s = String::deserialize(d)?;
    Level::parse(&s).ok_or_else(|| {
        de::Error::custom(format!(
            "unknown level `{s}`, expected one of `note`, `warning`, `error`"
        ))
    })
}

fn de_opt_level<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Level>, D::Error> {
    de_level(d).map(Some)
}

impl<'de> Deserialize<'de> for RuleOverride {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RuleOverride;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("`off`, a level (`note`, `warning`, `error`) or a map `{level: ...}`")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<RuleOverride, E> {
                match (v, Level::parse(v)) {
                    ("off", _) => Ok(RuleOverride::Off),
                    (_, Some(level)) => Ok(RuleOverride::Level(level)),
                    (other, None) => Err(E::invalid_value(de::Unexpected::Str(other), &self)),
                }
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<RuleOverride, E> {
                // YAML 1.1 readers turn a bare `off` into false; accept that spelling.
                if v {
                    Err(E::invalid_value(de::Unexpected::Bool(v), &self))
                } else {
                    Ok(RuleOverride::Off)
                }
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<RuleOverride, A::Error> {
                let s = RuleSetting::deserialize(de::value::MapAccessDeserializer::new(map))?;
                Ok(RuleOverride::Level(s.level))
            }
        }
        d.deserialize_any(V)
    }
}

/// Why the configuration could not be used (exit code 2).
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("config file {path} does not exist")]
    NotFound { path: PathBuf },
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config file {path} is larger than 1 MiB")]
    TooLarge { path: PathBuf },
    #[error("{}{}: {message}", path.display(), location.map(|(l, c)| format!(":{l}:{c}")).unwrap_or_default())]
    Parse {
        path: PathBuf,
        /// 1-based line and column, when the parser knows them.
        location: Option<(usize, usize)>,
        message: String,
    },
    #[error("{}: {message}", path.display())]
    Invalid { path: PathBuf, message: String },
}

impl Config {
    /// Read `explicit` (which must exist) or `.hubwarden.yml` at `root` (if present;
    /// otherwise the defaults).
    pub fn load(root: &Path, explicit: Option<&Path>) -> Result<Config, ConfigError> {
        let path = match explicit {
            Some(p) => {
                if !p.is_file() {
                    return Err(ConfigError::NotFound {
                        path: p.to_path_buf(),
                    });
                }
                p.to_path_buf()
            }
            None => {
                let dir = if root.is_file() {
                    root.parent().unwrap_or(Path::new("."))
                } else {
                    root
                };
                let p = dir.join(FILE_NAME);
                if !p.is_file() {
                    return Ok(Config::default());
                }
                p
            }
        };
        let meta = std::fs::metadata(&path).map_err(|source| ConfigError::Read {
            path: path.clone(),
            source,
        })?;
        if meta.len() > MAX_CONFIG_BYTES {
            return Err(ConfigError::TooLarge { path });
        }
        let text = std::fs::read_to_string(&path).map_err(|source| ConfigError::Read {
            path: path.clone(),
            source,
        })?;
        Config::parse(&text, &path)
    }

    /// Parse YAML text; `path` is only used in error messages.
    pub fn parse(text: &str, path: &Path) -> Result<Config, ConfigError> {
        let parse_err = |e: serde_yaml::Error| {
            let location = e.location().map(|l| (l.line(), l.column()));
            let mut message = e.to_string();
            // serde_yaml appends " at line L column C"; the prefix already says it.
            if let Some((l, c)) = location {
                let suffix = format!(" at line {l} column {c}");
                if let Some(stripped) = message.strip_suffix(&suffix) {
                    message = stripped.to_string();
                }
            }
            ConfigError::Parse {
                path: path.to_path_buf(),
                location,
                message,
            }
        };
        // An empty file (or one with only comments) means "all defaults".
        let value: serde_yaml::Value = serde_yaml::from_str(text).map_err(parse_err)?;
        if value.is_null() {
            return Ok(Config::default());
        }
        let config: Config = serde_yaml::from_str(text).map_err(parse_err)?;
        config.validate(path)?;
        Ok(config)
    }

    fn validate(&self, path: &Path) -> Result<(), ConfigError> {
        let invalid = |message: String| ConfigError::Invalid {
            path: path.to_path_buf(),
            message,
        };
        for g in &self.exclude {
            globset::Glob::new(g).map_err(|e| invalid(format!("exclude: bad glob {g:?}: {e}")))?;
        }
        for (i, a) in self.allow.iter().enumerate() {
            let n = i + 1;
            match (&a.org, &a.repo) {
                (Some(_), Some(_)) => {
                    return Err(invalid(format!(
                        "allow entry {n}: give either `org` or `repo`, not both"
                    )));
                }
                (None, None) => {
                    return Err(invalid(format!(
                        "allow entry {n}: needs `org: NAME` or `repo: OWNER/NAME`"
                    )));
                }
                (Some(org), None) => {
                    if a.commit.is_some() {
                        return Err(invalid(format!(
                            "allow entry {n}: `commit` needs `repo`, not `org`"
                        )));
                    }
                    if org.is_empty() || org.contains('/') {
                        return Err(invalid(format!(
                            "allow entry {n}: org {org:?} must be a single name without '/'"
                        )));
                    }
                }
                (None, Some(repo)) => {
                    if repo.split('/').filter(|s| !s.is_empty()).count() < 2 {
                        return Err(invalid(format!(
                            "allow entry {n}: repo {repo:?} must be OWNER/NAME"
                        )));
                    }
                }
            }
            if let Some(c) = &a.commit
                && !crate::hub::validate::is_target_commit(c)
            {
                return Err(invalid(format!(
                    "allow entry {n}: commit {c:?} must be a full 40-hex commit id"
                )));
            }
        }
        Ok(())
    }
}
