//! The workspace: repository root, layered configuration, the open store and who is acting.
//! Opening one is cheap (a few stats, one small TOML parse, one SQLite open) because every verb,
//! including the hot read paths, starts here.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use evident_core::config::{Config, IdScheme};
use evident_store::{EventContext, PgStore, PgTarget, SqliteStore, Store};

use crate::{EngineError, Result};

/// Values from flags, the top layer of configuration.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// `-C DIR`: act as if started in DIR.
    pub dir: Option<PathBuf>,
    /// `--store URL`.
    pub store: Option<String>,
    /// `--as ACTOR`.
    pub actor: Option<String>,
}

pub struct Workspace {
    pub root: PathBuf,
    /// Identifies this checkout in a store shared by several.
    pub checkout: String,
    pub config: Config,
    /// `None` when running on built-in defaults.
    pub config_path: Option<PathBuf>,
    store: Box<dyn Store>,
    /// A walk of the document roots started before the store was opened (see
    /// [`Workspace::open_walking`]), taken by the first index plan.
    prewalk: Option<Prewalk>,
    actor: Option<String>,
    machine: String,
    correlation_id: String,
}

pub const CONFIG_FILE: &str = "evident.toml";

/// A walk of the document roots that ran while the store opened (see
/// [`Workspace::open_walking`]), with what the store saw of this checkout last time.
pub(crate) struct Prewalk {
    /// Whether it stat-ed documents: it did unless the store file did not exist yet (a first
    /// index reads every document anyway, see [`crate::walk::Walk::new`]).
    pub stat: bool,
    /// The walk, finished.
    pub walk: Arc<crate::walk::Walk>,
    /// The store's file states and recorded parse fingerprint for this checkout, read on the
    /// opening thread.
    pub seen: evident_store::Result<Seen>,
}

/// What a store saw of a checkout at its last index pass: its documents' states and the parse
/// fingerprint it recorded.
pub(crate) type Seen = (evident_store::FileStates, Option<String>);

/// Read what `store` saw of `checkout` at its last index pass.
pub(crate) fn seen(store: &mut dyn Store, checkout: &str) -> evident_store::Result<Seen> {
    let states = store.file_states(checkout)?;
    Ok((states, store.parse_fingerprint(checkout)?))
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// Find the repository root from `start`: the nearest folder with `evident.toml`, else the
/// nearest with `.git`.
pub fn find_root(start: &Path) -> Result<(PathBuf, bool)> {
    let start = start
        .canonicalize()
        .map_err(|e| EngineError::io("cannot open folder", start.display().to_string(), e))?;
    for dir in start.ancestors() {
        if dir.join(CONFIG_FILE).is_file() {
            return Ok((dir.to_path_buf(), true));
        }
    }
    for dir in start.ancestors() {
        if dir.join(".git").exists() {
            return Ok((dir.to_path_buf(), false));
        }
    }
    Err(EngineError::user(format!(
        "{} is not inside an Evident repository (no evident.toml or .git above it)",
        start.display()
    ))
    .hint("run `evident init` in the repository root, or pass -C DIR"))
}

/// Where the store is.
#[derive(Debug, Clone)]
pub enum StoreLocation {
    /// The embedded SQLite store in this file.
    Sqlite(PathBuf),
    /// A PostgreSQL hub store.
    Postgres(PgTarget),
}

impl StoreLocation {
    /// Open the store. SQLite creates and upgrades itself; a PostgreSQL hub is upgraded only by
    /// `evident migrate`.
    pub fn open(&self) -> Result<Box<dyn Store>> {
        Ok(match self {
            StoreLocation::Sqlite(p) => match SqliteStore::open(p) {
                Ok(s) => Box::new(s),
                // SQLite only says it cannot open the file; say why, and what would work.
                Err(_) if p.is_dir() => {
                    return Err(EngineError::user(format!(
                        "store {} is a folder, not a store file",
                        p.display()
                    ))
                    .hint(format!(
                        "pass the path of a file in it, e.g. --store {}",
                        p.join("evident.db").display()
                    )))
                }
                Err(e) => return Err(e.into()),
            },
            StoreLocation::Postgres(t) => Box::new(PgStore::open(t)?),
        })
    }
}

/// Resolve a store URL or path: a file path, `sqlite://PATH` or `postgres://...`.
pub fn store_location(raw: &str, base: &Path) -> Result<StoreLocation> {
    if raw.starts_with("postgres://") || raw.starts_with("postgresql://") {
        return Ok(StoreLocation::Postgres(PgTarget::parse(raw)?));
    }
    store_path(raw, base).map(StoreLocation::Sqlite)
}

/// Resolve a file path or `sqlite://PATH` to a SQLite file path.
pub fn store_path(raw: &str, base: &Path) -> Result<PathBuf> {
    if raw.starts_with("postgres://") || raw.starts_with("postgresql://") {
        return Err(EngineError::user(format!(
            "store {} is a PostgreSQL hub, not a file",
            redact(raw)
        ))
        .hint("pass a file path or sqlite://PATH here"));
    }
    let p = raw.strip_prefix("sqlite://").unwrap_or(raw);
    if p.is_empty() {
        return Err(
            EngineError::user("the store path is empty").hint("pass --store PATH or sqlite://PATH")
        );
    }
    if let Some((scheme, _)) = p.split_once("://") {
        return Err(
            EngineError::user(format!("unknown store scheme `{scheme}://`"))
                .hint("use a file path, sqlite://PATH or postgres://..."),
        );
    }
    let p = PathBuf::from(p);
    Ok(if p.is_absolute() { p } else { base.join(p) })
}

/// Hide a password in a connection URL.
pub fn redact(url: &str) -> String {
    evident_store::redact_url(url)
}

impl Workspace {
    /// Find the repository and load its layered configuration, without opening the store.
    fn load(ov: &Overrides) -> Result<(PathBuf, PathBuf, Option<PathBuf>, Config)> {
        let cwd = std::env::current_dir()
            .map_err(|e| EngineError::io("cannot read the current folder", ".", e))?;
        let start = ov
            .dir
            .clone()
            .map(|d| cwd.join(d))
            .unwrap_or_else(|| cwd.clone());
        let (root, has_config) = find_root(&start)?;
        let config_path = has_config.then(|| root.join(CONFIG_FILE));
        let text = match &config_path {
            Some(p) => std::fs::read_to_string(p)
                .map_err(|e| EngineError::io("cannot read", p.display().to_string(), e))?,
            None => evident_core::config::default_toml().to_string(),
        };
        let read_gate_file = |rel: &str| -> std::result::Result<String, String> {
            let full = crate::evidence::safe_path(&root, rel)?;
            std::fs::read_to_string(&full).map_err(|e| format!("cannot read {rel}: {e}"))
        };
        let mut config = Config::from_toml_with(&text, &read_gate_file).map_err(|e| {
            let loc = match e.file() {
                Some(f) => Some(format!(
                    "{}:{}",
                    root.join(f).display(),
                    e.line().unwrap_or(1)
                )),
                None => config_path
                    .as_ref()
                    .map(|p| format!("{}:{}", p.display(), e.line_in(&text).unwrap_or(1))),
            };
            let err = EngineError::user(e.to_string()).hint(
                "fix the value at the line named above (the README's Configuration section lists \
                 every table); `evident init --preset NAME --force` replaces the whole file",
            );
            match loc {
                Some(l) => err.at(l),
                None => err,
            }
        })?;
        if config_path.is_none() {
            // Running on built-in defaults: name the project after its folder.
            if let Some(n) = root.file_name().and_then(|n| n.to_str()) {
                config.project.name = n.to_string();
            }
        }
        // Environment layer.
        if let Some(s) = env("EVIDENT_ID_SCHEME") {
            config.project.id_scheme = IdScheme::parse(&s).ok_or_else(|| {
                EngineError::user(format!("EVIDENT_ID_SCHEME=`{s}` is not an id scheme"))
                    .hint("use random or sequential")
            })?;
        }
        if let Some(s) = env("EVIDENT_MAX_FILE_SIZE") {
            config.project.max_file_size = s.parse().map_err(|_| {
                EngineError::user(format!(
                    "EVIDENT_MAX_FILE_SIZE=`{s}` is not a number of bytes"
                ))
            })?;
        }
        // Store: flag > environment > config > default.
        Ok((cwd, root, config_path, config))
    }

    /// Where this workspace's store is, without opening it (for `evident migrate`).
    pub fn locate_store(ov: &Overrides) -> Result<StoreLocation> {
        let (cwd, root, _, config) = Self::load(ov)?;
        Self::store_location_for(ov, &cwd, &root, &config)
    }

    /// Open the workspace for the current directory (or `-C`).
    pub fn open(ov: &Overrides) -> Result<Workspace> {
        Self::open_with(ov, false, None)
    }

    /// Open the workspace for an index pass that comes next: the walk of the document roots
    /// starts on its own thread as soon as the configuration is read, while this one opens the
    /// store (and reads what it saw last time), so the two overlap instead of one preceding the
    /// other. For `evident index`, whose no-change pass is little more than that walk.
    /// `helper`, a [`crate::WalkHelper`] started early, takes the walk; without one a thread is
    /// started for it here.
    pub fn open_walking(ov: &Overrides, helper: Option<crate::WalkHelper>) -> Result<Workspace> {
        Self::open_with(ov, true, helper)
    }

    fn open_with(
        ov: &Overrides,
        walking: bool,
        helper: Option<crate::WalkHelper>,
    ) -> Result<Workspace> {
        // The journal names who acted: an empty name would record nobody.
        if ov.actor.as_deref().is_some_and(|a| a.trim().is_empty()) {
            return Err(EngineError::user("--as needs a name (it was empty)")
                .hint("pass --as NAME, or leave it out to use EVIDENT_ACTOR or git's user.name"));
        }
        let (cwd, root, config_path, config) = Self::load(ov)?;
        let location = Self::store_location_for(ov, &cwd, &root, &config)?;
        let checkout = root.display().to_string();
        // The store file's size, where it is a file (`None`: there is none yet).
        let store_bytes = match &location {
            StoreLocation::Sqlite(p) => std::fs::metadata(p).ok().map(|m| m.len()),
            StoreLocation::Postgres(_) => None,
        };
        if store_bytes.is_some_and(|n| n >= crate::index::LARGE_STORE_BYTES) {
            crate::index::large_work_ahead();
        }
        let (store, prewalk) = if walking {
            let exists = store_bytes.is_some() || matches!(location, StoreLocation::Postgres(_));
            let (store, prewalk) =
                Self::open_while_walking(location, exists, &root, &checkout, &config, helper)?;
            (store, Some(prewalk))
        } else {
            (location.open()?, None)
        };
        let machine = env("EVIDENT_MACHINE")
            .unwrap_or_else(|| gethostname::gethostname().to_string_lossy().into_owned());
        Ok(Workspace {
            checkout,
            root,
            config,
            config_path,
            store,
            prewalk,
            actor: ov
                .actor
                .as_deref()
                .map(|a| a.trim().to_string())
                .or_else(|| env("EVIDENT_ACTOR").map(|a| a.trim().to_string())),
            machine,
            correlation_id: env("EVIDENT_CORRELATION_ID").unwrap_or_else(new_correlation_id),
        })
    }

    /// Open the store and read what it saw of this checkout on this thread while another walks
    /// the document roots, then join the walk. This thread's heap and caches are already warm,
    /// so the store work (the longer part of a no-change pass) runs faster here than on a new
    /// thread; the walk allocates little. A store that fails to open stops the walk.
    /// `stat`: the store has seen documents before (it exists), so the walk stats them.
    fn open_while_walking(
        location: StoreLocation,
        stat: bool,
        root: &Path,
        checkout: &str,
        config: &Config,
        helper: Option<crate::WalkHelper>,
    ) -> Result<(Box<dyn Store>, Prewalk)> {
        let p = &config.project;
        let walk = crate::walk::Walk::started(root, &p.roots, &p.exclude, stat, helper);
        let opened = location.open().map(|mut store| {
            let seen = seen(store.as_mut(), checkout);
            (store, seen)
        });
        match opened {
            Ok((store, seen)) => {
                // Returns once the walk is complete (see `WalkHelper::join`).
                walk.work();
                Ok((store, Prewalk { stat, walk, seen }))
            }
            Err(e) => {
                walk.cancel();
                Err(e)
            }
        }
    }

    /// Where the store is: `--store` > `EVIDENT_STORE` > `store` in evident.toml >
    /// `.evident/evident.db` in the repository.
    pub fn store_location_for(
        ov: &Overrides,
        cwd: &Path,
        root: &Path,
        config: &Config,
    ) -> Result<StoreLocation> {
        if let Some(s) = &ov.store {
            store_location(s, cwd)
        } else if let Some(s) = env("EVIDENT_STORE") {
            store_location(&s, cwd)
        } else if let Some(s) = &config.project.store {
            store_location(s, root)
        } else {
            Ok(StoreLocation::Sqlite(
                root.join(".evident").join("evident.db"),
            ))
        }
    }

    pub fn store(&mut self) -> &mut dyn Store {
        self.store.as_mut()
    }

    /// The command that opened this workspace is done. When the process ends with it (see
    /// [`crate::index::process_ends_with_command`]) the store releases only what the exit
    /// would not ([`Store::end_of_process`]) and the rest, plain memory, is left to the OS;
    /// otherwise this is a drop.
    pub fn finish(self) {
        if !crate::index::process_ends() {
            return;
        }
        let Workspace {
            root,
            checkout,
            config,
            config_path,
            store,
            prewalk,
            actor,
            machine,
            correlation_id,
        } = self;
        store.end_of_process();
        crate::index::release((
            root,
            checkout,
            config,
            config_path,
            prewalk,
            actor,
            machine,
            correlation_id,
        ));
    }

    /// The walk started by [`Workspace::open_walking`], once.
    pub(crate) fn take_prewalk(&mut self) -> Option<Prewalk> {
        self.prewalk.take()
    }

    /// Who is acting: `--as`, `EVIDENT_ACTOR`, git's `user.name`, `$USER`, in that order.
    /// Resolved only when an event is written, so read paths never spawn git.
    pub fn actor(&mut self) -> String {
        if let Some(a) = &self.actor {
            return a.clone();
        }
        let from_git = crate::git::user_name(&self.root)
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty());
        let a = from_git
            .or_else(|| env("USER"))
            .unwrap_or_else(|| "unknown".to_string());
        self.actor = Some(a.clone());
        a
    }

    /// Tie this command's events to a given correlation id (`--correlation-id`).
    pub fn set_correlation_id(&mut self, id: &str) {
        self.correlation_id = id.to_string();
    }

    pub fn machine(&self) -> &str {
        &self.machine
    }

    /// The time stamp for events: now, or `EVIDENT_NOW` (for reproducible tests and demos).
    pub fn now(&self) -> String {
        env("EVIDENT_NOW")
            .unwrap_or_else(|| chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string())
    }

    pub fn event_context(&mut self, source: &str) -> EventContext {
        EventContext {
            actor: self.actor(),
            machine: self.machine.clone(),
            source: source.to_string(),
            correlation_id: self.correlation_id.clone(),
            at: self.now(),
        }
    }

    /// Absolute path of a repository-relative path.
    pub fn abs(&self, rel: &str) -> PathBuf {
        self.root.join(rel)
    }
}

fn new_correlation_id() -> String {
    let mut b = [0u8; 8];
    if getrandom::getrandom(&mut b).is_err() {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        b = (t as u64 ^ u64::from(std::process::id())).to_le_bytes();
    }
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_urls() {
        let base = Path::new("/r");
        assert_eq!(store_path("x.db", base).unwrap(), PathBuf::from("/r/x.db"));
        assert_eq!(
            store_path("sqlite:///abs/x.db", base).unwrap(),
            PathBuf::from("/abs/x.db")
        );
        let e = store_path("postgres://u:secret@h/db", base)
            .unwrap_err()
            .to_string();
        assert!(e.contains("u:***@h") && !e.contains("secret"), "{e}");
        match store_location("postgres://u:secret@h:5432/db?schema=team_a", base).unwrap() {
            StoreLocation::Postgres(t) => {
                assert_eq!(t.schema, "team_a");
                assert!(!t.display.contains("secret"), "{}", t.display);
            }
            other => panic!("{other:?}"),
        }
        let e = store_location("postgres://u:secret@h/db?schema=Bad-Name", base)
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("schema") && !e.contains("secret"), "{e}");
        assert!(store_path("mysql://x", base).is_err());
    }
}
