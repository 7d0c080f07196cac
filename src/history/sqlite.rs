//! History in an SQLite file: the durable engine.
//!
//! One table of entries keyed by seq (SQLite's rowid, so rows are stored in
//! seq order), an index on (target, seq) for every query, one on nick for
//! purges, and a `meta` row with the highest seq ever stored so seqs are
//! never reused after purges or retention emptied the top of the table.

use super::select::{self, End, Lower, Pick};
use super::{
    Backend, Entry, Kind, Query, RETAIN_PER_CALL, Scope, Selector, StoreError, TargetActivity,
    TargetsQuery,
};
use log::warn;
use rusqlite::types::{Type, Value};
use rusqlite::{Connection, OpenFlags, OptionalExtension, Row, params, params_from_iter};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread::JoinHandle;
use std::time::Duration;

/// The schema this code writes, kept in `PRAGMA user_version`: a later
/// version migrates files whose version is lower, and this one refuses
/// files written by a later one rather than misread them.
const SCHEMA_VERSION: i64 = 1;

const SCHEMA: &str = "
    CREATE TABLE IF NOT EXISTS entries (
        seq INTEGER PRIMARY KEY,
        time_ms INTEGER NOT NULL,
        target TEXT NOT NULL,
        kind TEXT NOT NULL,
        prefix TEXT NOT NULL,
        nick TEXT NOT NULL,
        recipient TEXT NOT NULL,
        text TEXT NOT NULL,
        tags TEXT NOT NULL
    );
    CREATE INDEX IF NOT EXISTS entries_target_seq ON entries (target, seq);
    CREATE INDEX IF NOT EXISTS entries_nick ON entries (nick);
    CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
    INSERT OR IGNORE INTO meta (key, value) VALUES ('max_seq', 0);
";

const COLUMNS: &str = "seq, time_ms, target, kind, prefix, nick, recipient, text, tags";

/// The condition that leaves joins, parts and quits out of a pick.
const MESSAGES_ONLY: &str = " AND kind IN ('PRIVMSG', 'NOTICE', 'TAGMSG')";

/// Rows one DELETE of a retention pass removes: small enough that the
/// write lock and the WAL growth of one statement stay short.
const RETAIN_CHUNK: i64 = 1000;

/// How long a statement waits for another connection's lock (an operator's
/// `sqlite3` shell, say) before it fails.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Both parties of a private key, as SQL over the `target` column with the
/// folded nick as `?1` (see [`super::private_parties`]).
const IS_PARTY: &str = "(instr(target, ' ') > 0 AND \
     (substr(target, 1, instr(target, ' ') - 1) = ?1 OR substr(target, instr(target, ' ') + 1) = ?1))";

/// An open history database.
///
/// It runs in WAL mode with `synchronous=NORMAL`: a commit is in the WAL
/// when `append` returns, so a crash or SIGKILL of the process loses
/// nothing committed; a power loss or kernel crash can lose the last
/// transactions since the WAL was last synced (at checkpoints), but never
/// leaves the database inconsistent. That trade buys commits without an
/// fsync each, which is what lets one worker keep up with a busy server.
/// Checkpoints (and their fsync) run on a thread of their own, see
/// [`Checkpointer`].
pub struct SqliteBackend {
    conn: Connection,
    path: PathBuf,
    _checkpointer: Checkpointer,
}

/// The database's directory exists and is writable: SQLite creates the
/// file and its `-wal`/`-shm` files there, and says only "unable to open
/// database file" when it cannot.
pub fn check_dir(path: &Path) -> Result<(), StoreError> {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let (name, shown) = (path.display(), dir.display());
    if !dir.is_dir() {
        return Err(StoreError::new(format!(
            "history {name}: directory {shown} does not exist"
        )));
    }
    let writable = nix::unistd::AccessFlags::W_OK | nix::unistd::AccessFlags::X_OK;
    nix::unistd::access(dir, writable).map_err(|e| {
        StoreError::new(format!(
            "history {name}: directory {shown} is not writable: {e}"
        ))
    })
}

/// Reads the schema version (the first read of the file: a file that is
/// not a database fails here) and refuses a newer one.
fn check_version(conn: &Connection, path: &Path) -> Result<(), StoreError> {
    let fail = |what: &str, e: &dyn std::fmt::Display| {
        StoreError::new(format!("history {}: {what}: {e}", path.display()))
    };
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |row| row.get(0))
        .map_err(|e| fail("cannot read the schema version", &e))?;
    if version > SCHEMA_VERSION {
        return Err(fail(
            "written by a newer groupchatd, schema version",
            &version,
        ));
    }
    Ok(())
}

/// How often the WAL is checkpointed into the database.
const CHECKPOINT_EVERY: Duration = Duration::from_secs(1);

/// Copies the WAL into the database on its own thread and connection.
///
/// SQLite's automatic checkpoint runs inside the commit that crosses its
/// threshold, fsync included, and every client's output waits for commits
/// (the durability promise): a checkpoint there shows as a latency spike
/// for everybody. A passive checkpoint from another connection never
/// blocks the writer, so commits stay a write into the WAL and nothing else.
struct Checkpointer {
    /// Dropped to stop the thread, which then checkpoints one last time.
    stop: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Checkpointer {
    fn start(path: &Path) -> Result<Checkpointer, String> {
        let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_WRITE)
            .map_err(|e| format!("cannot open a checkpoint connection: {e}"))?;
        conn.busy_timeout(BUSY_TIMEOUT)
            .map_err(|e| format!("cannot set busy_timeout: {e}"))?;
        // A first checkpoint now opens the files this connection uses, so
        // the daemon's descriptors are all taken at start-up.
        conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))
            .map_err(|e| format!("cannot checkpoint: {e}"))?;
        let (stop, stopped) = mpsc::channel::<()>();
        let name = path.display().to_string();
        let thread = std::thread::Builder::new()
            .name("history-checkpoint".into())
            .spawn(move || {
                let checkpoint = |mode: &str| {
                    let sql = format!("PRAGMA wal_checkpoint({mode})");
                    if let Err(e) = conn.query_row(&sql, [], |_| Ok(())) {
                        log::warn!("history {name}: checkpoint failed: {e}");
                    }
                };
                while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(CHECKPOINT_EVERY) {
                    checkpoint("PASSIVE");
                }
                checkpoint("TRUNCATE");
            })
            .map_err(|e| format!("cannot start the checkpoint thread: {e}"))?;
        Ok(Checkpointer {
            stop: Some(stop),
            thread: Some(thread),
        })
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        self.stop.take();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl SqliteBackend {
    /// Opens (or creates) the database at `path`. The directory must exist:
    /// a missing one is a config or packaging mistake (systemd's
    /// `StateDirectory=` creates it), better reported than papered over.
    pub fn open(path: &Path) -> Result<SqliteBackend, StoreError> {
        let fail = |what: &str, e: &dyn std::fmt::Display| {
            StoreError::new(format!("history {}: {what}: {e}", path.display()))
        };
        check_dir(path)?;
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(path, flags).map_err(|e| fail("cannot open", &e))?;
        conn.busy_timeout(BUSY_TIMEOUT)
            .map_err(|e| fail("cannot set busy_timeout", &e))?;
        // The first statement reads the file: a file that is not a database
        // fails here.
        let mode: String = conn
            .query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))
            .map_err(|e| fail("cannot read", &e))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(fail("cannot switch to WAL mode, journal mode is", &mode));
        }
        conn.execute_batch("PRAGMA synchronous = NORMAL; PRAGMA wal_autocheckpoint = 0")
            .map_err(|e| fail("cannot set synchronous", &e))?;
        check_version(&conn, path)?;
        conn.execute_batch(&format!(
            "BEGIN; {SCHEMA} PRAGMA user_version = {SCHEMA_VERSION}; COMMIT;"
        ))
        .map_err(|e| fail("cannot create the schema", &e))?;
        // Every pick shape (bounds x direction) has its own statement.
        conn.set_prepared_statement_cache_capacity(64);
        let checkpointer = Checkpointer::start(path).map_err(|e| fail("checkpoints", &e))?;
        Ok(SqliteBackend {
            conn,
            path: path.to_owned(),
            _checkpointer: checkpointer,
        })
    }

    /// Whether the existing database at `path` is one this groupchatd can
    /// use, read only: `--check-config` may run beside a daemon that has
    /// the file open, and must neither write to it nor checkpoint it.
    pub fn check(path: &Path) -> Result<(), StoreError> {
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(path, flags).map_err(|e| {
            StoreError::new(format!("history {}: cannot open: {e}", path.display()))
        })?;
        check_version(&conn, path)
    }

    /// A StoreError naming the file and what failed.
    fn fail(&self, what: &str, e: impl std::fmt::Display) -> StoreError {
        StoreError::new(format!("history {}: {what}: {e}", self.path.display()))
    }

    /// One pick as one statement, prepared once per shape.
    fn pick(&self, p: &Pick<'_>) -> Result<Vec<Entry>, rusqlite::Error> {
        let mut sql = format!("SELECT {COLUMNS} FROM entries WHERE target = ?");
        let mut args = vec![Value::Text(p.target.to_owned())];
        let mut bound = |op: &str, sel: Selector| {
            let (column, value) = match sel {
                Selector::Seq(s) => ("seq", i64::try_from(s).unwrap_or(i64::MAX)),
                Selector::Time(t) => ("time_ms", t),
            };
            sql.push_str(&format!(" AND {column} {op} ?"));
            args.push(Value::Integer(value));
        };
        match p.lower {
            Some(Lower::After(sel)) => bound(">", sel),
            Some(Lower::From(sel)) => bound(">=", sel),
            None => {}
        }
        if let Some(sel) = p.before {
            bound("<", sel);
        }
        if !p.events {
            sql.push_str(MESSAGES_ONLY);
        }
        let order = match p.end {
            End::Oldest => "ASC",
            End::Newest => "DESC",
        };
        sql.push_str(&format!(" ORDER BY seq {order} LIMIT ?"));
        args.push(Value::Integer(i64::try_from(p.limit).unwrap_or(i64::MAX)));
        let mut stmt = self.conn.prepare_cached(&sql)?;
        let rows = stmt.query_map(params_from_iter(args), entry_from_row)?;
        let mut found = rows.collect::<Result<Vec<Entry>, _>>()?;
        if p.end == End::Newest {
            found.reverse();
        }
        Ok(found)
    }

    /// Removes up to `budget` entries older than `cutoff`, a chunk per
    /// statement. Entries are stored in seq order with the time they were
    /// stamped at, so the oldest are the first by seq: each statement looks
    /// at the oldest chunk only (by the primary key) and the pass stops at
    /// the first chunk with a younger entry in it, never reading the rest
    /// of the store. (Should the clock have stepped back, an old entry
    /// behind a younger one goes a pass or a few later.)
    fn retain_age(&self, cutoff: i64, budget: u64) -> Result<u64, rusqlite::Error> {
        let mut stmt = self.conn.prepare_cached(
            "DELETE FROM entries WHERE seq IN \
             (SELECT seq FROM entries ORDER BY seq LIMIT ?2) AND time_ms < ?1",
        )?;
        chunked(budget, |chunk| stmt.execute(params![cutoff, chunk]))
    }

    /// Removes up to `budget` entries beyond the newest `keep` of each
    /// target in `scope`, a chunk per statement. Only [`Scope::All`] (once,
    /// at start) lists the targets from the whole store.
    fn retain_count(
        &self,
        keep: usize,
        budget: u64,
        scope: Scope<'_>,
    ) -> Result<u64, rusqlite::Error> {
        let keep = i64::try_from(keep).unwrap_or(i64::MAX);
        let targets: Vec<String> = match scope {
            Scope::All => self
                .conn
                .prepare_cached("SELECT target FROM entries GROUP BY target HAVING count(*) > ?1")?
                .query_map([keep], |row| row.get(0))?
                .collect::<Result<_, _>>()?,
            Scope::Only(targets) => targets.iter().cloned().collect(),
        };
        let mut gone = 0;
        for target in targets {
            // The newest entry that has to go, if any (by the target's
            // index: `keep` steps, not the table).
            let cut: Option<i64> = self
                .conn
                .prepare_cached(
                    "SELECT seq FROM entries WHERE target = ?1 ORDER BY seq DESC LIMIT 1 OFFSET ?2",
                )?
                .query_row(params![target, keep], |row| row.get(0))
                .optional()?;
            let Some(cut) = cut else {
                continue;
            };
            let mut stmt = self.conn.prepare_cached(
                "DELETE FROM entries WHERE seq IN \
                 (SELECT seq FROM entries WHERE target = ?1 AND seq <= ?2 ORDER BY seq LIMIT ?3)",
            )?;
            gone += chunked(budget - gone, |chunk| {
                stmt.execute(params![target, cut, chunk])
            })?;
            if gone >= budget {
                break;
            }
        }
        Ok(gone)
    }
}

/// Runs `delete` (one statement removing at most its argument's rows) until
/// it removes less than a chunk or `budget` is spent; returns the total.
fn chunked(
    budget: u64,
    mut delete: impl FnMut(i64) -> Result<usize, rusqlite::Error>,
) -> Result<u64, rusqlite::Error> {
    let mut gone = 0u64;
    while gone < budget {
        let chunk = RETAIN_CHUNK.min(i64::try_from(budget - gone).unwrap_or(RETAIN_CHUNK));
        let n = delete(chunk)? as u64;
        gone += n;
        if (n as i64) < chunk {
            break;
        }
    }
    Ok(gone)
}

/// An entry from a row selected with [`COLUMNS`].
fn entry_from_row(row: &Row<'_>) -> Result<Entry, rusqlite::Error> {
    let kind: String = row.get(3)?;
    let kind = kind
        .parse::<Kind>()
        .map_err(|e| rusqlite::Error::FromSqlConversionFailure(3, Type::Text, e.into()))?;
    Ok(Entry {
        seq: row.get(0)?,
        time_ms: row.get(1)?,
        target: row.get(2)?,
        kind,
        prefix: row.get(4)?,
        nick: row.get(5)?,
        to: row.get(6)?,
        text: row.get(7)?,
        tags: row.get(8)?,
    })
}

/// Whether the entry stored under `e`'s seq is the same line as `e`.
fn kept_already(tx: &rusqlite::Transaction<'_>, e: &Entry) -> Result<bool, rusqlite::Error> {
    let mut kept = tx.prepare_cached("SELECT target, prefix, text FROM entries WHERE seq = ?1")?;
    let row = kept
        .query_row([e.seq], |row| {
            Ok((
                row.get::<_, String>(0)?,
                row.get::<_, String>(1)?,
                row.get::<_, String>(2)?,
            ))
        })
        .optional()?;
    Ok(row.is_some_and(|(target, prefix, text)| {
        (&*target, &*prefix, &*text) == (&*e.target, &*e.prefix, &*e.text)
    }))
}

impl Backend for SqliteBackend {
    fn append(&mut self, batch: &[Entry]) -> Result<u64, StoreError> {
        let store = |conn: &mut Connection| -> Result<u64, rusqlite::Error> {
            let tx = conn.transaction()?;
            let mut stored = 0;
            {
                // A seq already kept (two nodes whose msgids end in one
                // number, see msgid.rs) costs that one line, logged, not
                // the batch; any other failure still fails the batch.
                let mut insert = tx.prepare_cached(&format!(
                    "INSERT INTO entries ({COLUMNS}) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) ON CONFLICT (seq) DO NOTHING"
                ))?;
                for e in batch {
                    let added = insert.execute(params![
                        e.seq,
                        e.time_ms,
                        e.target,
                        e.kind.as_str(),
                        e.prefix,
                        e.nick,
                        e.to,
                        e.text,
                        e.tags
                    ])?;
                    // Kept already: the same line heard twice (a channel's
                    // log read after it was heard live) is no news.
                    stored += added as u64;
                    if added == 0 && !kept_already(&tx, e)? {
                        warn!(
                            "history: msgid {} is kept already for another line; this one by {} in {} is not",
                            e.seq, e.prefix, e.target
                        );
                    }
                }
                let top = batch.iter().map(|e| e.seq).max().unwrap_or(0);
                tx.prepare_cached("UPDATE meta SET value = max(value, ?1) WHERE key = 'max_seq'")?
                    .execute([top])?;
            }
            tx.commit()?;
            Ok(stored)
        };
        store(&mut self.conn)
            .map_err(|e| self.fail(&format!("cannot store {} entries", batch.len()), e))
    }

    fn query(&mut self, q: &Query, events: bool) -> Result<Vec<Entry>, StoreError> {
        select::run(q, events, |p| self.pick(p))
            .map_err(|e| self.fail(&format!("cannot read {}", q.target()), e))
    }

    fn targets(&mut self, q: &TargetsQuery) -> Result<Vec<TargetActivity>, StoreError> {
        let (lo, hi) = (q.from_ms.min(q.to_ms), q.from_ms.max(q.to_ms));
        let (channels, nick, limit) = (&q.channels, q.nick.as_str(), q.limit);
        let read = || -> Result<Vec<TargetActivity>, rusqlite::Error> {
            let mut found = Vec::new();
            // One indexed look per channel.
            let mut channel = self.conn.prepare_cached(
                "SELECT max(time_ms) FROM entries \
                 WHERE target = ?1 AND time_ms >= ?2 AND time_ms <= ?3",
            )?;
            for key in channels {
                let latest: Option<i64> = channel.query_row(params![key, lo, hi], |r| r.get(0))?;
                if let Some(latest_ms) = latest {
                    found.push(TargetActivity {
                        target: key.clone(),
                        latest_ms,
                    });
                }
            }
            // Private keys are found by scanning: TARGETS is rare, and an
            // index for it would cost every append.
            let mut private = self.conn.prepare_cached(&format!(
                "SELECT target, max(time_ms) FROM entries \
                 WHERE {IS_PARTY} AND time_ms >= ?2 AND time_ms <= ?3 GROUP BY target"
            ))?;
            let rows = private.query_map(params![nick, lo, hi], |r| {
                Ok(TargetActivity {
                    target: r.get(0)?,
                    latest_ms: r.get(1)?,
                })
            })?;
            for row in rows {
                found.push(row?);
            }
            Ok(found)
        };
        let mut found = read().map_err(|e| self.fail("cannot list targets", e))?;
        found.sort_by(|a, b| (a.latest_ms, &a.target).cmp(&(b.latest_ms, &b.target)));
        found.truncate(limit);
        Ok(found)
    }

    fn purge_nick(&mut self, nick: &str) -> Result<u64, StoreError> {
        self.conn
            .execute(
                &format!("DELETE FROM entries WHERE nick = ?1 OR {IS_PARTY}"),
                [nick],
            )
            .map(|n| n as u64)
            .map_err(|e| self.fail(&format!("cannot purge nick {nick}"), e))
    }

    fn purge_target(&mut self, target: &str) -> Result<u64, StoreError> {
        self.conn
            .execute("DELETE FROM entries WHERE target = ?1", [target])
            .map(|n| n as u64)
            .map_err(|e| self.fail(&format!("cannot purge {target}"), e))
    }

    fn retain(
        &mut self,
        now_ms: i64,
        max_age_ms: i64,
        max_messages: usize,
        scope: Scope<'_>,
    ) -> Result<u64, StoreError> {
        let mut gone = 0;
        if max_age_ms > 0 {
            gone += self
                .retain_age(now_ms.saturating_sub(max_age_ms), RETAIN_PER_CALL)
                .map_err(|e| self.fail("cannot drop old entries", e))?;
        }
        if max_messages > 0 && gone < RETAIN_PER_CALL {
            gone += self
                .retain_count(max_messages, RETAIN_PER_CALL - gone, scope)
                .map_err(|e| self.fail("cannot drop excess entries", e))?;
        }
        Ok(gone)
    }

    fn max_seq(&mut self) -> Result<u64, StoreError> {
        self.conn
            .query_row("SELECT value FROM meta WHERE key = 'max_seq'", [], |r| {
                r.get(0)
            })
            .map_err(|e| self.fail("cannot read the highest seq", e))
    }

    fn count(&mut self) -> Result<u64, StoreError> {
        self.conn
            .query_row("SELECT count(*) FROM entries", [], |r| r.get(0))
            .map_err(|e| self.fail("cannot count entries", e))
    }

    fn bytes(&mut self) -> Result<u64, StoreError> {
        let (pages, page_size): (u64, u64) = self
            .conn
            .query_row(
                "SELECT page_count, page_size FROM pragma_page_count, pragma_page_size",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .map_err(|e| self.fail("cannot read the file size", e))?;
        let mut wal = self.path.clone().into_os_string();
        wal.push("-wal");
        let wal = std::fs::metadata(wal).map_or(0, |m| m.len());
        Ok(pages * page_size + wal)
    }
}
