//! Accounts: names with a password, kept in the daemon's SQLite file, for
//! SASL PLAIN logins and IRCv3 `draft/account-registration`.
//!
//! The parts:
//! - this module: what the loop asks ([`Request`]) and is answered
//!   ([`Outcome`], [`AccountError`]), and [`Secret`], the one type a
//!   password travels in;
//! - [`store`]: the accounts table, in the history database file;
//! - [`hash`]: Argon2id, the memory-hard password hash;
//! - `worker` and [`Accounts`]: hashing takes tens of milliseconds and
//!   memory on purpose, and the store blocks on the disk, so both run on a
//!   helper thread that answers through a channel and the loop's waker,
//!   as history's does. The loop never waits for a hash.

mod handle;
pub mod hash;
pub mod store;
mod worker;

pub use handle::Accounts;
pub use hash::Hashing;
pub use store::AccountStore;

use std::fmt;

/// A password on its way to be hashed or checked. It cannot be printed:
/// its `Debug` says only that it is hidden, and it has no `Display`, so no
/// log line or reply can show it by accident.
pub struct Secret(String);

impl Secret {
    pub fn new(password: String) -> Secret {
        Secret(password)
    }

    /// The password itself, for the hash function and nothing else.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(hidden)")
    }
}

impl PartialEq for Secret {
    fn eq(&self, other: &Secret) -> bool {
        self.0 == other.0
    }
}

/// What the loop asks of the accounts worker. Names are as the user wrote
/// them; the store compares them folded.
#[derive(Debug, PartialEq)]
pub enum Request {
    /// Checks a password (SASL PLAIN).
    Verify { name: String, password: Secret },
    /// Checks a password against a hash from the config (`OPER`): as
    /// costly as a login, so it runs here too, never on the loop.
    CheckHash { hash: String, password: Secret },
    /// Creates an account (`REGISTER`, `groupchatctl account add`).
    Create { name: String, password: Secret },
    /// Replaces an account's password (`groupchatctl account passwd`).
    SetPassword { name: String, password: Secret },
    /// Deletes an account (`groupchatctl account del`).
    Delete { name: String },
    /// Every account (`groupchatctl account list`).
    List,
    /// Keeps or forgets a K-line or a registered channel: the accounts'
    /// file is the server's one file of state.
    Keep(Keep),
}

/// What the hub keeps across restarts besides accounts. Nobody waits for
/// it: the change is in force in memory already, and a failed write is
/// logged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Keep {
    Kline(crate::kline::Change),
    /// A registered channel's state, by its folded name: JSON that only the
    /// hub makes and reads (`None`: the channel is no longer registered).
    Channel {
        key: String,
        state: Option<String>,
    },
}

/// What the worker did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The account's name as it was registered, or `None` when the name
    /// or the password is wrong (which of the two is not told).
    Verified(Option<String>),
    /// Whether the password of a `CheckHash` matched.
    Matched(bool),
    Created(String),
    PasswordSet(String),
    Deleted(String),
    Listed(Vec<AccountInfo>),
    /// A K-line or a channel was saved or deleted: its mask or name.
    Kept(String),
}

/// One account, for `groupchatctl account list`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountInfo {
    pub name: String,
    /// Unix milliseconds.
    pub created_ms: i64,
}

/// Why a request was not done.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AccountError {
    /// `Create` of a name that is taken.
    Exists(String),
    /// `SetPassword` or `Delete` of a name that is not an account.
    NoSuchAccount(String),
    /// The store or the hash failed; the text says why, for the logs.
    Failed(String),
}

impl fmt::Display for AccountError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AccountError::Exists(name) => write!(f, "the account {name} already exists"),
            AccountError::NoSuchAccount(name) => write!(f, "there is no account {name}"),
            AccountError::Failed(why) => f.write_str(why),
        }
    }
}

/// What the worker answers one request with.
pub type Answer = Result<Outcome, AccountError>;
