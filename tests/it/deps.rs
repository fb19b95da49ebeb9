//! Declared library versions (`src/deps/`): every input format, the nearest
//! declaration above a call, `--assume`, version-dependent decisions, and bad
//! input (a warning and an `errors` entry; the affected libraries fall back to
//! the worst case; nothing else is lost).

use std::path::Path;

use hubwarden::deps::rules::{self, Applies};
use hubwarden::deps::{Assume, Declared, Origin};

/// A project in a temp dir from `(path, content)` pairs.
fn project(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (path, content) in files {
        let p = dir.path().join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, content).unwrap();
    }
    dir
}

fn load(dir: &Path, calls: &[&str]) -> Declared {
    Declared::load(dir, calls.iter().copied(), &[])
}

/// (range, source) of `lib` for a call at `call`.
fn range_of(d: &Declared, call: &str, lib: &str) -> (String, Option<String>) {
    let k = d.versions(call).known(lib);
    (k.range_text(), k.source())
}

fn error_paths(d: &Declared) -> Vec<String> {
    d.errors().iter().map(|e| e.path.clone()).collect()
}

#[test]
fn requirements_with_includes_constraints_and_markers() {
    let dir = project(&[
        (
            "requirements.txt",
            "# main\n-r requirements/base.txt\n--constraint constraints.txt\ntransformers[torch] >=4.40 \\\n  ,<6  # why\ntorch==2.1.0 ; python_version < \"3.10\"\ntorch==2.5.1+cu121 ; python_version >= \"3.10\" --hash=sha256:00\n",
        ),
        ("requirements/base.txt", "peft>=0.10\ndatasets==2.19.0\n"),
        ("constraints.txt", "transformers<5.3\npeft<0.12\n"),
        ("app.py", ""),
    ]);
    let d = load(dir.path(), &["app.py"]);
    assert!(d.errors().is_empty(), "{:?}", d.errors());
    assert_eq!(
        range_of(&d, "app.py", "transformers"),
        (
            ">=4.40, <5.3".into(),
            Some("constraints.txt:1, requirements.txt:4".into())
        )
    );
    // requirements/base.txt can also be installed on its own, without the constraints.
    assert_eq!(range_of(&d, "app.py", "peft").0, ">=0.10");
    // Marker-guarded lines are alternatives: either may be installed.
    assert_eq!(
        range_of(&d, "app.py", "torch").0,
        "==2.1.0 || ==2.5.1+cu121"
    );
    // requirements/base.txt is also a file of its own (pip -r requirements/base.txt).
    assert_eq!(range_of(&d, "app.py", "datasets").0, "==2.19.0");
}

#[test]
fn the_nearest_declaration_above_the_call_decides() {
    let dir = project(&[
        ("requirements.txt", "transformers==4.57.0\ntorch>=2.4\n"),
        (
            "services/api/pyproject.toml",
            "[project]\nname='api'\ndependencies=['transformers>=5.3']\n",
        ),
        ("services/api/src/app.py", ""),
        ("tools/run.py", ""),
        ("top.py", ""),
    ]);
    let d = load(
        dir.path(),
        &["services/api/src/app.py", "tools/run.py", "top.py"],
    );
    assert_eq!(
        range_of(&d, "services/api/src/app.py", "transformers"),
        (">=5.3".into(), Some("services/api/pyproject.toml:3".into()))
    );
    // A library the nearer project does not name comes from further up.
    assert_eq!(range_of(&d, "services/api/src/app.py", "torch").0, ">=2.4");
    assert_eq!(range_of(&d, "tools/run.py", "transformers").0, "==4.57.0");
    assert_eq!(range_of(&d, "top.py", "transformers").0, "==4.57.0");
    let k = d.versions("top.py").known("vllm");
    assert_eq!(k.origin, Origin::Undeclared);
    assert!(k.set.is_any() && k.source().is_none());
}

#[test]
fn a_lock_wins_over_the_manifest_beside_it() {
    let dir = project(&[
        (
            "pyproject.toml",
            "[project]\nname='x'\ndependencies=['transformers>=4.40', 'torch']\n[dependency-groups]\ndev=['pytest', {include-group='lint'}]\nlint=['ruff']\n[tool.uv]\nconstraint-dependencies=['torch<2.7']\noverride-dependencies=['numpy==1.26.4']\n",
        ),
        (
            "uv.lock",
            "version = 1\n[[package]]\nname = \"transformers\"\nversion = \"5.4.0\"\nsource = { registry = \"https://pypi.org/simple\" }\n\n[[package]]\nname = \"x\"\nversion = \"0.1.0\"\nsource = { editable = \".\" }\n",
        ),
        ("a.py", ""),
    ]);
    let d = load(dir.path(), &["a.py"]);
    assert!(d.errors().is_empty(), "{:?}", d.errors());
    let k = d.versions("a.py").known("transformers");
    assert_eq!(k.range_text(), "==5.4.0");
    assert_eq!(k.origin, Origin::Locked(vec!["uv.lock:3".into()]));
    // Not in the lock: the manifest with its uv constraint.
    assert_eq!(range_of(&d, "a.py", "torch").0, "<2.7");
    assert_eq!(range_of(&d, "a.py", "numpy").0, "==1.26.4");
    assert_eq!(range_of(&d, "a.py", "ruff").0, "any");
}

#[test]
fn poetry_pdm_and_pipenv_projects() {
    let dir = project(&[
        (
            "poetry/pyproject.toml",
            "[tool.poetry]\nname='p'\n[tool.poetry.dependencies]\npython='^3.10'\ntransformers='^4.40'\ntorch={version='~2.5', optional=true}\nvllm=[{version='0.10.1', markers=\"sys_platform=='linux'\"}, {version='0.11.0', python='>=3.12'}]\npeft={git='https://github.com/huggingface/peft', tag='v0.13.0'}\n[tool.poetry.group.dev.dependencies]\ndatasets='>=2,<4'\n",
        ),
        ("poetry/m.py", ""),
        (
            "pdm/pyproject.toml",
            "[project]\nname='q'\ndependencies=['diffusers>=0.36']\n[tool.pdm.dev-dependencies]\ntest=['kernels>=0.10', '-e file:///${PROJECT_ROOT}/sub']\n",
        ),
        (
            "pdm/pdm.lock",
            "[metadata]\ngroups=['default']\n[[package]]\nname='Diffusers'\nversion='0.42.1'\n",
        ),
        ("pdm/m.py", ""),
        (
            "pipenv/Pipfile",
            "[packages]\ntransformers='==4.44.2'\ntorch='*'\nkernels={version='>=0.16'}\n[dev-packages]\npeft={git='https://x.invalid/peft.git'}\n",
        ),
        (
            "pipenv/Pipfile.lock",
            "{\n  \"_meta\": {},\n  \"default\": {\n    \"torch\": {\"version\": \"==2.6.0\"},\n    \"kernels\": {\"git\": \"https://x.invalid/k.git\"}\n  },\n  \"develop\": {}\n}\n",
        ),
        ("pipenv/m.py", ""),
        (
            "poetry2/pyproject.toml",
            "[tool.poetry.dependencies]\ntransformers='4.40.0'\n",
        ),
        (
            "poetry2/poetry.lock",
            "[[package]]\nname = \"transformers\"\nversion = \"4.40.0\"\n",
        ),
        ("poetry2/m.py", ""),
    ]);
    let calls = ["poetry/m.py", "pdm/m.py", "pipenv/m.py", "poetry2/m.py"];
    let d = load(dir.path(), &calls);
    assert!(d.errors().is_empty(), "{:?}", d.errors());
    assert_eq!(range_of(&d, "poetry/m.py", "transformers").0, ">=4.40, <5");
    assert_eq!(range_of(&d, "poetry/m.py", "torch").0, ">=2.5, <2.6");
    assert_eq!(
        range_of(&d, "poetry/m.py", "vllm").0,
        "==0.10.1 || ==0.11.0"
    );
    assert_eq!(range_of(&d, "poetry/m.py", "peft").0, "==0.13.0");
    assert_eq!(range_of(&d, "poetry/m.py", "datasets").0, ">=2, <4");
    assert_eq!(
        range_of(&d, "pdm/m.py", "diffusers"),
        ("==0.42.1".into(), Some("pdm/pdm.lock:4".into()))
    );
    assert_eq!(range_of(&d, "pdm/m.py", "kernels").0, ">=0.10");
    assert_eq!(
        range_of(&d, "pipenv/m.py", "torch"),
        ("==2.6.0".into(), Some("pipenv/Pipfile.lock:4".into()))
    );
    // A VCS entry in the lock has no version: any, and said so.
    let k = d.versions("pipenv/m.py").known("kernels");
    assert!(k.set.is_any() && !k.unknown_parts.is_empty(), "{k:?}");
    assert_eq!(range_of(&d, "pipenv/m.py", "transformers").0, "==4.44.2");
    assert_eq!(range_of(&d, "poetry2/m.py", "transformers").0, "==4.40.0");
}

#[test]
fn setuptools_and_conda_declarations() {
    let dir = project(&[
        (
            "cfg/setup.cfg",
            "[metadata]\nname = c\n[options]\npython_requires = >=3.9\ninstall_requires =\n    transformers>=4.50,<4.58\n    # a comment\n    torch>=2.2\n[options.extras_require]\nvllm = vllm==0.9.2\n",
        ),
        ("cfg/m.py", ""),
        (
            "py/setup.py",
            "from setuptools import setup\nREQS = [\n    'transformers==4.46.0',\n    \"datasets<3\",\n]\nsetup(name='x', install_requires=REQS, extras_require={'gpu': ['kernels>=0.9']})\n",
        ),
        ("py/m.py", ""),
        (
            "dyn/pyproject.toml",
            "[project]\nname='d'\ndynamic=['dependencies']\n[tool.setuptools.dynamic]\ndependencies={file=['reqs/main.txt']}\n",
        ),
        ("dyn/reqs/main.txt", "transformers==5.1.0\n"),
        ("dyn/m.py", ""),
        (
            "conda/environment.yml",
            "name: env\nchannels: [pytorch, conda-forge]\ndependencies:\n  - python=3.11\n  - pytorch=2.1.0=py3.11_cuda12.1_0\n  - conda-forge::transformers>=4.41,<4.45\n  - pip\n  - pip:\n    - kernels==0.10.0\n    - -r requirements-extra.txt\n",
        ),
        ("conda/requirements-extra.txt", "peft==0.11.1\n"),
        ("conda/m.py", ""),
    ]);
    let d = load(
        dir.path(),
        &["cfg/m.py", "py/m.py", "dyn/m.py", "conda/m.py"],
    );
    assert!(d.errors().is_empty(), "{:?}", d.errors());
    assert_eq!(
        range_of(&d, "cfg/m.py", "transformers"),
        (">=4.50, <4.58".into(), Some("cfg/setup.cfg:6".into()))
    );
    assert_eq!(range_of(&d, "cfg/m.py", "torch").0, ">=2.2");
    assert_eq!(range_of(&d, "cfg/m.py", "vllm").0, "==0.9.2");
    assert_eq!(
        range_of(&d, "py/m.py", "transformers"),
        ("==4.46.0".into(), Some("py/setup.py:3".into()))
    );
    assert_eq!(range_of(&d, "py/m.py", "datasets").0, "<3");
    assert_eq!(range_of(&d, "py/m.py", "kernels").0, ">=0.9");
    assert_eq!(
        range_of(&d, "dyn/m.py", "transformers"),
        ("==5.1.0".into(), Some("dyn/reqs/main.txt:1".into()))
    );
    assert_eq!(
        range_of(&d, "conda/m.py", "torch"),
        (
            ">=2.1.0.dev0, <2.1.1".into(),
            Some("conda/environment.yml:5".into())
        )
    );
    assert_eq!(
        range_of(&d, "conda/m.py", "transformers").0,
        ">=4.41, <4.45"
    );
    assert_eq!(range_of(&d, "conda/m.py", "kernels").0, "==0.10.0");
    assert_eq!(
        range_of(&d, "conda/m.py", "peft"),
        (
            "==0.11.1".into(),
            Some("conda/requirements-extra.txt:1".into())
        )
    );
}

#[test]
fn a_computed_install_requires_leaves_undeclared_libraries_unknown() {
    let dir = project(&[
        (
            "setup.py",
            "from setuptools import setup\nsetup(install_requires=open('requirements.txt').read().splitlines())\n",
        ),
        ("requirements.txt", "torch==2.4.0\n"),
        ("m.py", ""),
    ]);
    let d = load(dir.path(), &["m.py"]);
    assert_eq!(range_of(&d, "m.py", "torch").0, "==2.4.0");
    let k = d.versions("m.py").known("transformers");
    assert!(
        matches!(k.origin, Origin::Unreadable(ref w) if w.contains("setup.py:2")),
        "{k:?}"
    );
    assert_eq!(error_paths(&d), vec!["setup.py"]);
}

#[test]
fn assume_overrides_declarations() {
    let dir = project(&[("requirements.txt", "transformers==4.57.0\n"), ("m.py", "")]);
    let assumes: Vec<Assume> = ["transformers==5.4.0", "kernels=none", "Torch>=2.6"]
        .iter()
        .map(|s| s.parse().unwrap())
        .collect();
    let d = Declared::load(dir.path(), ["m.py"], &assumes);
    let v = d.versions("m.py");
    assert_eq!(v.known("transformers").range_text(), "==5.4.0");
    assert_eq!(
        v.known("transformers").source().as_deref(),
        Some("--assume transformers==5.4.0")
    );
    assert!(v.known("kernels").set.is_empty());
    assert_eq!(v.known("torch").range_text(), ">=2.6");
    for bad in [
        "",
        "==5",
        "transformers==x",
        "transformers>=5;python_version>'3'",
        "a b",
        "=none",
        "torch @ git+https://x.invalid/t",
    ] {
        assert!(bad.parse::<Assume>().is_err(), "{bad:?}");
    }
}

#[test]
fn decisions_follow_the_declared_range_and_say_what_was_assumed() {
    let decide = |reqs: &str| {
        let dir = project(&[("requirements.txt", reqs), ("m.py", "")]);
        let d = load(dir.path(), &["m.py"]);
        d.versions("m.py")
            .decide(&rules::TRANSFORMERS_KERNEL_FROM_CONFIG)
    };
    // The version-dependent pair: 5.2.0 runs the kernel named by config.json, 5.3.0 does not.
    let on = decide("transformers==5.2.0\nkernels==0.10.0\n");
    assert_eq!(on.applies, Applies::Always);
    assert_eq!(on.assumed[0].source.as_deref(), Some("requirements.txt:1"));
    let off = decide("transformers==5.3.0\nkernels==0.10.0\n");
    assert_eq!(off.applies, Applies::Never);
    assert!(!off.happens());
    // An open range crosses the border: the worst case, said in the assumption.
    let open = decide("transformers>=5.0\n");
    assert_eq!(open.applies, Applies::Possibly);
    assert!(open.happens());
    assert_eq!(open.assumed[0].range, ">=5.0");
    assert!(
        open.assumed[0].assumption.contains("worst case"),
        "{}",
        open.assumed[0]
    );
    assert!(
        open.assumed[1].assumption.contains("not declared"),
        "{}",
        open.assumed[1]
    );
    // Before 4.52 there is no kernel loading at all.
    assert_eq!(decide("transformers==4.51.3\n").applies, Applies::Never);
    // datasets >= 4 runs no loading scripts.
    let ds = |reqs: &str| {
        let dir = project(&[("requirements.txt", reqs), ("m.py", "")]);
        load(dir.path(), &["m.py"])
            .versions("m.py")
            .decide(&rules::DATASETS_SCRIPTS)
            .applies
    };
    assert_eq!(ds("datasets==3.6.0\n"), Applies::Always);
    assert_eq!(ds("datasets>=4\n"), Applies::Never);
    assert_eq!(ds("datasets\n"), Applies::Possibly);
}

#[test]
fn kernels_lock_pins_kernels() {
    let sha = "0123456789abcdef0123456789abcdef01234567";
    let dir = project(&[
        (
            "kernels.lock",
            &format!(
                "[\n  {{\n    \"repo_id\": \"kernels-community/activation\",\n    \"sha\": \"{sha}\",\n    \"variants\": {{\"torch27-cxx11-cu126-x86_64-linux\": {{\"hash\": \"sha256-00\", \"hash_type\": \"git_lfs_concat\"}}}}\n  }}\n]\n"
            ),
        ),
        ("pkg/m.py", ""),
    ]);
    let d = load(dir.path(), &["pkg/m.py"]);
    let lock = d
        .versions("pkg/m.py")
        .kernel_lock("kernels-community/activation")
        .unwrap()
        .unwrap();
    assert_eq!(lock.sha, sha);
    assert_eq!(lock.source, "kernels.lock:3");
    assert_eq!(lock.variants.len(), 1);
    assert!(
        d.versions("pkg/m.py")
            .kernel_lock("other/k")
            .unwrap()
            .is_none()
    );
}

/// Each malformed input: a warning-level `errors` entry naming the file, the
/// libraries it could have declared at their worst case, the rest kept.
#[test]
fn malformed_declarations_fall_back_to_the_worst_case() {
    // (what, files, the path the error names)
    type Case<'a> = (&'a str, &'a [(&'a str, &'a str)], &'a str);
    let cases: &[Case<'_>] = &[
        (
            "requirements line naming its library",
            &[("requirements.txt", "torch>=2.1\ntransformers >=> 4\n")],
            "requirements.txt",
        ),
        (
            "requirements line with no name",
            &[("requirements.txt", "torch>=2.1\n>=4\n")],
            "requirements.txt",
        ),
        (
            "missing -r file",
            &[("requirements.txt", "torch>=2.1\n-r nope.txt\n")],
            "requirements.txt",
        ),
        (
            "-r outside the project",
            &[("requirements.txt", "torch>=2.1\n-r ../../../etc/passwd\n")],
            "requirements.txt",
        ),
        (
            "-r over the network",
            &[(
                "requirements.txt",
                "torch>=2.1\n-r https://x.invalid/r.txt\n",
            )],
            "requirements.txt",
        ),
        (
            "pyproject TOML",
            &[("pyproject.toml", "[project\ndependencies=['torch>=2.1']\n")],
            "pyproject.toml",
        ),
        (
            "pyproject dependencies not a list",
            &[("pyproject.toml", "[project]\ndependencies='torch>=2.1'\n")],
            "pyproject.toml",
        ),
        (
            "poetry constraint",
            &[(
                "pyproject.toml",
                "[tool.poetry.dependencies]\ntransformers='^^4'\ntorch='2.1'\n",
            )],
            "pyproject.toml",
        ),
        (
            "uv.lock TOML",
            &[
                ("uv.lock", "[[package]\nname='torch'\n"),
                ("requirements.txt", "torch>=2.1\n"),
            ],
            "uv.lock",
        ),
        (
            "poetry.lock version",
            &[(
                "poetry.lock",
                "[[package]]\nname='transformers'\nversion='latest'\n",
            )],
            "poetry.lock",
        ),
        (
            "pdm.lock package not a table",
            &[("pdm.lock", "package = [1, 2]\n")],
            "pdm.lock",
        ),
        ("Pipfile TOML", &[("Pipfile", "[packages\n")], "Pipfile"),
        (
            "Pipfile.lock JSON",
            &[(
                "Pipfile.lock",
                "{\"default\": {\"torch\": {\"version\": \"==2.1\"}\n",
            )],
            "Pipfile.lock",
        ),
        (
            "Pipfile.lock version",
            &[(
                "Pipfile.lock",
                "{\"default\": {\"transformers\": {\"version\": \"latest\"}}}",
            )],
            "Pipfile.lock",
        ),
        (
            "setup.cfg line",
            &[(
                "setup.cfg",
                "[options]\ninstall_requires =\n    transformers>=x\n",
            )],
            "setup.cfg",
        ),
        (
            "setup.cfg header",
            &[("setup.cfg", "[options\ninstall_requires = torch\n")],
            "setup.cfg",
        ),
        (
            "setup.py entry",
            &[("setup.py", "setup(install_requires=['transformers>>4'])\n")],
            "setup.py",
        ),
        (
            "environment.yml YAML",
            &[("environment.yml", "dependencies:\n  - torch\n - x: [\n")],
            "environment.yml",
        ),
        (
            "environment.yml spec",
            &[("environment.yml", "dependencies:\n  - transformers>=>4\n")],
            "environment.yml",
        ),
        (
            "not UTF-8",
            &[("requirements.txt", "torch>=2.1\n\u{0}")],
            "requirements.txt",
        ),
    ];
    for (what, files, err_path) in cases {
        let mut all: Vec<(&str, &str)> = files.to_vec();
        all.push(("sub/m.py", ""));
        let dir = project(&all);
        if *what == "not UTF-8" {
            std::fs::write(
                dir.path().join("requirements.txt"),
                b"torch>=2.1\n\xff\xfe\n",
            )
            .unwrap();
        }
        let d = load(dir.path(), &["sub/m.py"]);
        assert!(
            error_paths(&d).iter().any(|p| p == err_path),
            "{what}: errors {:?}",
            d.errors()
        );
        let k = d.versions("sub/m.py").known("transformers");
        assert!(
            k.set.is_any(),
            "{what}: transformers must be at its worst case, got {k:?}"
        );
        assert!(
            matches!(k.origin, Origin::Unreadable(_)),
            "{what}: the unreadable file is the source, got {:?}",
            k.origin
        );
        assert!(k.source().is_some(), "{what}");
    }
}

#[test]
fn a_bad_line_naming_its_library_keeps_the_rest_of_the_file() {
    let dir = project(&[
        (
            "requirements.txt",
            "torch==2.1.0\ntransformers >=> 4\npeft==0.13.0\n",
        ),
        ("m.py", ""),
    ]);
    let d = load(dir.path(), &["m.py"]);
    assert_eq!(d.errors().len(), 1);
    assert!(d.errors()[0].message.contains("line 2"), "{:?}", d.errors());
    assert_eq!(range_of(&d, "m.py", "torch").0, "==2.1.0");
    assert_eq!(range_of(&d, "m.py", "peft").0, "==0.13.0");
    assert!(d.versions("m.py").known("transformers").set.is_any());
}

#[test]
fn contradictory_declarations_are_reported_and_assumed_worst() {
    let dir = project(&[
        ("requirements.txt", "transformers>=5\n-c c.txt\n"),
        ("c.txt", "transformers<4\n"),
        ("m.py", ""),
    ]);
    let d = load(dir.path(), &["m.py"]);
    assert!(
        d.errors()
            .iter()
            .any(|e| e.message.contains("admit no version")),
        "{:?}",
        d.errors()
    );
    assert!(d.versions("m.py").known("transformers").set.is_any());
}

#[test]
fn malformed_kernels_lock_is_an_error_not_a_pin() {
    for bad in [
        "[{\"repo_id\": \"a/b\", \"sha\": \"main\"}]",
        "{}",
        "[{\"repo_id\": \"a/b\"",
        "[{\"repo_id\": \"a/b\", \"sha\": \"0123456789abcdef0123456789abcdef01234567\", \"variants\": []}]",
    ] {
        let dir = project(&[("kernels.lock", bad), ("m.py", "")]);
        let d = load(dir.path(), &["m.py"]);
        assert_eq!(error_paths(&d), vec!["kernels.lock"], "{bad}");
        assert!(d.versions("m.py").kernel_lock("a/b").is_err(), "{bad}");
    }
}

#[test]
fn include_cycles_and_diamonds_terminate() {
    let dir = project(&[
        ("requirements.txt", "-r a.txt\n-r b.txt\n"),
        ("a.txt", "-r b.txt\ntorch==2.1.0\n"),
        (
            "b.txt",
            "-r a.txt\n-r requirements.txt\ntransformers==4.57.0\n",
        ),
        ("m.py", ""),
    ]);
    let d = load(dir.path(), &["m.py"]);
    assert!(d.errors().is_empty(), "{:?}", d.errors());
    assert_eq!(range_of(&d, "m.py", "torch").0, "==2.1.0");
    assert_eq!(range_of(&d, "m.py", "transformers").0, "==4.57.0");
}

/// The CLI: a malformed declaration is a warning on stderr and an `errors`
/// entry in the JSON; the calls are all still reported.
#[test]
fn scan_reports_malformed_declarations_and_keeps_every_call() {
    let dir = project(&[
        (
            "pyproject.toml",
            "[project]\ndependencies = ['transformers>=4.40'\n",
        ),
        (
            "app.py",
            "from transformers import AutoModel\nAutoModel.from_pretrained('org/model')\nAutoModel.from_pretrained('org/other', trust_remote_code=True)\n",
        ),
    ]);
    let home = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(crate::common::bin())
        .args(["scan", "--offline", "--format", "json", "--cache-dir"])
        .arg(home.path())
        .arg(dir.path())
        .env("HOME", home.path())
        .env_remove("HUBWARDEN_MIRROR")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("warning: pyproject.toml: line 2: invalid TOML"),
        "{stderr}"
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let errors = json["errors"].as_array().unwrap();
    assert!(
        errors.iter().any(|e| e["path"] == "pyproject.toml"
            && e["message"].as_str().unwrap().contains("worst case")),
        "{errors:?}"
    );
    assert_eq!(json["calls"].as_array().unwrap().len(), 2);
}

#[test]
fn a_bad_assume_is_a_usage_error() {
    let out = std::process::Command::new(crate::common::bin())
        .args(["scan", "--offline", "--assume", "transformers>>5", "."])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--assume"), "{stderr}");
}
