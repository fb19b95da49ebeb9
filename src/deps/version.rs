//! PEP 440 versions: parsing, normalisation and the total order pip uses.
//!
//! The order is packaging's `_cmpkey`: epoch, release (trailing zeros do not
//! count), pre-release (`a` < `b` < `rc`; a dev-only release sorts before every
//! pre-release), post-release, dev-release, local segments. Two internal
//! sentinels (a local segment and a post number above every real one) let a
//! specifier such as `==1.0` (which admits `1.0+cu118`) or `>1.0` (which skips
//! `1.0.post1`) be an ordinary interval.

use std::cmp::Ordering;
use std::fmt;
use std::sync::LazyLock;

use regex::Regex;

/// A pre-release phase.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Pre {
    Alpha,
    Beta,
    Rc,
}

/// One local-version segment (`+cu118.1` has `cu118` and `1`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Local {
    Str(String),
    Num(u64),
    /// Above every real segment: `V+MAX` is the last version whose public part is `V`.
    Max,
}

impl Ord for Local {
    fn cmp(&self, other: &Self) -> Ordering {
        // packaging: numeric segments sort above alphanumeric ones.
        match (self, other) {
            (Local::Max, Local::Max) => Ordering::Equal,
            (Local::Max, _) => Ordering::Greater,
            (_, Local::Max) => Ordering::Less,
            (Local::Num(a), Local::Num(b)) => a.cmp(b),
            (Local::Num(_), Local::Str(_)) => Ordering::Greater,
            (Local::Str(_), Local::Num(_)) => Ordering::Less,
            (Local::Str(a), Local::Str(b)) => a.cmp(b),
        }
    }
}

impl PartialOrd for Local {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// A parsed PEP 440 version.
#[derive(Clone, Debug, Eq)]
pub struct Version {
    pub epoch: u64,
    pub release: Vec<u64>,
    pub pre: Option<(Pre, u64)>,
    pub post: Option<u64>,
    pub dev: Option<u64>,
    pub local: Vec<Local>,
}

/// A version string that is not PEP 440.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a PEP 440 version: {0:?}")]
pub struct BadVersion(pub String);

static VERSION_RE: LazyLock<Regex> = LazyLock::new(|| {
    // packaging's VERSION_PATTERN, anchored; case-insensitive.
    Regex::new(
        r"(?ix)^\s*v?
        (?:(?P<epoch>[0-9]+)!)?
        (?P<release>[0-9]+(?:\.[0-9]+)*)
        (?P<pre>[-_.]?(?P<pre_l>alpha|a|beta|b|preview|pre|c|rc)[-_.]?(?P<pre_n>[0-9]+)?)?
        (?P<post>(?:-(?P<post_n1>[0-9]+))|(?:[-_.]?(?P<post_l>post|rev|r)[-_.]?(?P<post_n2>[0-9]+)?))?
        (?P<dev>[-_.]?(?P<dev_l>dev)[-_.]?(?P<dev_n>[0-9]+)?)?
        (?:\+(?P<local>[a-z0-9]+(?:[-_.][a-z0-9]+)*))?
        \s*$",
    )
    .unwrap_or_else(|e| unreachable!("the version pattern is a valid regex: {e}"))
});

impl Version {
    pub fn parse(s: &str) -> Result<Version, BadVersion> {
        let bad = || BadVersion(s.to_string());
        if s.len() > 256 {
            return Err(bad());
        }
        let c = VERSION_RE.captures(s).ok_or_else(bad)?;
        let num = |m: Option<regex::Match<'_>>| -> Result<Option<u64>, BadVersion> {
            m.map(|m| m.as_str().parse::<u64>().map_err(|_| bad()))
                .transpose()
        };
        let epoch = num(c.name("epoch"))?.unwrap_or(0);
        let release = c["release"]
            .split('.')
            .map(|p| p.parse::<u64>().map_err(|_| bad()))
            .collect::<Result<Vec<_>, _>>()?;
        if release.len() > 32 {
            return Err(bad());
        }
        let pre = match c.name("pre_l") {
            Some(l) => {
                let phase = match l.as_str().to_ascii_lowercase().as_str() {
                    "a" | "alpha" => Pre::Alpha,
                    "b" | "beta" => Pre::Beta,
                    _ => Pre::Rc,
                };
                Some((phase, num(c.name("pre_n"))?.unwrap_or(0)))
            }
            None => None,
        };
        let post = if c.name("post").is_some() {
            Some(
                num(c.name("post_n1"))?
                    .or(num(c.name("post_n2"))?)
                    .unwrap_or(0),
            )
        } else {
            None
        };
        let dev = if c.name("dev").is_some() {
            Some(num(c.name("dev_n"))?.unwrap_or(0))
        } else {
            None
        };
        let local = match c.name("local") {
            Some(l) => l
                .as_str()
                .split(['-', '_', '.'])
                .map(|seg| match seg.parse::<u64>() {
                    Ok(n) if seg.bytes().all(|b| b.is_ascii_digit()) => Local::Num(n),
                    _ => Local::Str(seg.to_ascii_lowercase()),
                })
                .collect(),
            None => Vec::new(),
        };
        Ok(Version {
            epoch,
            release,
            pre,
            post,
            dev,
            local,
        })
    }

    /// A plain release `a.b.c` (tests and tables).
    pub fn release(parts: &[u64]) -> Version {
        Version {
            epoch: 0,
            release: parts.to_vec(),
            pre: None,
            post: None,
            dev: None,
            local: Vec::new(),
        }
    }

    /// A pre-release or dev release (`1.0a1`, `1.0.dev0`).
    pub fn is_prerelease(&self) -> bool {
        self.pre.is_some() || self.dev.is_some()
    }

    /// The first version whose release segment is this one's: `X.dev0`
    /// (below `Xa0`, `Xrc1` and `X`). PEP 440's `<X` stops there.
    pub fn first_of_release(&self) -> Version {
        Version {
            epoch: self.epoch,
            release: self.release.clone(),
            pre: None,
            post: None,
            dev: Some(0),
            local: Vec::new(),
        }
    }

    /// The last version whose public part is this one's (`V+<every local>`).
    pub fn last_with_locals(&self) -> Version {
        let mut v = self.clone();
        v.local = vec![Local::Max];
        v
    }

    /// Above every post-release (and local build) of this version: `>V` starts after it.
    pub fn last_post(&self) -> Version {
        let mut v = self.clone();
        v.post = Some(u64::MAX);
        v.dev = None;
        v.local = vec![Local::Max];
        v
    }

    /// Whether this is one of the internal sentinels (never a real version).
    pub fn is_sentinel(&self) -> bool {
        self.local.contains(&Local::Max)
    }

    /// The release segment without trailing zeros (`2.0.0` and `2` are one release).
    fn trimmed_release(&self) -> &[u64] {
        let mut end = self.release.len();
        while end > 0 && self.release[end - 1] == 0 {
            end -= 1;
        }
        &self.release[..end]
    }

    /// The version with the last release component bumped (`2.1` -> `2.2`), for `==2.1.*`.
    pub fn bump_last(&self) -> Version {
        let mut release = self.release.clone();
        if let Some(last) = release.last_mut() {
            *last = last.saturating_add(1);
        }
        Version::release(&release).with_epoch(self.epoch)
    }

    fn with_epoch(mut self, epoch: u64) -> Version {
        self.epoch = epoch;
        self
    }

    /// The public part as PEP 440 prints it, without sentinels.
    fn fmt_public(&self, f: &mut fmt::Formatter<'_>, sentinel_post: bool) -> fmt::Result {
        if self.epoch != 0 {
            write!(f, "{}!", self.epoch)?;
        }
        let rel: Vec<String> = self.release.iter().map(u64::to_string).collect();
        f.write_str(&rel.join("."))?;
        if let Some((phase, n)) = self.pre {
            let l = match phase {
                Pre::Alpha => "a",
                Pre::Beta => "b",
                Pre::Rc => "rc",
            };
            write!(f, "{l}{n}")?;
        }
        match self.post {
            Some(u64::MAX) if sentinel_post => {}
            Some(n) => write!(f, ".post{n}")?,
            None => {}
        }
        if let Some(n) = self.dev {
            write!(f, ".dev{n}")?;
        }
        Ok(())
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sentinel = self.is_sentinel();
        self.fmt_public(f, sentinel)?;
        if !self.local.is_empty() && !sentinel {
            let segs: Vec<String> = self
                .local
                .iter()
                .map(|s| match s {
                    Local::Str(s) => s.clone(),
                    Local::Num(n) => n.to_string(),
                    Local::Max => String::new(),
                })
                .collect();
            write!(f, "+{}", segs.join("."))?;
        }
        Ok(())
    }
}

/// packaging's comparison key for the pre-release slot.
#[derive(PartialEq, Eq, PartialOrd, Ord)]
enum PreKey {
    /// A dev release of the final version (`1.0.dev0`) sorts before `1.0a0`.
    DevOnly,
    Pre(Pre, u64),
    Final,
}

impl Version {
    fn pre_key(&self) -> PreKey {
        match (self.pre, self.post, self.dev) {
            (None, None, Some(_)) => PreKey::DevOnly,
            (None, _, _) => PreKey::Final,
            (Some((p, n)), _, _) => PreKey::Pre(p, n),
        }
    }
}

impl Ord for Version {
    fn cmp(&self, other: &Self) -> Ordering {
        self.epoch
            .cmp(&other.epoch)
            .then_with(|| self.trimmed_release().cmp(other.trimmed_release()))
            .then_with(|| self.pre_key().cmp(&other.pre_key()))
            // No post-release sorts first; `Option` orders None before Some.
            .then_with(|| self.post.cmp(&other.post))
            // No dev-release sorts last.
            .then_with(|| match (self.dev, other.dev) {
                (None, None) => Ordering::Equal,
                (None, Some(_)) => Ordering::Greater,
                (Some(_), None) => Ordering::Less,
                (Some(a), Some(b)) => a.cmp(&b),
            })
            // No local part sorts first; segments compare as a sequence.
            .then_with(|| self.local.cmp(&other.local))
    }
}

impl PartialOrd for Version {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Version {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl std::hash::Hash for Version {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        // Equal versions must hash alike: hash the normalised key.
        self.epoch.hash(state);
        self.trimmed_release().hash(state);
        self.pre.hash(state);
        self.post.hash(state);
        self.dev.hash(state);
        self.local.hash(state);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> Version {
        Version::parse(s).unwrap()
    }

    #[test]
    fn parses_and_normalises_the_spellings_pep_440_allows() {
        assert_eq!(v("1.0").to_string(), "1.0");
        assert_eq!(v("v1.0").to_string(), "1.0");
        assert_eq!(v("1.0-alpha.1").to_string(), "1.0a1");
        assert_eq!(v("1.0.BETA2").to_string(), "1.0b2");
        assert_eq!(v("1.0c1").to_string(), "1.0rc1");
        assert_eq!(v("1.0-preview-3").to_string(), "1.0rc3");
        assert_eq!(v("1.0-1").to_string(), "1.0.post1");
        assert_eq!(v("1.0.rev").to_string(), "1.0.post0");
        assert_eq!(v("1.0_dev").to_string(), "1.0.dev0");
        assert_eq!(v("2!1.0").to_string(), "2!1.0");
        assert_eq!(v("2.1.0+CU118").to_string(), "2.1.0+cu118");
        assert_eq!(v("1.0+ubuntu-1").to_string(), "1.0+ubuntu.1");
        assert_eq!(v(" 5.0.0rc3 ").to_string(), "5.0.0rc3");
    }

    #[test]
    fn rejects_what_is_not_pep_440() {
        for bad in [
            "",
            "abc",
            "1.0.x",
            "1..0",
            "1.0+",
            "1.0+a..b",
            "latest",
            "1.0 2.0",
            "99999999999999999999999",
        ] {
            assert!(Version::parse(bad).is_err(), "{bad}");
        }
        assert!(Version::parse(&"1.".repeat(200)).is_err());
    }

    #[test]
    fn orders_as_packaging_does() {
        let ordered = [
            "1.0.dev0",
            "1.0a0.dev0",
            "1.0a0",
            "1.0a1",
            "1.0b1",
            "1.0rc1",
            "1.0rc1.post1",
            "1.0",
            "1.0+abc",
            "1.0+abc.5",
            "1.0+5",
            "1.0.post0.dev0",
            "1.0.post0",
            "1.0.post1",
            "1.0.1.dev0",
            "1.0.1",
            "1.1",
            "1!0.1",
        ];
        for w in ordered.windows(2) {
            assert!(v(w[0]) < v(w[1]), "{} < {}", w[0], w[1]);
        }
        assert_eq!(v("2.0.0"), v("2"));
        assert_eq!(v("1.0a"), v("1.0a0"));
        assert_ne!(v("1.0"), v("1.0+local"));
    }

    #[test]
    fn sentinels_bracket_locals_and_posts() {
        let one = v("1.0");
        assert!(v("1.0+zzz.999") < one.last_with_locals());
        assert!(one.last_with_locals() < v("1.0.post0.dev0"));
        assert!(v("1.0.post99999") < one.last_post());
        assert!(one.last_post() < v("1.0.1.dev0"));
        assert!(one.first_of_release() < v("1.0a0"));
        assert!(v("0.99") < one.first_of_release());
        assert_eq!(one.last_with_locals().to_string(), "1.0");
        assert_eq!(one.last_post().to_string(), "1.0");
        assert_eq!(v("2.1").bump_last().to_string(), "2.2");
    }
}
