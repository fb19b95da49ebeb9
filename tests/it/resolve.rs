//! Resolve: which remote files each load would execute, against fixture repos
//! in the mirror layout (tests/fixtures/hub, owners prefixed `rs-`) read by an
//! in-test `RepoSource` that counts what it is asked.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::{Arc, Mutex};

use hubwarden::hub::{HubError, RepoSource, Snapshot};
use hubwarden::model::{
    Family, FetchStats, FileKind, HubKind, LoadSite, Platform, RepoType, Target, TargetStatus,
};
use hubwarden::resolve::{ResolveOptions, resolve_all};

use crate::common::fixture;

type RepoKey = (HubKind, RepoType, String);

/// One repository: refs and the file trees per commit.
#[derive(Default, Clone)]
struct Repo {
    refs: BTreeMap<String, String>,
    trees: BTreeMap<String, BTreeMap<String, Arc<Vec<u8>>>>,
}

/// An in-memory hub: filled from the mirror layout or built in a test.
#[derive(Default)]
struct MemSource {
    repos: HashMap<RepoKey, Repo>,
    fail: HashMap<String, HubError>,
    snapshot_calls: Mutex<HashMap<String, usize>>,
    read_calls: Mutex<HashMap<String, usize>>,
}

fn walk(dir: &Path, prefix: &str, out: &mut BTreeMap<String, Arc<Vec<u8>>>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(Result::ok)
        .collect();
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let name = e.file_name().to_string_lossy().to_string();
        let rel = if prefix.is_empty() {
            name.clone()
        } else {
            format!("{prefix}/{name}")
        };
        let p = e.path();
        if p.is_dir() {
            walk(&p, &rel, out);
        } else {
            let bytes = std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            out.insert(rel, Arc::new(bytes));
        }
    }
}

fn subdirs(dir: &Path) -> Vec<String> {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut v: Vec<String> = rd
        .filter_map(Result::ok)
        .filter(|e| e.path().is_dir())
        .map(|e| e.file_name().to_string_lossy().to_string())
        .collect();
    v.sort();
    v
}

impl MemSource {
    /// Every `rs-` repo of the mirror (plus every kernel repo, the diffusers community mirror and
    /// `damo/rs-trusted`).
    fn mirror() -> MemSource {
        let root = fixture("hub");
        let mut src = MemSource::default();
        let layouts: [(&str, HubKind, RepoType, usize); 7] = [
            (
                "huggingface/models",
                HubKind::Huggingface,
                RepoType::Model,
                2,
            ),
            (
                "huggingface/datasets",
                HubKind::Huggingface,
                RepoType::Dataset,
                2,
            ),
            ("modelscope/models", HubKind::Modelscope, RepoType::Model, 2),
            ("opencsg/models", HubKind::Opencsg, RepoType::Model, 2),
            ("github", HubKind::Github, RepoType::Github, 2),
            ("paddlehub/modules", HubKind::Paddlehub, RepoType::Module, 1),
            (
                "huggingface/kernels",
                HubKind::Huggingface,
                RepoType::Kernel,
                2,
            ),
        ];
        for (base, hub, rt, depth) in layouts {
            let base = root.join(base);
            for owner in subdirs(&base) {
                let names = if depth == 2 {
                    subdirs(&base.join(&owner))
                        .into_iter()
                        .map(|n| format!("{owner}/{n}"))
                        .collect()
                } else {
                    vec![owner.clone()]
                };
                for id in names {
                    let ours = id.starts_with("rs-")
                        || id.contains("/rs-")
                        || id.starts_with("rs_")
                        || id == "diffusers/community-pipelines-mirror"
                        // chain_fixtures.py's config-chain repos (SpanMarker's family call).
                        || id.starts_with("cfg-chain/")
                        || rt == RepoType::Kernel;
                    if !ours {
                        continue;
                    }
                    let dir = base.join(&id);
                    let mut repo = Repo::default();
                    if hub == HubKind::Paddlehub {
                        for version in subdirs(&dir) {
                            let mut tree = BTreeMap::new();
                            walk(&dir.join(&version), "", &mut tree);
                            repo.refs
                                .insert(version.clone(), format!("{version}+sha256:00"));
                            repo.trees.insert(format!("{version}+sha256:00"), tree);
                        }
                    } else {
                        let refs = std::fs::read_to_string(dir.join("refs.json"))
                            .unwrap_or_else(|e| panic!("{id}: {e}"));
                        repo.refs = serde_json::from_str(&refs).unwrap_or_else(|e| panic!("{e}"));
                        for commit in subdirs(&dir) {
                            let mut tree = BTreeMap::new();
                            walk(&dir.join(&commit), "", &mut tree);
                            repo.trees.insert(commit, tree);
                        }
                    }
                    src.repos.insert((hub, rt, id), repo);
                }
            }
        }
        src
    }

    fn add(&mut self, hub: HubKind, rt: RepoType, id: &str, commit: &str, files: &[(&str, &str)]) {
        let mut repo = Repo::default();
        repo.refs.insert("main".into(), commit.into());
        repo.trees.insert(
            commit.into(),
            files
                .iter()
                .map(|(p, c)| (p.to_string(), Arc::new(c.as_bytes().to_vec())))
                .collect(),
        );
        self.repos.insert((hub, rt, id.to_string()), repo);
    }

    fn snapshot_count(&self) -> HashMap<String, usize> {
        self.snapshot_calls.lock().unwrap().clone()
    }

    fn read_count(&self) -> HashMap<String, usize> {
        self.read_calls.lock().unwrap().clone()
    }
}

impl RepoSource for MemSource {
    async fn snapshot(
        &self,
        hub: HubKind,
        repo_type: RepoType,
        repo_id: &str,
        revision: Option<&str>,
    ) -> Result<Arc<Snapshot>, HubError> {
        *self
            .snapshot_calls
            .lock()
            .unwrap()
            .entry(format!("{hub}:{repo_id}@{revision:?}"))
            .or_default() += 1;
        if let Some(e) = self.fail.get(repo_id) {
            return Err(e.clone());
        }
        let repo = self
            .repos
            .get(&(hub, repo_type, repo_id.to_string()))
            .ok_or_else(|| HubError::NotFound(format!("{hub} {repo_type} {repo_id}")))?;
        let wanted = match (revision, hub) {
            (Some(r), _) => r.to_string(),
            (None, HubKind::Modelscope) => "master".into(),
            (None, HubKind::Github) if !repo.refs.contains_key("main") => "master".into(),
            (None, HubKind::Paddlehub) => repo.refs.keys().last().cloned().unwrap_or_default(),
            (None, _) => "main".into(),
        };
        let commit = if repo.trees.contains_key(&wanted) {
            wanted.clone()
        } else {
            repo.refs
                .get(&wanted)
                .cloned()
                .ok_or_else(|| HubError::NotFound(format!("{repo_id} revision {wanted}")))?
        };
        let files = repo
            .trees
            .get(&commit)
            .map(|t| t.keys().cloned().collect())
            .unwrap_or_default();
        Ok(Arc::new(Snapshot {
            hub,
            repo_type,
            repo_id: repo_id.to_string(),
            requested: revision.map(str::to_string),
            resolved_ref: wanted,
            commit,
            files,
        }))
    }

    async fn read(&self, snap: &Snapshot, path: &str) -> Result<Arc<Vec<u8>>, HubError> {
        *self
            .read_calls
            .lock()
            .unwrap()
            .entry(format!("{}@{}:{path}", snap.repo_id, snap.commit))
            .or_default() += 1;
        self.repos
            .get(&(snap.hub, snap.repo_type, snap.repo_id.clone()))
            .and_then(|r| r.trees.get(&snap.commit))
            .and_then(|t| t.get(path))
            .cloned()
            .ok_or_else(|| HubError::NotFound(format!("{}:{path}", snap.repo_id)))
    }

    async fn read_pickle(&self, snap: &Snapshot, path: &str) -> Result<Arc<Vec<u8>>, HubError> {
        self.read(snap, path).await
    }

    fn stats(&self) -> FetchStats {
        FetchStats::default()
    }
}

fn site(platform: Platform, api: &str, repo: Option<&str>, gate: &str) -> LoadSite {
    LoadSite {
        path: "app.py".into(),
        line: 1,
        column: 1,
        cell: None,
        end_line: 1,
        platform,
        family: Family::of_api(api),
        api: api.into(),
        repo_id: repo.map(str::to_string),
        repo_type: RepoType::Model,
        revision: None,
        pinned: false,
        gate: gate.into(),
        resolution: "literal".into(),
        args: BTreeMap::new(),
        source_line: String::new(),
        suppress: None,
    }
}

fn hf(api: &str, repo: &str, gate: &str) -> LoadSite {
    site(Platform::Huggingface, api, Some(repo), gate)
}

fn with(mut s: LoadSite, k: &str, v: &str) -> LoadSite {
    s.args.insert(k.into(), v.into());
    s
}

fn rev(mut s: LoadSite, r: &str) -> LoadSite {
    s.revision = Some(r.into());
    s.pinned = r.len() == 40;
    s
}

async fn one_with(src: &MemSource, s: LoadSite, opts: &ResolveOptions) -> Target {
    let mut v = resolve_all(src, &[s], opts).await;
    assert_eq!(v.len(), 1);
    v.remove(0)
}

async fn one(s: LoadSite) -> Target {
    one_with(&MemSource::mirror(), s, &ResolveOptions::default()).await
}

/// The listed files as `path` (same repo as the target) or `repo:path`.
fn files(t: &Target) -> Vec<String> {
    let mut v: Vec<String> = t
        .files
        .iter()
        .map(|f| {
            if Some(&f.repo_id) == t.repo_id.as_ref() {
                f.path.clone()
            } else {
                format!("{}:{}", f.repo_id, f.path)
            }
        })
        .collect();
    v.sort();
    v
}

fn has_note(t: &Target, needle: &str) -> bool {
    t.notes.iter().any(|n| n.contains(needle))
}

fn ref_of(src: &MemSource, hub: HubKind, rt: RepoType, id: &str, r: &str) -> String {
    src.repos[&(hub, rt, id.to_string())].refs[r].clone()
}

#[tokio::test]
async fn auto_model_follows_auto_map_and_transformers_import_quirks() {
    let src = MemSource::mirror();
    let t = one_with(
        &src,
        hf(
            "transformers.AutoModelForCausalLM.from_pretrained",
            "rs-acme/chat",
            "true",
        ),
        &ResolveOptions::default(),
    )
    .await;
    assert_eq!(t.status, TargetStatus::Resolved, "{t:?}");
    assert_eq!(
        t.commit.as_deref(),
        Some(
            ref_of(
                &src,
                HubKind::Huggingface,
                RepoType::Model,
                "rs-acme/chat",
                "main"
            )
            .as_str()
        )
    );
    // `from .layers.attn import` is the file `layers.attn.py`, not `layers/attn.py`;
    // `from . import helpers` is not followed; the docstring line is matched.
    assert_eq!(
        files(&t),
        vec![
            "configuration_chat.py",
            "custom_generate/gen_utils.py",
            "custom_generate/generate.py",
            "deep.py",
            "docmod.py",
            "layers.attn.py",
            "modeling_chat.py",
        ]
    );
    let modeling = t
        .files
        .iter()
        .find(|f| f.path == "modeling_chat.py")
        .unwrap();
    assert_eq!(modeling.why, "auto_map AutoModelForCausalLM (config.json)");
    assert_eq!(modeling.bytes as usize, modeling.content.len());
    assert_eq!(modeling.sha256.len(), 64);
    assert!(!t.pickle_weights && !t.refused_remote_code && !t.cross_repo_unpinned);
}

#[tokio::test]
async fn auto_tokenizer_prefers_fast_and_use_fast_false_takes_slow() {
    let t = one(hf(
        "transformers.AutoTokenizer.from_pretrained",
        "rs-acme/chat",
        "true",
    ))
    .await;
    assert_eq!(
        files(&t),
        vec!["configuration_chat.py", "tokenization_chat_fast.py"]
    );
    let slow = one(with(
        hf(
            "transformers.AutoTokenizer.from_pretrained",
            "rs-acme/chat",
            "true",
        ),
        "use_fast",
        "False",
    ))
    .await;
    // transformers 5 ignores use_fast, 4 honours it; undeclared: either runs.
    assert_eq!(
        files(&slow),
        vec![
            "configuration_chat.py",
            "tokenization_chat.py",
            "tokenization_chat_fast.py"
        ]
    );
    let slow_call = with(
        hf(
            "transformers.AutoTokenizer.from_pretrained",
            "rs-acme/chat",
            "true",
        ),
        "use_fast",
        "False",
    );
    let src = MemSource::mirror();
    let v4 = one_with(&src, slow_call.clone(), &assume(&["transformers<5"])).await;
    assert_eq!(
        files(&v4),
        vec!["configuration_chat.py", "tokenization_chat.py"]
    );
    let v5 = one_with(&src, slow_call, &assume(&["transformers>=5"])).await;
    assert_eq!(
        files(&v5),
        vec!["configuration_chat.py", "tokenization_chat_fast.py"]
    );
    // The api may not name the class: args["auto_class"] does.
    let by_arg = one(with(
        hf("transformers.from_pretrained", "rs-acme/chat", "true"),
        "auto_class",
        "AutoConfig",
    ))
    .await;
    assert_eq!(files(&by_arg), vec!["configuration_chat.py"]);
}

#[tokio::test]
async fn cross_repo_code_comes_from_the_default_branch_even_when_pinned() {
    let src = MemSource::mirror();
    let pinned = ref_of(
        &src,
        HubKind::Huggingface,
        RepoType::Model,
        "rs-acme/xref",
        "main",
    );
    let main = ref_of(
        &src,
        HubKind::Huggingface,
        RepoType::Model,
        "rs-acme/codebase",
        "main",
    );
    let v2 = ref_of(
        &src,
        HubKind::Huggingface,
        RepoType::Model,
        "rs-acme/codebase",
        "v2",
    );
    let s = rev(
        hf(
            "transformers.AutoModel.from_pretrained",
            "rs-acme/xref",
            "true",
        ),
        &pinned,
    );
    let t = one_with(&src, s.clone(), &ResolveOptions::default()).await;
    assert_eq!(t.commit.as_deref(), Some(pinned.as_str()));
    let code = t.files.iter().find(|f| f.path == "modeling_x.py").unwrap();
    assert_eq!(
        (code.repo_id.as_str(), code.commit.as_str()),
        ("rs-acme/codebase", main.as_str())
    );
    assert!(t.cross_repo_unpinned);
    assert!(
        has_note(&t, "default branch even though revision="),
        "{:?}",
        t.notes
    );

    let t = one_with(
        &src,
        with(s, "code_revision", "v2"),
        &ResolveOptions::default(),
    )
    .await;
    let code = t.files.iter().find(|f| f.path == "modeling_x.py").unwrap();
    assert_eq!(code.commit, v2);
    assert!(!t.cross_repo_unpinned);
}

#[tokio::test]
async fn pickle_weights_are_listed_when_there_is_no_safetensors() {
    let t = one(hf(
        "transformers.AutoModel.from_pretrained",
        "rs-acme/xref",
        "true",
    ))
    .await;
    assert!(t.pickle_weights);
    let p = t
        .files
        .iter()
        .find(|f| f.path == "pytorch_model.bin")
        .unwrap();
    assert_eq!(p.kind, FileKind::Pickle);
    assert_eq!(p.content.as_slice(), b"\x80\x02}.");
    // A repo with safetensors lists no pickle; AutoConfig never loads weights.
    let chat = one(hf(
        "transformers.AutoModel.from_pretrained",
        "rs-acme/chat",
        "true",
    ))
    .await;
    assert!(!chat.pickle_weights);
    let cfg = one(hf(
        "transformers.AutoConfig.from_pretrained",
        "rs-acme/xref",
        "true",
    ))
    .await;
    assert!(!cfg.pickle_weights && cfg.files.is_empty());
}

#[tokio::test]
async fn adapter_config_redirects_code_to_the_base_model() {
    let t = one(hf(
        "transformers.AutoModelForCausalLM.from_pretrained",
        "rs-acme/adapter",
        "true",
    ))
    .await;
    assert_eq!(t.repo_id.as_deref(), Some("rs-acme/adapter"));
    assert!(
        files(&t).contains(&"rs-acme/chat:modeling_chat.py".to_string()),
        "{:?}",
        files(&t)
    );
    assert!(t.files.iter().all(|f| f.repo_id == "rs-acme/chat"));
    assert!(has_note(&t, "redirects to base model rs-acme/chat"));
    // peft's own loader does the same.
    let p = one(hf(
        "peft.AutoPeftModelForCausalLM.from_pretrained",
        "rs-acme/adapter",
        "true",
    ))
    .await;
    assert!(files(&p).contains(&"rs-acme/chat:modeling_chat.py".to_string()));
}

#[tokio::test]
async fn auto_processor_reads_config_files_in_transformers_order() {
    // processor_config.json has processor_class: the walk stops there.
    let t = one(hf(
        "transformers.AutoProcessor.from_pretrained",
        "rs-acme/vision",
        "true",
    ))
    .await;
    let f = files(&t);
    assert!(f.contains(&"processing_vis.py".to_string()), "{f:?}");
    assert!(!f.contains(&"processing_other.py".to_string()), "{f:?}");
    // The image processor pair is loaded too, fast preferred.
    assert!(
        f.contains(&"image_processing_vis_fast.py".to_string()),
        "{f:?}"
    );
    // No processor_class before tokenizer_config.json, whose auto_map overrides.
    let t2 = one(hf(
        "transformers.AutoProcessor.from_pretrained",
        "rs-acme/vision2",
        "true",
    ))
    .await;
    assert_eq!(files(&t2), vec!["processing_tok.py"]);
}

#[tokio::test]
async fn pipeline_loads_the_custom_pipeline_impl() {
    let t = one(with(
        hf("transformers.pipeline", "rs-acme/pipe", "true"),
        "task",
        "rs-task",
    ))
    .await;
    assert_eq!(files(&t), vec!["modeling_pipe.py", "pipe_impl.py"]);
    let w = t.files.iter().find(|f| f.path == "pipe_impl.py").unwrap();
    assert_eq!(w.why, "custom_pipelines[rs-task].impl");
    // With no task, the single custom task is used.
    let t = one(hf("transformers.pipeline", "rs-acme/pipe", "true")).await;
    assert_eq!(files(&t), vec!["modeling_pipe.py", "pipe_impl.py"]);
}

#[tokio::test]
async fn gate_false_flags_refused_code_without_fetching_it() {
    let src = MemSource::mirror();
    let t = one_with(
        &src,
        hf(
            "transformers.AutoModelForCausalLM.from_pretrained",
            "rs-acme/chat",
            "false",
        ),
        &ResolveOptions::default(),
    )
    .await;
    assert_eq!(t.status, TargetStatus::NoRemoteCode);
    assert!(t.refused_remote_code);
    assert!(t.files.is_empty());
    assert!(
        has_note(&t, "modeling_chat.ChatForCausalLM"),
        "{:?}",
        t.notes
    );
    assert!(
        !src.read_count().keys().any(|k| k.ends_with(".py")),
        "{:?}",
        src.read_count()
    );
}

#[tokio::test]
async fn gate_absent_is_refused_in_ci_but_still_fetched() {
    let t = one(hf(
        "transformers.AutoModelForCausalLM.from_pretrained",
        "rs-acme/chat",
        "absent",
    ))
    .await;
    assert!(t.refused_remote_code);
    assert_eq!(t.status, TargetStatus::Resolved);
    assert!(files(&t).contains(&"modeling_chat.py".to_string()));
    assert!(has_note(&t, "no TTY"));
    // A repo without remote code is not flagged.
    let plain = one(hf(
        "transformers.AutoModel.from_pretrained",
        "rs-acme/vision2",
        "absent",
    ))
    .await;
    assert!(!plain.refused_remote_code);
    assert_eq!(plain.status, TargetStatus::NoRemoteCode);
}

#[tokio::test]
async fn datasets_script_and_its_direct_relative_imports() {
    let mut s = site(
        Platform::Huggingface,
        "datasets.load_dataset",
        Some("rs-data/squadish"),
        "true",
    );
    s.repo_type = RepoType::Dataset;
    let t = one(s.clone()).await;
    assert_eq!(t.repo_type, RepoType::Dataset);
    // Non-recursive (not second_level.py); `.a.b` is `a.py`; docstring lines,
    // indented lines and `from . import` are skipped.
    assert_eq!(files(&t), vec!["a.py", "squadish.py", "utils.py"]);
    // datasets 4 rejects scripts.
    let v4 = ResolveOptions {
        declared: std::sync::Arc::new(hubwarden::deps::Declared::assumed_only(&[
            "datasets==4.0.0".parse().unwrap(),
        ])),
        ..ResolveOptions::default()
    };
    let t4 = one_with(&MemSource::mirror(), s.clone(), &v4).await;
    assert!(t4.files.is_empty() && t4.refused_remote_code);
    // No script: nothing runs.
    s.repo_id = Some("rs-data/plain".into());
    assert_eq!(one(s.clone()).await.status, TargetStatus::NoRemoteCode);
    // A packaged builder is installed code, never a hub lookup.
    s.repo_id = Some("csv".into());
    let csv = one(s).await;
    assert_eq!(csv.status, TargetStatus::NoRemoteCode);
    assert!(has_note(&csv, "packaged builder"));
}

#[tokio::test]
async fn diffusers_community_pipeline_runs_without_the_flag() {
    let src = MemSource::mirror();
    let s = with(
        hf(
            "diffusers.DiffusionPipeline.from_pretrained",
            "rs-diff/sd",
            "absent",
        ),
        "custom_pipeline",
        "lpw_stable_diffusion",
    );
    let t = one_with(&src, s.clone(), &ResolveOptions::default()).await;
    let mirror = "diffusers/community-pipelines-mirror";
    let f = files(&t);
    assert!(
        f.contains(&format!("{mirror}:main/lpw_stable_diffusion.py")),
        "{f:?}"
    );
    assert!(f.contains(&format!("{mirror}:main/lpw_utils.py")), "{f:?}");
    // The custom unet component needs the flag: refused, not fetched.
    assert!(t.refused_remote_code);
    assert!(!f.iter().any(|p| p.contains("my_unet")));
    // custom_revision "X.Y.Z" names the mirror folder vX.Y.Z.
    let t = one_with(
        &src,
        with(s, "custom_revision", "0.30.0"),
        &ResolveOptions::default(),
    )
    .await;
    assert!(files(&t).contains(&format!("{mirror}:v0.30.0/lpw_stable_diffusion.py")));
}

#[tokio::test]
async fn diffusers_hub_pipeline_and_components_with_trust() {
    let s = hf(
        "diffusers.DiffusionPipeline.from_pretrained",
        "rs-diff/sd",
        "true",
    );
    let t = one(s.clone()).await;
    assert_eq!(files(&t), vec!["unet/my_unet.py"]);
    let t = one(with(s, "custom_pipeline", "rs-diff/custom")).await;
    assert!(files(&t).contains(&"rs-diff/custom:pipeline.py".to_string()));
}

#[tokio::test]
async fn sentence_transformers_modules_json_and_auto_map() {
    let s = hf(
        "sentence_transformers.SentenceTransformer",
        "rs-st/embed",
        "true",
    );
    let t = one(s.clone()).await;
    assert_eq!(files(&t), vec!["custom_pool.py", "modeling_embed.py"]);
    let refused = one(hf(
        "sentence_transformers.SentenceTransformer",
        "rs-st/embed",
        "absent",
    ))
    .await;
    assert!(refused.refused_remote_code && refused.files.is_empty());
}

#[tokio::test]
async fn torch_hub_hubconf_and_its_transitive_local_imports() {
    let mut s = site(
        Platform::PytorchHub,
        "torch.hub.load",
        Some("rs-vision/yolo"),
        "true",
    );
    s.repo_type = RepoType::Github;
    let src = MemSource::mirror();
    let t = one_with(&src, s.clone(), &ResolveOptions::default()).await;
    assert_eq!(t.hub, HubKind::Github);
    // No main branch: master.
    assert_eq!(
        t.commit.as_deref(),
        Some(
            ref_of(
                &src,
                HubKind::Github,
                RepoType::Github,
                "rs-vision/yolo",
                "master"
            )
            .as_str()
        )
    );
    assert_eq!(
        files(&t),
        vec![
            "hubconf.py",
            "models/__init__.py",
            "models/common.py",
            "models/yolo.py",
            "utils/__init__.py",
            "utils/downloads.py",
            "utils/general.py",
            "utils/metrics.py",
        ]
    );
    // A `:ref` suffix that does not exist fails closed.
    s.repo_id = Some("rs-vision/yolo:nope".into());
    let bad = one_with(&src, s, &ResolveOptions::default()).await;
    assert_eq!(bad.status, TargetStatus::Unverified);
}

#[tokio::test]
async fn modelscope_allow_remote_runs_every_py_and_requirements() {
    let s = site(
        Platform::Modelscope,
        "modelscope.pipeline",
        Some("rs-ms/remote"),
        "true",
    );
    let t = one(s.clone()).await;
    assert_eq!(t.hub, HubKind::Modelscope);
    assert_eq!(
        files(&t),
        vec![
            "extra_requirements.in",
            "model.py",
            "pkg/__init__.py",
            "pkg/sub.py",
            "requirements.txt"
        ]
    );
    let req = t
        .files
        .iter()
        .find(|f| f.path == "requirements.txt")
        .unwrap();
    assert_eq!(req.kind, FileKind::Requirements);
    assert!(has_note(&t, "rs-plugin"));
    let mut absent = s;
    absent.gate = "absent".into();
    // modelscope >=1.40.1 refuses allow_remote without trust; up to 1.28.0
    // allow_remote alone ran it, so with no declared version it may run.
    let src = MemSource::mirror();
    let r = one_with(&src, absent.clone(), &assume(&["modelscope==1.40.2"])).await;
    assert!(r.refused_remote_code && r.files.is_empty());
    let r = one(absent).await;
    assert!(!r.files.is_empty() && has_note(&r, "depends on the installed version"));
}

#[tokio::test]
async fn modelscope_damo_and_iic_are_auto_trusted() {
    let t = one(site(
        Platform::Modelscope,
        "modelscope.Model.from_pretrained",
        Some("damo/rs-trusted"),
        "absent",
    ))
    .await;
    assert_eq!(files(&t), vec!["model.py"]);
    assert!(!t.refused_remote_code);
    assert!(has_note(&t, "trusted by ModelScope"));
}

#[tokio::test]
async fn modelscope_hf_wrapper_reads_master_by_default() {
    let src = MemSource::mirror();
    let s = site(
        Platform::Modelscope,
        "modelscope.AutoModelForCausalLM.from_pretrained",
        Some("rs-ms/hfstyle"),
        "true",
    );
    let master = ref_of(
        &src,
        HubKind::Modelscope,
        RepoType::Model,
        "rs-ms/hfstyle",
        "master",
    );
    let t = one_with(&src, rev(s.clone(), "main"), &ResolveOptions::default()).await;
    assert_eq!(t.commit.as_deref(), Some(master.as_str()));
    assert_eq!(files(&t), vec!["modeling_ms.py"]);
    let t = one_with(&src, s, &ResolveOptions::default()).await;
    assert_eq!(t.commit.as_deref(), Some(master.as_str()));
}

#[tokio::test]
async fn opencsg_always_reads_main() {
    let src = MemSource::mirror();
    let s = rev(
        site(
            Platform::Opencsg,
            "pycsghub.repo_reader.AutoModelForCausalLM.from_pretrained",
            Some("rs-csg/chat"),
            "true",
        ),
        "v1",
    );
    let t = one_with(&src, s, &ResolveOptions::default()).await;
    assert_eq!(t.hub, HubKind::Opencsg);
    assert_eq!(
        t.commit.as_deref(),
        Some(
            ref_of(
                &src,
                HubKind::Opencsg,
                RepoType::Model,
                "rs-csg/chat",
                "main"
            )
            .as_str()
        )
    );
    assert_eq!(files(&t), vec!["modeling_main.py"]);
    assert!(has_note(&t, "revision=v1"));
}

#[tokio::test]
async fn paddlehub_module_files_imports_and_requirements() {
    let mut s = site(
        Platform::Paddlehub,
        "paddlehub.Module",
        Some("rs_lac"),
        "absent",
    );
    s.repo_type = RepoType::Module;
    let t = one(s).await;
    assert_eq!(t.hub, HubKind::Paddlehub);
    assert_eq!(t.commit.as_deref(), Some("1.0.0+sha256:00"));
    assert_eq!(
        files(&t),
        vec![
            "rs_lac/__init__.py",
            "rs_lac/module.py",
            "rs_lac/net.py",
            "rs_lac/processor.py",
            "rs_lac/requirements.txt",
        ]
    );
}

#[tokio::test]
async fn unresolvable_ids_and_hub_errors_are_unverified() {
    let t = one(site(
        Platform::Huggingface,
        "transformers.AutoModel.from_pretrained",
        None,
        "true",
    ))
    .await;
    assert_eq!(t.status, TargetStatus::Unverified);
    assert_eq!(
        t.reason.as_deref(),
        Some("model id could not be resolved statically")
    );

    let mut src = MemSource::mirror();
    src.fail.insert(
        "rs-acme/chat".into(),
        HubError::Gated("rs-acme/chat".into()),
    );
    let calls = vec![
        hf(
            "transformers.AutoModel.from_pretrained",
            "rs-acme/chat",
            "true",
        ),
        hf(
            "transformers.AutoModel.from_pretrained",
            "rs-acme/missing",
            "true",
        ),
        hf(
            "transformers.AutoModel.from_pretrained",
            "../etc/passwd",
            "true",
        ),
    ];
    let out = resolve_all(&src, &calls, &ResolveOptions::default()).await;
    assert_eq!(out.len(), 3);
    assert!(out.iter().all(|t| t.status == TargetStatus::Unverified));
    assert_eq!(
        out[0].reason.as_deref(),
        Some(HubError::Gated("rs-acme/chat".into()).to_string().as_str())
    );
    assert!(out[1].reason.as_deref().unwrap().starts_with("not found"));
    assert!(
        out[2]
            .reason
            .as_deref()
            .unwrap()
            .starts_with("invalid repository id")
    );
    // A cross-repo failure is unverified too, not clean.
    src.fail
        .insert("rs-acme/codebase".into(), HubError::Network("reset".into()));
    let t = one_with(
        &src,
        hf(
            "transformers.AutoModel.from_pretrained",
            "rs-acme/xref",
            "true",
        ),
        &ResolveOptions::default(),
    )
    .await;
    assert_eq!(t.status, TargetStatus::Unverified);
}

#[tokio::test]
async fn import_depth_cap_is_an_unverified_reason() {
    let opts = ResolveOptions {
        max_import_depth: 1,
        ..ResolveOptions::default()
    };
    let t = one_with(
        &MemSource::mirror(),
        hf(
            "transformers.AutoModelForCausalLM.from_pretrained",
            "rs-acme/chat",
            "true",
        ),
        &opts,
    )
    .await;
    assert_eq!(t.status, TargetStatus::Unverified);
    assert!(t.reason.as_deref().unwrap().starts_with("cap exceeded"));
}

#[tokio::test]
async fn download_only_calls_list_pickles_but_run_nothing() {
    let t = one(hf(
        "huggingface_hub.snapshot_download",
        "rs-acme/xref",
        "absent",
    ))
    .await;
    assert_eq!(t.status, TargetStatus::NoRemoteCode);
    assert!(t.pickle_weights);
    assert_eq!(files(&t), vec!["pytorch_model.bin"]);
}

#[tokio::test]
async fn snapshot_of_takes_code_from_the_snapshot_repo() {
    let s = with(
        site(
            Platform::Huggingface,
            "transformers.AutoModelForCausalLM.from_pretrained",
            Some("rs-acme/chat"),
            "true",
        ),
        "snapshot_of",
        "huggingface_hub.snapshot_download",
    );
    let t = one(s).await;
    assert!(
        t.notes.iter().any(|n| n.contains("local snapshot")),
        "{:?}",
        t.notes
    );
    assert_eq!(t.repo_id.as_deref(), Some("rs-acme/chat"));
    assert!(files(&t).contains(&"modeling_chat.py".to_string()));
}

#[tokio::test]
async fn two_hundred_calls_over_fifty_repos_resolve_each_repo_once() {
    let mut src = MemSource::default();
    for i in 0..50 {
        src.add(
            HubKind::Huggingface,
            RepoType::Model,
            &format!("rs-many/m{i}"),
            &format!("{i:040x}"),
            &[
                ("config.json", r#"{"auto_map": {"AutoConfig": "configuration_m.C", "AutoModelForCausalLM": "modeling_m.M"}}"#),
                ("tokenizer_config.json", r#"{"auto_map": {"AutoTokenizer": ["tokenization_m.T", null]}}"#),
                ("configuration_m.py", "class C: pass\n"),
                ("modeling_m.py", "from .shared import x\nclass M: pass\n"),
                ("shared.py", "x = 1\n"),
                ("tokenization_m.py", "class T: pass\n"),
                ("model.safetensors", ""),
            ],
        );
    }
    let mut calls = Vec::new();
    for i in 0..50 {
        let id = format!("rs-many/m{i}");
        calls.push(hf(
            "transformers.AutoModelForCausalLM.from_pretrained",
            &id,
            "true",
        ));
        calls.push(hf("transformers.AutoConfig.from_pretrained", &id, "true"));
        calls.push(hf(
            "transformers.AutoModelForCausalLM.from_pretrained",
            &id,
            "true",
        ));
        calls.push(hf(
            "transformers.AutoTokenizer.from_pretrained",
            &id,
            "true",
        ));
    }
    let out = resolve_all(&src, &calls, &ResolveOptions::default()).await;
    assert_eq!(out.len(), 200);
    for (i, t) in out.iter().enumerate() {
        assert_eq!(
            t.repo_id.as_deref(),
            Some(format!("rs-many/m{}", i / 4).as_str())
        );
        assert_eq!(t.status, TargetStatus::Resolved);
    }
    assert_eq!(
        files(&out[0]),
        vec!["configuration_m.py", "modeling_m.py", "shared.py"]
    );
    assert_eq!(
        files(&out[3]),
        vec!["configuration_m.py", "tokenization_m.py"]
    );
    let snaps = src.snapshot_count();
    assert_eq!(snaps.len(), 50);
    assert!(snaps.values().all(|n| *n == 1), "{snaps:?}");
    let reads = src.read_count();
    // config, tokenizer_config and four code files per repo, each read once.
    assert_eq!(reads.len(), 50 * 6, "{reads:?}");
    assert!(reads.values().all(|n| *n == 1), "{reads:?}");
}

#[tokio::test]
async fn files_cap_is_an_unverified_reason() {
    let opts = ResolveOptions {
        max_files_per_target: 2,
        ..ResolveOptions::default()
    };
    let t = one_with(
        &MemSource::mirror(),
        hf(
            "transformers.AutoModelForCausalLM.from_pretrained",
            "rs-acme/chat",
            "true",
        ),
        &opts,
    )
    .await;
    assert_eq!(t.status, TargetStatus::Unverified);
    assert!(t.reason.as_deref().unwrap().contains("more than 2 files"));
}

#[test]
fn resolve_all_is_send() {
    fn assert_send<T: Send>(_: &T) {}
    let src = MemSource::default();
    let calls: Vec<LoadSite> = Vec::new();
    let opts = ResolveOptions::default();
    let fut = resolve_all(&src, &calls, &opts);
    assert_send(&fut);
}

#[tokio::test]
async fn vllm_loads_config_tokenizer_and_processor_code_only_with_the_flag() {
    let t = one(site(
        Platform::Huggingface,
        "vllm.LLM",
        Some("rs-acme/chat"),
        "true",
    ))
    .await;
    assert_eq!(
        files(&t),
        vec!["configuration_chat.py", "tokenization_chat_fast.py"]
    );
    // vLLM defaults to trust_remote_code=False: refused, nothing fetched
    // (from 0.14, which honours the gate for auto_map code).
    let fixed = ResolveOptions {
        declared: Arc::new(hubwarden::deps::Declared::assumed_only(&["vllm==0.14.0"
            .parse()
            .unwrap()])),
        ..ResolveOptions::default()
    };
    let absent = site(
        Platform::Huggingface,
        "vllm.LLM",
        Some("rs-acme/chat"),
        "absent",
    );
    let t = one_with(&MemSource::mirror(), absent.clone(), &fixed).await;
    assert!(t.refused_remote_code && t.files.is_empty());
    // Undeclared vLLM: the worst case (before 0.14) imports the auto_map
    // config and model code with the gate off, as a chain of config.json.
    let t = one(absent).await;
    assert!(!t.refused_remote_code);
    assert_eq!(t.chain.len(), 2, "{:?}", t.chain);
    assert!(
        t.chain
            .iter()
            .all(|l| l.rule == "config-remote-code-without-gate")
    );
    assert!(
        files(&t).iter().any(|f| f == "modeling_chat.py"),
        "{:?}",
        files(&t)
    );
}

#[tokio::test]
async fn generate_custom_generate_repo() {
    let t = one(hf(
        "transformers.GenerationMixin.generate",
        "rs-acme/chat",
        "true",
    ))
    .await;
    assert_eq!(
        files(&t),
        vec![
            "custom_generate/gen_utils.py",
            "custom_generate/generate.py"
        ]
    );
}

#[tokio::test]
async fn transformers_4_tokenizer_falls_back_to_config_auto_map_and_backend_dicts() {
    let mut src = MemSource::default();
    src.add(
        HubKind::Huggingface,
        RepoType::Model,
        "rs-mem/tok4",
        &"4".repeat(40),
        &[
            ("config.json", r#"{"auto_map": {"AutoTokenizer": ["tok_cfg.T", null]}}"#),
            ("tokenizer_config.json", r#"{"model_max_length": 8}"#),
            (
                "preprocessor_config.json",
                r#"{"auto_map": {"AutoImageProcessor": {"pil": "ip_pil.P", "torchvision": "ip_tv.P"}}}"#,
            ),
            ("tok_cfg.py", ""),
            ("ip_pil.py", ""),
            ("ip_tv.py", ""),
        ],
    );
    let s = hf(
        "transformers.AutoTokenizer.from_pretrained",
        "rs-mem/tok4",
        "true",
    );
    let v5 = one_with(&src, s.clone(), &assume(&["transformers==5.25.0"])).await;
    assert_eq!(v5.status, TargetStatus::NoRemoteCode);
    let t = one_with(&src, s, &assume(&["transformers==4.57.1"])).await;
    assert_eq!(files(&t), vec!["tok_cfg.py"]);
    let ip = hf(
        "transformers.AutoImageProcessor.from_pretrained",
        "rs-mem/tok4",
        "true",
    );
    // torchvision may or may not be installed: either backend's module may run.
    let t = one_with(&src, ip.clone(), &ResolveOptions::default()).await;
    assert_eq!(files(&t), vec!["ip_pil.py", "ip_tv.py"]);
    let t = one_with(
        &src,
        with(ip, "use_fast", "true"),
        &ResolveOptions::default(),
    )
    .await;
    assert_eq!(files(&t), vec!["ip_tv.py"]);
}

fn assume(specs: &[&str]) -> ResolveOptions {
    let assumes: Vec<hubwarden::deps::Assume> = specs.iter().map(|s| s.parse().unwrap()).collect();
    ResolveOptions {
        declared: std::sync::Arc::new(hubwarden::deps::Declared::assumed_only(&assumes)),
        ..ResolveOptions::default()
    }
}

#[tokio::test]
async fn diffusers_class_name_module_wins_over_custom_pipeline() {
    let mut src = MemSource::mirror();
    src.add(
        HubKind::Huggingface,
        RepoType::Model,
        "rs-mem/own-pipe",
        &"d".repeat(40),
        &[
            (
                "model_index.json",
                r#"{"_class_name": ["my_pipe", "MyPipe"]}"#,
            ),
            ("my_pipe.py", "class MyPipe: pass\n"),
        ],
    );
    let s = with(
        hf(
            "diffusers.DiffusionPipeline.from_pretrained",
            "rs-mem/own-pipe",
            "true",
        ),
        "custom_pipeline",
        "lpw_stable_diffusion",
    );
    let t = one_with(&src, s, &ResolveOptions::default()).await;
    assert_eq!(files(&t), vec!["my_pipe.py"]);
    assert!(has_note(&t, "instead of custom_pipeline"));
}

/// Which weights a load unpickles (resolve::weights through the resolver): shards come
/// from the index's weight_map whatever they are called, an unrelated safetensors file
/// exempts nothing, `use_safetensors=False` and `variant` change the choice, and a
/// pickle over a walker cap leaves the target unverified.
#[tokio::test]
async fn pickle_weights_follow_the_loaders_file_rules() {
    const EVIL: &str = "cos\nsystem\n(S'true'\ntR.";
    let mut src = MemSource::default();
    let index = r#"{"metadata": {}, "weight_map": {"a": "blob-one.dat", "b": "nested/blob-two.weights", "c": "blob-one.dat"}}"#;
    src.add(
        HubKind::Huggingface,
        RepoType::Model,
        "rs-w/sharded",
        &"1".repeat(40),
        &[
            ("config.json", "{}"),
            ("pytorch_model.bin.index.json", index),
            ("blob-one.dat", EVIL),
            ("nested/blob-two.weights", EVIL),
            ("adapter/adapter_model.safetensors", ""),
            ("unrelated.safetensors", ""),
        ],
    );
    src.add(
        HubKind::Huggingface,
        RepoType::Model,
        "rs-w/both",
        &"2".repeat(40),
        &[
            ("config.json", "{}"),
            ("model.safetensors", ""),
            ("pytorch_model.bin", EVIL),
            ("pytorch_model.fp16.bin", EVIL),
        ],
    );
    let capped = format!("{}.", "(".repeat(150_000));
    src.add(
        HubKind::Huggingface,
        RepoType::Model,
        "rs-w/capped",
        &"3".repeat(40),
        &[("config.json", "{}"), ("pytorch_model.bin", &capped)],
    );
    let opts = ResolveOptions::default();
    let load = |repo: &str| hf("transformers.AutoModel.from_pretrained", repo, "false");

    let t = one_with(&src, load("rs-w/sharded"), &opts).await;
    assert_eq!(files(&t), ["blob-one.dat", "nested/blob-two.weights"]);
    assert!(t.pickle_weights && t.status == TargetStatus::Resolved);
    assert!(
        t.files[0]
            .why
            .contains("weight_map of pytorch_model.bin.index.json")
    );

    let t = one_with(&src, load("rs-w/both"), &opts).await;
    assert!(t.files.is_empty() && !t.pickle_weights, "{:?}", files(&t));
    let t = one_with(
        &src,
        with(load("rs-w/both"), "use_safetensors", "false"),
        &opts,
    )
    .await;
    assert_eq!(files(&t), ["pytorch_model.bin"]);
    let t = one_with(
        &src,
        with(
            with(load("rs-w/both"), "use_safetensors", "false"),
            "variant",
            "fp16",
        ),
        &opts,
    )
    .await;
    assert_eq!(files(&t), ["pytorch_model.fp16.bin"]);
    // A value that is not a literal: the pickles that `False` would load are scanned.
    let t = one_with(
        &src,
        with(load("rs-w/both"), "use_safetensors", "dynamic"),
        &opts,
    )
    .await;
    assert_eq!(files(&t), ["pytorch_model.bin"]);

    let t = one_with(&src, load("rs-w/capped"), &opts).await;
    assert_eq!(t.status, TargetStatus::Unverified);
    assert!(
        t.reason
            .as_deref()
            .is_some_and(|r| r.contains("nested MARKs")),
        "{:?}",
        t.reason
    );
}

// ------------------------------------------------------- one snapshot per family

/// The snapshot name of a family. Exhaustive on purpose: a new family does not
/// compile until it is named here and given a call in `family_calls`.
fn family_name(f: Family) -> &'static str {
    match f {
        Family::Transformers => "transformers",
        Family::TransformersPipeline => "transformers_pipeline",
        Family::CustomGenerate => "custom_generate",
        Family::Datasets => "datasets",
        Family::Diffusers => "diffusers",
        Family::SentenceTransformers => "sentence_transformers",
        Family::Peft => "peft",
        Family::Vllm => "vllm",
        Family::Modelscope => "modelscope",
        Family::MsDataset => "ms_dataset",
        Family::HubDownload => "hub_download",
        Family::TorchHub => "torch_hub",
        Family::PaddleHubconf => "paddle_hubconf",
        Family::PaddleModule => "paddle_module",
        Family::MmConfig => "mm_config",
        Family::Kernels => "kernels",
        Family::SpanMarker => "span_marker",
    }
}

/// One representative call per loader family, on the fixture repos.
fn family_calls() -> Vec<LoadSite> {
    let typed = |mut s: LoadSite, rt: RepoType| {
        s.repo_type = rt;
        s
    };
    vec![
        hf(
            "transformers.AutoModelForCausalLM.from_pretrained",
            "rs-acme/chat",
            "true",
        ),
        with(
            hf("transformers.pipeline", "rs-acme/pipe", "true"),
            "task",
            "rs-task",
        ),
        hf(
            "transformers.GenerationMixin.generate",
            "rs-acme/chat",
            "true",
        ),
        typed(
            hf("datasets.load_dataset", "rs-data/squadish", "true"),
            RepoType::Dataset,
        ),
        hf(
            "diffusers.DiffusionPipeline.from_pretrained",
            "rs-diff/sd",
            "true",
        ),
        hf(
            "sentence_transformers.SentenceTransformer",
            "rs-st/embed",
            "true",
        ),
        hf(
            "peft.AutoPeftModelForCausalLM.from_pretrained",
            "rs-acme/adapter",
            "true",
        ),
        hf("vllm.LLM", "rs-acme/chat", "true"),
        site(
            Platform::Modelscope,
            "modelscope.pipeline",
            Some("rs-ms/remote"),
            "true",
        ),
        typed(
            site(
                Platform::Modelscope,
                "modelscope.MsDataset.load",
                Some("rs-ms/data"),
                "true",
            ),
            RepoType::Dataset,
        ),
        hf(
            "huggingface_hub.snapshot_download",
            "rs-acme/xref",
            "absent",
        ),
        typed(
            site(
                Platform::PytorchHub,
                "torch.hub.load",
                Some("rs-vision/yolo"),
                "true",
            ),
            RepoType::Github,
        ),
        typed(
            rev(
                site(
                    Platform::Paddlehub,
                    "paddle.hub.load",
                    Some("rs-vision/yolo"),
                    "absent",
                ),
                "master",
            ),
            RepoType::Github,
        ),
        typed(
            site(
                Platform::Paddlehub,
                "paddlehub.Module",
                Some("rs_lac"),
                "absent",
            ),
            RepoType::Module,
        ),
        site(
            Platform::Openmmlab,
            "mmengine.Config.fromfile",
            Some("configs/x.py"),
            "absent",
        ),
        typed(
            hf(
                "kernels.get_kernel",
                "kernels-community/activation",
                "absent",
            ),
            RepoType::Kernel,
        ),
        hf(
            "span_marker.SpanMarkerModel.from_pretrained",
            "cfg-chain/spanmarker-tok",
            "true",
        ),
    ]
}

/// The whole `Target` (JSON, the `--format json` shape plus nothing hidden) of
/// one call per family: what each family's rules resolve, file by file.
#[tokio::test]
async fn one_target_snapshot_per_loader_family() {
    let calls = family_calls();
    let named: std::collections::BTreeSet<&str> =
        calls.iter().map(|s| family_name(s.family)).collect();
    assert_eq!(named.len(), calls.len(), "one call per family: {named:?}");
    let targets = resolve_all(&MemSource::mirror(), &calls, &ResolveOptions::default()).await;
    for (call, target) in calls.iter().zip(targets) {
        insta::assert_json_snapshot!(format!("family_{}", family_name(call.family)), target);
    }
}
