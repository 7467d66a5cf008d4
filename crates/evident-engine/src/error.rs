//! Engine errors: each says what went wrong, where (a path and line when there is one) and how
//! to fix it. The CLI renders them; none of them is a panic.

use evident_store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("{message}")]
    User {
        message: String,
        /// `path:line` when the problem is in a file.
        location: Option<String>,
        hint: Option<String>,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{action} {path}: {source}")]
    Io {
        action: &'static str,
        path: String,
        source: std::io::Error,
    },
}

impl From<crate::walk::WalkFailed> for EngineError {
    fn from(_: crate::walk::WalkFailed) -> EngineError {
        EngineError::user(
            "the walk of the document roots stopped before the end (an internal error); nothing was indexed",
        )
        .hint("run the command again; if it happens again, report it with the message printed above")
    }
}

impl EngineError {
    pub fn user(message: impl Into<String>) -> EngineError {
        EngineError::User {
            message: message.into(),
            location: None,
            hint: None,
        }
    }

    pub fn hint(mut self, h: impl Into<String>) -> EngineError {
        if let EngineError::User { hint, .. } = &mut self {
            *hint = Some(h.into());
        }
        self
    }

    pub fn at(mut self, loc: impl Into<String>) -> EngineError {
        if let EngineError::User { location, .. } = &mut self {
            *location = Some(loc.into());
        }
        self
    }

    pub fn io(
        action: &'static str,
        path: impl Into<String>,
        source: std::io::Error,
    ) -> EngineError {
        EngineError::Io {
            action,
            path: path.into(),
            source,
        }
    }

    /// The location (`path:line`) to show, if any.
    pub fn location(&self) -> Option<&str> {
        match self {
            EngineError::User { location, .. } => location.as_deref(),
            EngineError::Io { path, .. } => Some(path),
            EngineError::Store(_) => None,
        }
    }

    /// What to do about it.
    pub fn hint_text(&self) -> Option<String> {
        match self {
            EngineError::User { hint, .. } => hint.clone(),
            EngineError::Store(StoreError::NotFound(_)) => {
                Some("run `evident index` if the item was added recently; `evident list` shows known ids".into())
            }
            EngineError::Store(StoreError::Backend { location, .. })
                if location.starts_with("postgres") =>
            {
                Some("check the hub store URL (--store or EVIDENT_STORE) and that PostgreSQL answers there".into())
            }
            EngineError::Store(StoreError::Backend { .. }) => Some(
                "check that the store path is writable and not used by an incompatible program".into(),
            ),
            // Nothing can open it, `index --full` included. The items come back from the files;
            // the journal, sign-offs and claims lived only in the store, so it is kept.
            EngineError::Store(StoreError::Damaged { location, .. }) => Some(format!(
                "move it aside (`mv {location} {location}.damaged`) and run `evident index`: items are rebuilt from the files; keep the damaged file, the journal, sign-offs and claims were only in it"
            )),
            EngineError::Store(StoreError::Behind { .. }) => {
                Some("run `evident migrate` with the same --store to bring the hub store up to date".into())
            }
            EngineError::Store(StoreError::Claimed { id, .. }) => Some(format!(
                "pick other work with `evident ready --unclaimed`, wait for the lease to end, or break it with `evident release {id} --force`"
            )),
            EngineError::Store(StoreError::Regression { id, to, .. }) => Some(format!(
                "run `evident reopen {id} {to} --reason \"why\"` to lower a status on purpose"
            )),
            EngineError::Store(_) => None,
            EngineError::Io { .. } => Some("check that the path exists and is readable/writable".into()),
        }
    }
}
