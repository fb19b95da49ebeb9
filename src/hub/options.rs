//! How to build [`Hubs`](super::Hubs): offline mode, mirror, caches, and each
//! hub's endpoint and token, read from the variables the hubs' own libraries
//! honour (each hub names them in its file) or set by the caller. Tokens reach
//! the clients only through these options, never through the process environment.

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::{HUBS, HttpConfig, credentials};
use crate::model::HubKind;

/// Base URL of each hub (no trailing slash needed). Unset hubs use their
/// default. A hub may also have a second site it falls back to when a repo is
/// not on the first (ModelScope's `.cn` and `.ai`), set only when the user named
/// no endpoint, as the hub's library does.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Endpoints(BTreeMap<HubKind, String>, BTreeMap<HubKind, String>);

impl Endpoints {
    /// The base URL of `hub`.
    pub fn get(&self, hub: HubKind) -> &str {
        self.0
            .get(&hub)
            .map(String::as_str)
            .unwrap_or_else(|| super::get(hub).default_endpoint())
    }

    pub fn set(&mut self, hub: HubKind, url: impl Into<String>) {
        self.0.insert(hub, url.into());
    }

    /// Builder form of [`Endpoints::set`].
    pub fn with(mut self, hub: HubKind, url: impl Into<String>) -> Endpoints {
        self.set(hub, url);
        self
    }

    /// The site `hub` falls back to when a repo is not on [`Endpoints::get`].
    pub fn fallback(&self, hub: HubKind) -> Option<&str> {
        self.1.get(&hub).map(String::as_str)
    }

    pub fn set_fallback(&mut self, hub: HubKind, url: impl Into<String>) {
        self.1.insert(hub, url.into());
    }
}

/// Tokens, each sent only to its own hub's origin. Kept out of `Debug`.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Tokens(BTreeMap<HubKind, String>);

impl Tokens {
    pub fn get(&self, hub: HubKind) -> Option<&str> {
        self.0.get(&hub).map(String::as_str)
    }

    pub fn set(&mut self, hub: HubKind, token: impl Into<String>) {
        self.0.insert(hub, token.into());
    }

    pub fn remove(&mut self, hub: HubKind) {
        self.0.remove(&hub);
    }
}

impl std::fmt::Debug for Tokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut d = f.debug_map();
        for hub in self.0.keys() {
            d.entry(&hub.as_str(), &"set");
        }
        d.finish()
    }
}

/// How to build `Hubs`. Tests construct it field by field; the CLI uses
/// [`HubOptions::from_env`] and then sets `offline`, `mirror`, `cache_dir`.
#[derive(Clone, Debug, Default)]
pub struct HubOptions {
    /// Make no network request at all.
    pub offline: bool,
    /// Offline mirror root, consulted first (also when online).
    pub mirror: Option<PathBuf>,
    /// Disk cache root; `None` = `<user cache dir>/hubwarden`.
    pub cache_dir: Option<PathBuf>,
    /// Turn the disk cache off entirely.
    pub no_disk_cache: bool,
    /// Local Hugging Face hub cache read when offline; `None` = none.
    pub hf_cache: Option<PathBuf>,
    pub endpoints: Endpoints,
    pub tokens: Tokens,
    pub http: HttpConfig,
    /// Whether the installed paddle/paddlehub may satisfy a PaddleHub search
    /// item's version conditions; None = any installation.
    pub paddle_env: Option<PaddleEnv>,
}

/// PaddleHub's `search_resource` drops a search item whose `paddle_version`
/// or `hub_version` conditions (`>=a`, `<=b`, from `convert_version`) the
/// installed paddle or paddlehub does not meet
/// (`paddlehub/server/server_source.py:89-107`, `utils/utils.py:429-446`,
/// 2.4.0). Called with (paddle conditions, paddlehub conditions); true keeps
/// the item. Built from the versions the project declares (`deps`).
#[derive(Clone)]
pub struct PaddleEnv(pub std::sync::Arc<PaddleEnvFn>);

/// (paddle conditions, paddlehub conditions) -> keep the search item.
pub type PaddleEnvFn = dyn Fn(&[String], &[String]) -> bool + Send + Sync;

impl std::fmt::Debug for PaddleEnv {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PaddleEnv(..)")
    }
}

impl HubOptions {
    /// Endpoints, tokens and the HF cache from the variables the hub libraries honour.
    pub fn from_env() -> HubOptions {
        let var = |k: &str| std::env::var(k).ok();
        HubOptions::from_lookup(&credentials::Lookup {
            var: &var,
            home: var("HOME").map(PathBuf::from).or_else(dirs::home_dir),
        })
    }

    /// The CLI's `--offline`, `--mirror DIR` and `--cache-dir DIR` on top.
    pub fn with_cli(
        mut self,
        offline: bool,
        mirror: Option<PathBuf>,
        cache_dir: Option<PathBuf>,
    ) -> HubOptions {
        self.offline = offline;
        self.mirror = mirror;
        if cache_dir.is_some() {
            self.cache_dir = cache_dir;
        }
        self
    }

    /// As [`HubOptions::from_env`], reading variables through `var` (tests pass a map).
    /// The home folder (for `~` and the token files) is `$HOME`, as Python's
    /// `expanduser` reads it.
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> HubOptions {
        let home = var("HOME")
            .filter(|h| !h.trim().is_empty())
            .map(PathBuf::from);
        HubOptions::from_lookup(&credentials::Lookup { var: &var, home })
    }

    /// As [`HubOptions::from_vars`], with the home folder given (tests).
    pub fn from_lookup(l: &credentials::Lookup<'_>) -> HubOptions {
        let nonempty = |k: &str| {
            (l.var)(k)
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };
        let mut endpoints = Endpoints::default();
        let mut tokens = Tokens::default();
        for hub in HUBS {
            let endpoint = hub.endpoint_from(&nonempty);
            if let Some((first, second)) = hub.site_order(&nonempty) {
                endpoints.set_fallback(hub.kind(), second);
                if let Some(c) = hub.token_from(l, &first) {
                    tokens.set(hub.kind(), c.token);
                }
                endpoints.set(hub.kind(), first);
                continue;
            }
            if let Some(c) = hub.token_from(l, &endpoint) {
                tracing::debug!("{} token from {}", hub.kind(), c.source);
                tokens.set(hub.kind(), c.token);
            }
            endpoints.set(hub.kind(), endpoint);
        }
        let hf_cache = credentials::hf_hub_cache(l);
        HubOptions {
            endpoints,
            tokens,
            hf_cache,
            ..HubOptions::default()
        }
    }
}

/// Hubs whose anonymous request budget a large run spends quickly: the hub,
/// how many distinct repositories make "many", the budget as the hub states
/// it, and what raises it.
const ANONYMOUS_BUDGETS: &[(HubKind, usize, &str, &str)] = &[
    // hub-docs `rate-limits.md`: anonymous 500 API calls per 5 minutes per
    // IP; every repo@revision costs at least one.
    (
        HubKind::Huggingface,
        50,
        "Hugging Face allows 500 API calls per 5 minutes per IP without a token",
        "HF_TOKEN, or `hf auth login`",
    ),
    // GitHub REST: 60 requests per hour unauthenticated; a torch.hub repo
    // costs a branch, a tree and one call per file.
    (
        HubKind::Github,
        5,
        "GitHub allows 60 API requests per hour per IP without a token",
        "GITHUB_TOKEN",
    ),
];

impl HubOptions {
    /// One warning per hub where `repos` (hub, repo id; repeats count once)
    /// are many and no token is set, said once before resolving: past the
    /// anonymous budget targets wait (within `--max-wait`) or end up
    /// unverified as rate limited. Nothing when offline.
    pub fn token_hints<'a>(
        &self,
        repos: impl IntoIterator<Item = (HubKind, &'a str)>,
    ) -> Vec<String> {
        if self.offline {
            return Vec::new();
        }
        let mut distinct: BTreeMap<HubKind, std::collections::BTreeSet<&str>> = BTreeMap::new();
        for (hub, repo) in repos {
            distinct.entry(hub).or_default().insert(repo);
        }
        ANONYMOUS_BUDGETS
            .iter()
            .filter(|(hub, many, _, _)| {
                self.tokens.get(*hub).is_none()
                    && distinct.get(hub).is_some_and(|r| r.len() >= *many)
            })
            .map(|(hub, _, budget, how)| {
                format!(
                    "{} {hub} repositories to resolve without a token: {budget}, after which targets wait (within --max-wait) or stay unverified as rate limited; a token raises the limit ({how})",
                    distinct[hub].len()
                )
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    #[test]
    fn options_from_vars() {
        let vars: HashMap<&str, &str> = [
            ("HF_ENDPOINT", "https://hf-mirror.example"),
            ("HUGGING_FACE_HUB_TOKEN", "legacy"),
            ("MODELSCOPE_DOMAIN", "www.modelscope.ai"),
            ("CSGHUB_TOKEN", " csg-secret "),
            ("GITHUB_TOKEN", ""),
            ("HF_HOME", "/data/hf"),
        ]
        .into();
        let o = HubOptions::from_vars(|k| vars.get(k).map(|v| v.to_string()));
        let ep = |h| o.endpoints.get(h);
        assert_eq!(ep(HubKind::Huggingface), "https://hf-mirror.example");
        assert_eq!(ep(HubKind::Modelscope), "https://www.modelscope.ai");
        assert_eq!(ep(HubKind::Opencsg), "https://hub.opencsg.com");
        assert_eq!(ep(HubKind::Github), "https://api.github.com");
        assert_eq!(
            ep(HubKind::Paddlehub),
            "http://paddlepaddle.org.cn/paddlehub"
        );
        assert_eq!(o.tokens.get(HubKind::Huggingface), Some("legacy"));
        assert_eq!(o.tokens.get(HubKind::Opencsg), Some("csg-secret"));
        assert!(
            !format!("{o:?}").contains("csg-secret"),
            "tokens never in Debug"
        );
        assert_eq!(o.tokens.get(HubKind::Github), None);
        assert_eq!(o.tokens.get(HubKind::Paddlehub), None);
        assert_eq!(o.hf_cache, Some(PathBuf::from("/data/hf/hub")));
        assert!(!o.offline);
        let o = HubOptions::from_vars(|k| {
            (k == "MODELSCOPE_ENDPOINT").then(|| "http://ms.local".to_string())
        });
        assert_eq!(o.endpoints.get(HubKind::Modelscope), "http://ms.local");
    }

    /// torch.hub reads github.com whatever `GITHUB_API_URL` says, and a
    /// `GITHUB_TOKEN` goes there only when it belongs to github.com.
    #[test]
    fn github_enterprise_token_stays_home() {
        let ghes = |k: &str| match k {
            "GITHUB_API_URL" => Some("https://ghes.example.invalid/api/v3".to_string()),
            "GITHUB_TOKEN" => Some("ghes-token".to_string()),
            _ => None,
        };
        let o = HubOptions::from_vars(ghes);
        assert_eq!(o.endpoints.get(HubKind::Github), "https://api.github.com");
        assert_eq!(o.tokens.get(HubKind::Github), None);
        let dotcom = |k: &str| match k {
            "GITHUB_API_URL" => Some("https://api.github.com".to_string()),
            "GITHUB_TOKEN" => Some("gh-token".to_string()),
            _ => None,
        };
        let o = HubOptions::from_vars(dotcom);
        assert_eq!(o.tokens.get(HubKind::Github), Some("gh-token"));
        let proxy = |k: &str| match k {
            "HUBWARDEN_GITHUB_API_URL" => Some("http://127.0.0.1:9/gh".to_string()),
            "GITHUB_TOKEN" => Some("gh-token".to_string()),
            _ => None,
        };
        let o = HubOptions::from_vars(proxy);
        assert_eq!(o.endpoints.get(HubKind::Github), "http://127.0.0.1:9/gh");
        assert_eq!(
            o.tokens.get(HubKind::Github),
            None,
            "github.com's token is not sent to a proxy"
        );
    }

    #[test]
    fn token_hints_once_per_hub_when_many_repos_and_no_token() {
        let repos: Vec<String> = (0..60).map(|i| format!("o/m{}", i % 55)).collect();
        let mut o = HubOptions::default();
        let hints = o.token_hints(repos.iter().map(|r| (HubKind::Huggingface, r.as_str())));
        assert_eq!(hints.len(), 1);
        assert!(
            hints[0].starts_with("55 huggingface repositories"),
            "{}",
            hints[0]
        );
        o.tokens.set(HubKind::Huggingface, "t");
        assert!(
            o.token_hints(repos.iter().map(|r| (HubKind::Huggingface, r.as_str())))
                .is_empty()
        );
        let few = ["a/b", "c/d"];
        assert!(
            HubOptions::default()
                .token_hints(few.map(|r| (HubKind::Github, r)))
                .is_empty()
        );
    }
}
