//! The one in-run single-flight memo: concurrent callers of one key share one
//! computation, and later callers get its result without running it again.

use std::collections::HashMap;
use std::future::Future;
use std::hash::Hash;
use std::sync::{Arc, Mutex};

use tokio::sync::OnceCell;

/// Key -> lazily computed value, computed at most once per memo.
pub(crate) struct Memo<K, V> {
    cells: Mutex<HashMap<K, Arc<OnceCell<V>>>>,
}

impl<K: Eq + Hash, V: Clone> Memo<K, V> {
    pub(crate) fn new() -> Self {
        Memo {
            cells: Mutex::new(HashMap::new()),
        }
    }

    /// The value for `key`, running `f` only if no caller has started it yet.
    pub(crate) async fn get<F, Fut>(&self, key: K, f: F) -> V
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = V>,
    {
        let cell = {
            // A poisoned lock only means another task panicked while holding it;
            // the map is still consistent (an insert is one step).
            let mut m = self.cells.lock().unwrap_or_else(|p| p.into_inner());
            m.entry(key).or_default().clone()
        };
        cell.get_or_init(f).await.clone()
    }
}
