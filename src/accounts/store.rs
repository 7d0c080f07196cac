//! The accounts table, in the history database file: one file of state per
//! server, backed up and moved as one. It has its own connection, on the
//! accounts worker's thread, and its own table, which history never reads.

use super::{AccountError, AccountInfo};
use crate::kline::Kline;
use crate::names::fold;
use rusqlite::{Connection, OpenFlags, OptionalExtension, params};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// `key` is the folded name, so that `Alice` and `alice` are one account;
/// `name` is as it was registered, for display.
const SCHEMA: &str = "
    CREATE TABLE IF NOT EXISTS accounts (
        key TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        hash TEXT NOT NULL,
        created_ms INTEGER NOT NULL
    );
    CREATE TABLE IF NOT EXISTS klines (
        mask TEXT PRIMARY KEY,
        reason TEXT NOT NULL,
        set_by TEXT NOT NULL,
        set_at_ms INTEGER NOT NULL,
        expires_ms INTEGER
    );
    CREATE TABLE IF NOT EXISTS channels (
        key TEXT PRIMARY KEY,
        state TEXT NOT NULL
    );
";

/// How long a statement waits for history's connection (or an operator's
/// `sqlite3` shell) to let go of the write lock.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// An open accounts table.
pub struct AccountStore {
    conn: Connection,
    path: PathBuf,
}

impl AccountStore {
    /// Opens (or creates) the database at `path` and the table in it. The
    /// directory must exist, as for history.
    pub fn open(path: &Path) -> Result<AccountStore, String> {
        crate::history::sqlite::check_dir(path).map_err(|e| e.to_string())?;
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let fail =
            |what: &str, e: rusqlite::Error| format!("accounts {}: {what}: {e}", path.display());
        let conn = Connection::open_with_flags(path, flags).map_err(|e| fail("cannot open", e))?;
        conn.busy_timeout(BUSY_TIMEOUT)
            .map_err(|e| fail("cannot set busy_timeout", e))?;
        // WAL, as history has it: readers never block the writer.
        let _: String = conn
            .query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))
            .map_err(|e| fail("cannot read", e))?;
        conn.execute_batch(SCHEMA)
            .map_err(|e| fail("cannot create the accounts table", e))?;
        Ok(AccountStore {
            conn,
            path: path.to_owned(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn fail(&self, what: &str, e: rusqlite::Error) -> AccountError {
        AccountError::Failed(format!("accounts {}: {what}: {e}", self.path.display()))
    }

    /// Every account's name, as registered (read once at start, so the
    /// loop can protect nicks without asking the disk).
    pub fn names(&mut self) -> Result<Vec<String>, AccountError> {
        Ok(self.list()?.into_iter().map(|a| a.name).collect())
    }

    /// Every account, by name.
    pub fn list(&mut self) -> Result<Vec<AccountInfo>, AccountError> {
        let read = |conn: &Connection| -> rusqlite::Result<Vec<AccountInfo>> {
            let mut stmt = conn.prepare("SELECT name, created_ms FROM accounts ORDER BY key")?;
            let rows = stmt.query_map([], |row| {
                Ok(AccountInfo {
                    name: row.get(0)?,
                    created_ms: row.get(1)?,
                })
            })?;
            rows.collect()
        };
        read(&self.conn).map_err(|e| self.fail("cannot list", e))
    }

    /// The account's name as registered and its password hash.
    pub fn get(&mut self, name: &str) -> Result<Option<(String, String)>, AccountError> {
        self.conn
            .query_row(
                "SELECT name, hash FROM accounts WHERE key = ?1",
                params![fold(name)],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )
            .optional()
            .map_err(|e| self.fail("cannot read", e))
    }

    /// Adds an account; fails with `Exists` when the name is taken.
    pub fn create(&mut self, name: &str, hash: &str, now_ms: i64) -> Result<(), AccountError> {
        let inserted = self
            .conn
            .execute(
                "INSERT OR IGNORE INTO accounts (key, name, hash, created_ms) VALUES (?1, ?2, ?3, ?4)",
                params![fold(name), name, hash, now_ms],
            )
            .map_err(|e| self.fail("cannot add an account", e))?;
        match inserted {
            0 => Err(AccountError::Exists(name.to_string())),
            _ => Ok(()),
        }
    }

    /// Replaces the hash; returns the name as registered.
    pub fn set_hash(&mut self, name: &str, hash: &str) -> Result<String, AccountError> {
        let registered = self.registered_name(name)?;
        self.conn
            .execute(
                "UPDATE accounts SET hash = ?2 WHERE key = ?1",
                params![fold(name), hash],
            )
            .map_err(|e| self.fail("cannot change a password", e))?;
        Ok(registered)
    }

    /// Deletes an account; returns the name as registered.
    pub fn delete(&mut self, name: &str) -> Result<String, AccountError> {
        let registered = self.registered_name(name)?;
        self.conn
            .execute("DELETE FROM accounts WHERE key = ?1", params![fold(name)])
            .map_err(|e| self.fail("cannot delete an account", e))?;
        Ok(registered)
    }

    /// The K-lines still in force at `now_ms`; expired ones are deleted
    /// on the way (read once at start, so the hub holds them all).
    pub fn klines(&mut self, now_ms: i64) -> Result<Vec<Kline>, AccountError> {
        self.conn
            .execute(
                "DELETE FROM klines WHERE expires_ms IS NOT NULL AND expires_ms <= ?1",
                params![now_ms],
            )
            .map_err(|e| self.fail("cannot drop expired K-lines", e))?;
        let read = |conn: &Connection| -> rusqlite::Result<Vec<Kline>> {
            let mut stmt = conn.prepare(
                "SELECT mask, reason, set_by, set_at_ms, expires_ms FROM klines ORDER BY set_at_ms",
            )?;
            let rows = stmt.query_map([], |row| {
                Ok(Kline {
                    mask: row.get(0)?,
                    reason: row.get(1)?,
                    set_by: row.get(2)?,
                    set_at_ms: row.get(3)?,
                    expires_ms: row.get(4)?,
                })
            })?;
            rows.collect()
        };
        read(&self.conn).map_err(|e| self.fail("cannot read the K-lines", e))
    }

    /// Adds a K-line, or replaces the one with the same mask.
    pub fn save_kline(&mut self, kline: &Kline) -> Result<(), AccountError> {
        self.conn
            .execute(
                "INSERT OR REPLACE INTO klines (mask, reason, set_by, set_at_ms, expires_ms) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![kline.mask, kline.reason, kline.set_by, kline.set_at_ms, kline.expires_ms],
            )
            .map(drop)
            .map_err(|e| self.fail("cannot save a K-line", e))
    }

    /// Removes the K-line on `mask`, if there is one.
    pub fn delete_kline(&mut self, mask: &str) -> Result<(), AccountError> {
        self.conn
            .execute("DELETE FROM klines WHERE mask = ?1", params![mask])
            .map(drop)
            .map_err(|e| self.fail("cannot delete a K-line", e))
    }

    /// Every registered channel's state, as the hub saved it (read once
    /// at start).
    pub fn channels(&mut self) -> Result<Vec<String>, AccountError> {
        let read = |conn: &Connection| -> rusqlite::Result<Vec<String>> {
            let mut stmt = conn.prepare("SELECT state FROM channels ORDER BY key")?;
            let rows = stmt.query_map([], |row| row.get(0))?;
            rows.collect()
        };
        read(&self.conn).map_err(|e| self.fail("cannot read the channels", e))
    }

    /// Saves a registered channel's state under its folded name.
    pub fn save_channel(&mut self, key: &str, state: &str) -> Result<(), AccountError> {
        self.conn
            .execute(
                "INSERT OR REPLACE INTO channels (key, state) VALUES (?1, ?2)",
                params![key, state],
            )
            .map(drop)
            .map_err(|e| self.fail("cannot save a channel", e))
    }

    /// Forgets a registered channel.
    pub fn delete_channel(&mut self, key: &str) -> Result<(), AccountError> {
        self.conn
            .execute("DELETE FROM channels WHERE key = ?1", params![key])
            .map(drop)
            .map_err(|e| self.fail("cannot delete a channel", e))
    }

    fn registered_name(&mut self, name: &str) -> Result<String, AccountError> {
        match self.get(name)? {
            Some((registered, _)) => Ok(registered),
            None => Err(AccountError::NoSuchAccount(name.to_string())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (tempdir::Dir, AccountStore) {
        let dir = tempdir::Dir::new();
        let store = AccountStore::open(&dir.0.join("state.sqlite3")).expect("open");
        (dir, store)
    }

    /// A directory removed when dropped.
    mod tempdir {
        pub struct Dir(pub std::path::PathBuf);
        impl Dir {
            pub fn new() -> Dir {
                static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
                let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let path = std::env::temp_dir()
                    .join(format!("groupchatd-accounts-{}-{n}", std::process::id()));
                std::fs::create_dir_all(&path).expect("temp dir");
                Dir(path)
            }
        }
        impl Drop for Dir {
            fn drop(&mut self) {
                let _ = std::fs::remove_dir_all(&self.0);
            }
        }
    }

    #[test]
    fn klines_are_kept_replaced_deleted_and_dropped_once_expired() {
        let (_dir, mut store) = store();
        let kline = |mask: &str, expires_ms| Kline {
            mask: mask.into(),
            reason: "spam".into(),
            set_by: "admin".into(),
            set_at_ms: 1,
            expires_ms,
        };
        store.save_kline(&kline("10.0.0.0/8", None)).expect("save");
        store
            .save_kline(&kline("bob!*@*", Some(100)))
            .expect("save");
        store
            .save_kline(&kline("10.0.0.0/8", Some(500)))
            .expect("replace");
        assert_eq!(store.klines(50).expect("read").len(), 2);
        assert_eq!(
            store.klines(100).expect("read"),
            [kline("10.0.0.0/8", Some(500))]
        );
        store.delete_kline("10.0.0.0/8").expect("delete");
        assert!(store.klines(0).expect("read").is_empty());
    }

    #[test]
    fn channels_are_kept_replaced_and_deleted() {
        let (_dir, mut store) = store();
        store.save_channel("#b", "{\"b\":1}").expect("save");
        store.save_channel("#a", "{\"a\":1}").expect("save");
        store.save_channel("#b", "{\"b\":2}").expect("replace");
        assert_eq!(store.channels().expect("read"), ["{\"a\":1}", "{\"b\":2}"]);
        store.delete_channel("#a").expect("delete");
        assert_eq!(store.channels().expect("read"), ["{\"b\":2}"]);
    }

    #[test]
    fn accounts_are_one_per_folded_name_and_keep_their_spelling() {
        let (_dir, mut store) = store();
        store.create("Alice", "h1", 5).expect("create");
        assert_eq!(
            store.create("alice", "h2", 6),
            Err(AccountError::Exists("alice".into()))
        );
        assert_eq!(
            store.get("ALICE").expect("get"),
            Some(("Alice".into(), "h1".into()))
        );
        assert_eq!(store.set_hash("alice", "h3").expect("set"), "Alice");
        assert_eq!(
            store.get("alice").expect("get").map(|a| a.1),
            Some("h3".into())
        );
        store.create("bob", "h", 7).expect("create");
        assert_eq!(store.names().expect("names"), ["Alice", "bob"]);
        assert_eq!(store.delete("ALICE").expect("delete"), "Alice");
        assert_eq!(
            store.delete("alice"),
            Err(AccountError::NoSuchAccount("alice".into()))
        );
        assert_eq!(
            store.list().expect("list"),
            [AccountInfo {
                name: "bob".into(),
                created_ms: 7
            }]
        );
    }

    #[test]
    fn the_table_lives_beside_history_in_one_file() {
        let dir = tempdir::Dir::new();
        let path = dir.0.join("state.sqlite3");
        let _history = crate::history::SqliteBackend::open(&path).expect("history");
        let mut store = AccountStore::open(&path).expect("accounts");
        store.create("carol", "h", 1).expect("create");
        drop(store);
        let mut again = AccountStore::open(&path).expect("reopen");
        assert_eq!(again.names().expect("names"), ["carol"]);
    }
}
