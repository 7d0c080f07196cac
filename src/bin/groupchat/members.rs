//! Who is in each channel we are in and who among them is an operator
//! (`@`) or voiced (`+`), kept from NAMES, JOIN, PART, KICK, QUIT, NICK and
//! MODE lines, so that a line can show who speaks with authority and a
//! member list can put operators first. Pure.

use std::collections::HashMap;

use crate::irc::{self, Message};

/// A member's status in one channel; both may be held at once, and losing
/// one shows the other.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Status {
    op: bool,
    voice: bool,
}

impl Status {
    /// From a NAMES entry's prefixes (one, or all with `multi-prefix`).
    fn from_prefixes(prefixes: &str) -> Status {
        Status {
            op: prefixes.contains(['@', '&', '~']),
            voice: prefixes.contains('+'),
        }
    }

    fn prefix(self) -> &'static str {
        if self.op {
            "@"
        } else if self.voice {
            "+"
        } else {
            ""
        }
    }
}

/// The prefix characters a server may put before a nick in NAMES.
const PREFIXES: [char; 5] = ['~', '&', '@', '%', '+'];

/// Channel (lowercased) -> member nick (lowercased) -> status.
#[derive(Debug, Default)]
pub struct Members {
    channels: HashMap<String, HashMap<String, Status>>,
}

impl Members {
    /// `@` for an operator, `+` for a voiced member, else "".
    pub fn prefix(&self, channel: &str, nick: &str) -> &'static str {
        self.channels
            .get(&channel.to_ascii_lowercase())
            .and_then(|m| m.get(&nick.to_ascii_lowercase()))
            .map_or("", |s| s.prefix())
    }

    /// A complete NAMES list of `channel` replaces what was known.
    pub fn names(&mut self, channel: &str, names: &[String]) {
        let members = names
            .iter()
            .map(|entry| {
                let nick = entry.trim_start_matches(PREFIXES);
                let prefixes = &entry[..entry.len() - nick.len()];
                (nick.to_ascii_lowercase(), Status::from_prefixes(prefixes))
            })
            .collect();
        self.channels.insert(channel.to_ascii_lowercase(), members);
    }

    /// Follows one live line from the server; `me` is our nick.
    pub fn follow(&mut self, msg: &Message, me: &str) {
        let who = msg.source().to_ascii_lowercase();
        let channel = msg.param(0).to_ascii_lowercase();
        match msg.command {
            "JOIN" if irc::same_name(&who, me) => {
                self.channels.insert(channel.clone(), HashMap::new());
                self.channels
                    .entry(channel)
                    .or_default()
                    .insert(who, Status::default());
            }
            "JOIN" => {
                if let Some(members) = self.channels.get_mut(&channel) {
                    members.insert(who, Status::default());
                }
            }
            "PART" => self.left(&channel, &who, me),
            "KICK" => self.left(&channel, &msg.param(1).to_ascii_lowercase(), me),
            "QUIT" => {
                for members in self.channels.values_mut() {
                    members.remove(&who);
                }
            }
            "NICK" => {
                let new = msg.param(0).to_ascii_lowercase();
                for members in self.channels.values_mut() {
                    if let Some(status) = members.remove(&who) {
                        members.insert(new.clone(), status);
                    }
                }
            }
            "MODE" => {
                let Some(members) = self.channels.get_mut(&channel) else {
                    return;
                };
                for change in irc::mode_changes(msg.params.get(1..).unwrap_or_default()) {
                    let Some(member) = change
                        .arg
                        .and_then(|nick| members.get_mut(&nick.to_ascii_lowercase()))
                    else {
                        continue;
                    };
                    match change.mode {
                        'o' => member.op = change.add,
                        'v' => member.voice = change.add,
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }

    fn left(&mut self, channel: &str, nick: &str, me: &str) {
        if irc::same_name(nick, me) {
            self.channels.remove(channel);
        } else if let Some(members) = self.channels.get_mut(channel) {
            members.remove(nick);
        }
    }

    /// The connection is gone, and with it every channel.
    pub fn clear(&mut self) {
        self.channels.clear();
    }
}

/// Sorts a member list (entries with their prefixes) the way people scan
/// it: operators, then voiced members, then everyone else, by name.
pub fn sort(names: &mut [String]) {
    names.sort_by_key(|entry| {
        let nick = entry.trim_start_matches(PREFIXES);
        let status = Status::from_prefixes(&entry[..entry.len() - nick.len()]);
        (!status.op, !status.voice, nick.to_ascii_lowercase())
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn follow(members: &mut Members, line: &str) {
        members.follow(&Message::parse(line).unwrap(), "alice");
    }

    #[test]
    fn statuses_follow_names_modes_renames_and_departures() {
        let mut m = Members::default();
        follow(&mut m, ":alice!a@h JOIN #lobby");
        m.names("#lobby", &["@alice".into(), "@+bob".into(), "carol".into()]);
        assert_eq!(m.prefix("#Lobby", "ALICE"), "@");
        follow(&mut m, ":alice!a@h MODE #lobby -o+v bob carol");
        assert_eq!(m.prefix("#lobby", "bob"), "+");
        assert_eq!(m.prefix("#lobby", "carol"), "+");
        follow(&mut m, ":alice!a@h MODE #lobby +bo *!*@x carol");
        assert_eq!(m.prefix("#lobby", "carol"), "@");
        follow(&mut m, ":carol!c@h NICK :caroline");
        assert_eq!(m.prefix("#lobby", "caroline"), "@");
        follow(&mut m, ":alice!a@h KICK #lobby caroline :bye");
        assert_eq!(m.prefix("#lobby", "caroline"), "");
        follow(&mut m, ":dave!d@h JOIN #lobby");
        follow(&mut m, ":alice!a@h MODE #lobby +v dave");
        assert_eq!(m.prefix("#lobby", "dave"), "+");
        follow(&mut m, ":alice!a@h PART #lobby");
        assert_eq!(m.prefix("#lobby", "dave"), "");
    }

    #[test]
    fn lists_put_operators_then_voiced_members_first() {
        let mut names: Vec<String> = ["zed", "+bob", "alice", "@carol", "@+al"]
            .map(String::from)
            .to_vec();
        sort(&mut names);
        assert_eq!(names, ["@+al", "@carol", "+bob", "alice", "zed"]);
    }
}
