//! Catalogues kept as data next to the rules: which methods each loader family's library
//! calls on load (`rules/genre/load-hooks.yml`).

use std::collections::BTreeMap;

use serde::Deserialize;

use super::rules::RuleError;
use crate::model::{LoadSite, Platform};

/// The library that loads a target, which decides what runs at load time.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Family {
    Transformers,
    TorchHub,
    Datasets,
    SentenceTransformers,
    PaddleHub,
    ModelScope,
    Diffusers,
    /// Not known (a file scanned on its own): every family's hooks apply.
    Generic,
}

impl Family {
    /// The key of the family in `load-hooks.yml`.
    pub fn key(self) -> &'static str {
        match self {
            Family::Transformers => "transformers",
            Family::TorchHub => "torch-hub",
            Family::Datasets => "datasets",
            Family::SentenceTransformers => "sentence-transformers",
            Family::PaddleHub => "paddlehub",
            Family::ModelScope => "modelscope",
            Family::Diffusers => "diffusers",
            Family::Generic => "generic",
        }
    }

    /// The family of a loader call, from its platform and API.
    // Until `LoadSite` carries the catalogue's family, this is the one place that derives it.
    pub fn of(site: &LoadSite) -> Family {
        let api = site.api.as_str();
        match site.platform {
            Platform::PytorchHub => Family::TorchHub,
            // paddle `hub.load` reads a hubconf.py like torch.hub.
            Platform::Paddlehub if api.contains("hub.load") || api.contains("hub.list") => {
                Family::TorchHub
            }
            Platform::Paddlehub => Family::PaddleHub,
            _ if api.starts_with("datasets.") => Family::Datasets,
            _ if api.starts_with("sentence_transformers.") => Family::SentenceTransformers,
            _ if api.starts_with("diffusers.") => Family::Diffusers,
            Platform::Modelscope => Family::ModelScope,
            _ => Family::Transformers,
        }
    }
}

/// What runs at load time for one family.
#[derive(Deserialize, Clone, Debug, Default)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(crate) struct FamilyHooks {
    /// The library's name, for messages ("which transformers calls on load").
    pub library: String,
    #[serde(default)]
    pub bases: Vec<String>,
    #[serde(default)]
    pub class_hooks: Vec<String>,
    #[serde(default)]
    pub hooks: Vec<String>,
    /// Decorators that register a class with the library (it is then loaded).
    #[serde(default)]
    pub decorators: Vec<String>,
    /// The call names a function of the entry file (torch.hub).
    #[serde(default)]
    pub entry_function: bool,
    /// Every class of an entry file may be loaded.
    #[serde(default)]
    pub all_classes_of_entry_files: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct HooksFile {
    families: BTreeMap<String, FamilyHooks>,
}

/// Every catalogue of a run.
#[derive(Clone, Debug, Default)]
pub(crate) struct Catalogue {
    pub families: BTreeMap<String, FamilyHooks>,
}

/// Is this rule file catalogue data rather than a rule?
pub(crate) fn is_catalogue(origin: &str) -> bool {
    let norm = origin.replace('\\', "/");
    norm.contains("/genre/") || norm.starts_with("genre/")
}

impl Catalogue {
    /// Add one catalogue file.
    pub(crate) fn merge(&mut self, origin: &str, text: &str) -> Result<(), RuleError> {
        let err = |e: serde_yaml::Error| RuleError {
            file: origin.to_string(),
            line: e.location().map_or(0, |l| l.line()),
            message: e.to_string(),
        };
        let stem = std::path::Path::new(origin)
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or("");
        match stem {
            "load-hooks" => {
                let f: HooksFile = serde_yaml::from_str(text).map_err(err)?;
                for (k, v) in f.families {
                    let e = self.families.entry(k).or_default();
                    if !v.library.is_empty() {
                        e.library = v.library;
                    }
                    e.bases.extend(v.bases);
                    e.class_hooks.extend(v.class_hooks);
                    e.hooks.extend(v.hooks);
                    e.decorators.extend(v.decorators);
                    e.entry_function |= v.entry_function;
                    e.all_classes_of_entry_files |= v.all_classes_of_entry_files;
                }
                Ok(())
            }
            _ => Err(RuleError {
                file: origin.to_string(),
                line: 0,
                message: format!("unknown catalogue {stem:?} (expected load-hooks)"),
            }),
        }
    }

    /// The hooks that apply to a family: its own, plus every family's for `Generic`, plus
    /// transformers' for the libraries that load transformers code.
    pub(crate) fn hooks_for(&self, family: Family) -> Vec<FamilyHooks> {
        let keys: Vec<&str> = match family {
            // A file on its own: what every library would call on the classes it defines.
            Family::Generic => {
                return self
                    .families
                    .values()
                    .filter(|h| !h.entry_function)
                    .map(|h| FamilyHooks {
                        all_classes_of_entry_files: false,
                        ..h.clone()
                    })
                    .collect();
            }
            Family::SentenceTransformers | Family::ModelScope | Family::Diffusers => {
                vec![family.key(), "transformers"]
            }
            f => vec![f.key()],
        };
        keys.iter()
            .filter_map(|k| self.families.get(*k))
            .cloned()
            .collect()
    }
}
