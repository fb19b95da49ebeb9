//! Catalogues kept as data next to the rules: which methods each loader family's library
//! calls on load (`rules/genre/load-hooks.yml`), the APIs that reach each capability
//! (`rules/genre/capabilities.yml`) and the modules of the genre profile
//! (`rules/genre/profile.yml`).

use std::collections::BTreeMap;

use serde::Deserialize;

use super::error::RuleError;
use crate::model::Family;

/// The keys in `load-hooks.yml` whose hooks apply to a loader family (`None`: a file
/// scanned on its own, for which every library's hooks apply).
/// Which keys apply is a fact about the family, kept in the loader catalogue.
fn hook_keys(family: Option<Family>) -> Option<&'static [&'static str]> {
    family?.hook_libraries()
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

/// One capability: the APIs that reach it (see `capabilities.yml` for each field).
#[derive(Deserialize, Clone, Debug, Default)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(crate) struct Capability {
    /// The rule its findings are reported under (metadata in `rules/capability/`).
    pub rule: String,
    #[serde(default)]
    pub apis: Vec<String>,
    /// Module -> its attributes that are not the capability.
    #[serde(default)]
    pub modules: BTreeMap<String, Vec<String>>,
    #[serde(default)]
    pub build_tools: Vec<String>,
    /// Build tool -> arguments with which it runs more than a build.
    #[serde(default)]
    pub build_tool_unsafe_args: BTreeMap<String, Vec<String>>,
    #[serde(default)]
    pub system_libraries: Vec<String>,
    #[serde(default)]
    pub standard_files: Vec<String>,
    #[serde(default)]
    pub data_extensions: Vec<String>,
    #[serde(default)]
    pub reflection_targets: Vec<String>,
    /// Functions that bind a callee to leading arguments (`functools.partial`): calling
    /// the result calls the callee with those arguments first.
    #[serde(default)]
    pub binders: Vec<String>,
    /// Names that code has no reason to build at run time from pieces (`"sys" + "tem"`):
    /// a folded expression equal to one is reported where it is built.
    #[serde(default)]
    pub names: Vec<String>,
    #[serde(default)]
    pub examples: crate::rulemeta::Examples,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CapabilitiesFile {
    capabilities: BTreeMap<String, Capability>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ProfileFile {
    modules: Vec<String>,
}

/// One library's hooks as they apply to a load: for a file on its own, no class is
/// loaded only for being in an entry file.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Hooks<'c> {
    pub of: &'c FamilyHooks,
    /// What applies, in place of `of.all_classes_of_entry_files`.
    pub all_classes_of_entry_files: bool,
}

/// Every catalogue of a run.
#[derive(Clone, Debug, Default)]
pub(crate) struct Catalogue {
    pub families: BTreeMap<String, FamilyHooks>,
    pub capabilities: BTreeMap<String, Capability>,
    /// Modules of the genre profile (a name covers its submodules).
    pub profile: Vec<String>,
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
            "capabilities" => {
                let f: CapabilitiesFile = serde_yaml::from_str(text).map_err(err)?;
                for (k, v) in f.capabilities {
                    for re in &v.system_libraries {
                        regex::Regex::new(re).map_err(|e| RuleError {
                            file: origin.to_string(),
                            line: text
                                .lines()
                                .position(|l| l.contains("system-libraries"))
                                .map_or(0, |i| i + 1),
                            message: format!("system-libraries regex: {e}"),
                        })?;
                    }
                    match self.capabilities.get_mut(&k) {
                        Some(e) => {
                            e.apis.extend(v.apis);
                            e.modules.extend(v.modules);
                            e.build_tools.extend(v.build_tools);
                            e.build_tool_unsafe_args.extend(v.build_tool_unsafe_args);
                            e.system_libraries.extend(v.system_libraries);
                            e.standard_files.extend(v.standard_files);
                            e.data_extensions.extend(v.data_extensions);
                            e.reflection_targets.extend(v.reflection_targets);
                            e.binders.extend(v.binders);
                            e.names.extend(v.names);
                        }
                        None => {
                            self.capabilities.insert(k, v);
                        }
                    }
                }
                Ok(())
            }
            "profile" => {
                let f: ProfileFile = serde_yaml::from_str(text).map_err(err)?;
                self.profile.extend(f.modules);
                Ok(())
            }
            _ => Err(RuleError {
                file: origin.to_string(),
                line: 0,
                message: format!(
                    "unknown catalogue {stem:?} (expected load-hooks, capabilities or profile)"
                ),
            }),
        }
    }

    /// The hooks that apply to a family: its own, plus transformers' for the libraries
    /// that load transformers code, and every library's (none naming an entry
    /// function) for a file on its own. Borrowed: a closure reads them once, and cloning
    /// every library's lists per closure was most of the cost for a file on its own.
    pub(crate) fn hooks_for(&self, family: Option<Family>) -> Vec<Hooks<'_>> {
        match hook_keys(family) {
            Some(keys) => keys
                .iter()
                .filter_map(|k| self.families.get(*k))
                .map(|h| Hooks {
                    all_classes_of_entry_files: h.all_classes_of_entry_files,
                    of: h,
                })
                .collect(),
            None => self
                .families
                .values()
                .filter(|h| !h.entry_function)
                .map(|h| Hooks {
                    of: h,
                    all_classes_of_entry_files: false,
                })
                .collect(),
        }
    }
}
