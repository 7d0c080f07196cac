//! History: what was said, kept so that whoever joins late or reconnects
//! can read it (placeholder for the store module; see the history-store
//! branch).

/// What kind of line an entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Privmsg,
    Notice,
    Tagmsg,
    Join,
    Part,
    Quit,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Privmsg => "PRIVMSG",
            Kind::Notice => "NOTICE",
            Kind::Tagmsg => "TAGMSG",
            Kind::Join => "JOIN",
            Kind::Part => "PART",
            Kind::Quit => "QUIT",
        }
    }
}

/// One thing said (or done) in a target, as history keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub seq: u64,
    pub time_ms: i64,
    pub target: String,
    pub kind: Kind,
    pub prefix: String,
    pub nick: String,
    pub to: String,
    pub text: String,
    pub tags: String,
}

/// The key of the private conversation between two folded nicks.
pub fn private_key(a: &str, b: &str) -> String {
    if a <= b {
        format!("{a} {b}")
    } else {
        format!("{b} {a}")
    }
}
