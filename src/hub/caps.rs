//! IRCv3 capability negotiation: `CAP LS [302]`, `LIST`, `REQ`, `END`,
//! with values and `cap-notify` for 302 clients, and the capabilities the
//! server offers so far.
//!
//! A `REQ` is all or nothing, as the spec says: one unknown or unrequestable
//! name and the whole request is refused with `NAK`.

use super::{ClientId, Hub, HubConfig, Outbox};
use crate::message::{Message, build};
use crate::numeric::*;
use crate::tags::Wants;

/// One capability the server offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cap {
    /// Told of capabilities that come and go (always on for `LS 302`).
    Notify,
    /// The sender gets its own PRIVMSG and NOTICE back, as delivered.
    EchoMessage,
    /// Told when someone in a shared channel goes away or comes back.
    AwayNotify,
    /// NAMES lists `nick!user@host` instead of `nick`.
    UserhostInNames,
    /// Strict Transport Security: a policy, advertised, never requested.
    Sts,
    /// Tags on relayed lines: `msgid`, client-only tags, `TAGMSG`.
    MessageTags,
    /// A `time` tag on relayed lines.
    ServerTime,
    /// Lines that belong together are framed by `BATCH +ref` / `BATCH -ref`.
    Batch,
    /// A command with a `label` tag gets its replies with that label.
    LabeledResponse,
    /// `CHATHISTORY` (offered while history is kept).
    Chathistory,
    /// NAMES, WHO and WHOIS show every prefix a member has (`@+`), not
    /// only the highest.
    MultiPrefix,
    /// Told when a member of one's channel invites someone into it.
    InviteNotify,
    /// Told when someone in a shared channel changes their real name.
    Setname,
    /// History includes joins, parts and quits (offered while history is
    /// kept).
    EventPlayback,
    /// SASL logins (`AUTHENTICATE`), with the value `PLAIN` for 302
    /// clients (offered while accounts are on).
    Sasl,
    /// Told when someone in a shared channel logs in or out (`ACCOUNT`).
    AccountNotify,
    /// An `account` tag on lines from logged-in users.
    AccountTag,
    /// `JOIN` lines carry the joiner's account and real name.
    ExtendedJoin,
    /// `REGISTER` and `VERIFY` (offered while clients may register).
    AccountRegistration,
}

const OFFERED: [(Cap, &str); 19] = [
    (Cap::AccountNotify, "account-notify"),
    (Cap::AccountTag, "account-tag"),
    (Cap::Notify, "cap-notify"),
    (Cap::AwayNotify, "away-notify"),
    (Cap::Batch, "batch"),
    (Cap::AccountRegistration, "draft/account-registration"),
    (Cap::Chathistory, "draft/chathistory"),
    (Cap::EventPlayback, "draft/event-playback"),
    (Cap::EchoMessage, "echo-message"),
    (Cap::ExtendedJoin, "extended-join"),
    (Cap::InviteNotify, "invite-notify"),
    (Cap::LabeledResponse, "labeled-response"),
    (Cap::MessageTags, "message-tags"),
    (Cap::MultiPrefix, "multi-prefix"),
    (Cap::Sasl, "sasl"),
    (Cap::ServerTime, "server-time"),
    (Cap::Setname, "setname"),
    (Cap::UserhostInNames, "userhost-in-names"),
    (Cap::Sts, "sts"),
];

/// The capabilities a client has enabled, as a bit set.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Caps(u32);

impl Caps {
    pub fn has(self, cap: Cap) -> bool {
        self.0 & bit(cap) != 0
    }

    fn set(&mut self, cap: Cap, on: bool) {
        if on {
            self.0 |= bit(cap);
        } else {
            self.0 &= !bit(cap);
        }
    }

    /// The tags this client takes on relayed lines.
    pub fn wants(self) -> Wants {
        Wants {
            message_tags: self.has(Cap::MessageTags),
            server_time: self.has(Cap::ServerTime),
            account: self.has(Cap::AccountTag),
        }
    }
}

fn bit(cap: Cap) -> u32 {
    1 << OFFERED.iter().position(|(c, _)| *c == cap).unwrap_or(0)
}

/// The STS policy to advertise, from `[tls]`: the TLS port for plain
/// connections, how long to remember it for TLS ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StsPolicy {
    pub port: u16,
    pub duration: u64,
}

/// Longest `CAP LS` line body; longer lists continue on another line.
const LS_BUDGET: usize = 400;

impl Hub {
    pub(super) fn cap(&mut self, id: ClientId, msg: &Message, out: &mut dyn Outbox) {
        let Some(sub) = msg.param(0) else {
            self.reply(
                id,
                ERR_NEEDMOREPARAMS,
                &["CAP", "Not enough parameters"],
                out,
            );
            return;
        };
        let sub = sub.to_ascii_uppercase();
        let Some(client) = self.clients.get_mut(id).and_then(Option::as_mut) else {
            return;
        };
        let target = client.nick_or_star().to_string();
        let server = self.config.server_name.clone();
        match sub.as_str() {
            "LS" => {
                let version: u32 = msg.param(1).and_then(|v| v.parse().ok()).unwrap_or(0);
                if !client.registered {
                    client.cap_negotiating = true;
                }
                if version >= 302 {
                    client.cap_version = 302;
                    client.caps.set(Cap::Notify, true);
                }
                let lines = ls_lines(&self.offered(id), LS_BUDGET);
                let last = lines.len() - 1;
                for (i, line) in lines.iter().enumerate() {
                    // Only 302 clients understand a continued list.
                    let params: &[&str] = if i < last && version >= 302 {
                        &[&target, "LS", "*", line]
                    } else {
                        &[&target, "LS", line]
                    };
                    out.send(id, &build(&server, "CAP", params));
                }
            }
            "LIST" => {
                let enabled: Vec<&str> = OFFERED
                    .iter()
                    .filter(|(cap, _)| client.caps.has(*cap))
                    .map(|(_, name)| *name)
                    .collect();
                out.send(
                    id,
                    &build(&server, "CAP", &[&target, "LIST", &enabled.join(" ")]),
                );
            }
            "REQ" => {
                if !client.registered {
                    client.cap_negotiating = true;
                }
                let wanted = msg.param(1).unwrap_or("");
                let changes: Option<Vec<(Cap, bool)>> = wanted
                    .split(' ')
                    .filter(|w| !w.is_empty())
                    .map(|word| {
                        let (name, on) = match word.strip_prefix('-') {
                            Some(name) => (name, false),
                            None => (word, true),
                        };
                        OFFERED
                            .iter()
                            .find(|(cap, n)| *n == name && requestable(*cap, &self.config))
                            .map(|(cap, _)| (*cap, on))
                    })
                    .collect();
                // cap-notify cannot be turned off by a 302 client.
                let changes = changes.filter(|c| {
                    let locked = client.cap_version >= 302 && c.contains(&(Cap::Notify, false));
                    !c.is_empty() && !locked
                });
                let verdict = match changes {
                    Some(changes) => {
                        for (cap, on) in changes {
                            client.caps.set(cap, on);
                        }
                        "ACK"
                    }
                    None => "NAK",
                };
                out.send(id, &build(&server, "CAP", &[&target, verdict, wanted]));
            }
            "END" => {
                client.cap_negotiating = false;
                self.try_register(id, out);
            }
            _ => self.reply(id, ERR_INVALIDCAPCMD, &[&sub, "Invalid CAP command"], out),
        }
    }

    /// The capabilities offered to this client, with their 302 values.
    fn offered(&self, id: ClientId) -> Vec<String> {
        let Some(client) = self.client(id) else {
            return Vec::new();
        };
        let values = client.cap_version >= 302;
        OFFERED
            .iter()
            .filter_map(|(cap, name)| match (cap, self.config.sts) {
                (Cap::Sts, None) => None,
                (Cap::Sts, Some(policy)) if values => Some(if client.secure {
                    format!("sts=duration={}", policy.duration)
                } else {
                    format!("sts=port={}", policy.port)
                }),
                (Cap::Sts, Some(_)) => None,
                _ if !requestable(*cap, &self.config) => None,
                // REGISTER works before registration; no e-mail is asked for.
                (Cap::AccountRegistration, _) if values => Some(format!("{name}=before-connect")),
                (Cap::Sasl, _) if values => Some(format!("{name}=PLAIN")),
                _ => Some((*name).to_string()),
            })
            .collect()
    }
}

/// Whether a client may request `cap`, the one place that decides it for
/// `LS` and `REQ`: `sts` is a policy, never requested; the history
/// capabilities exist while history is kept, the account ones while
/// accounts are on, and registration while clients may register.
fn requestable(cap: Cap, config: &HubConfig) -> bool {
    let accounts = config.accounts.enabled;
    match cap {
        Cap::Sts => false,
        Cap::Chathistory | Cap::EventPlayback => config.history,
        Cap::AccountRegistration => accounts && config.accounts.open_registration,
        Cap::Sasl | Cap::AccountNotify | Cap::AccountTag | Cap::ExtendedJoin => accounts,
        _ => true,
    }
}

/// Cuts a capability list into lines of at most `budget` bytes (at least
/// one line, maybe empty).
fn ls_lines(caps: &[String], budget: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = String::new();
    for cap in caps {
        if !line.is_empty() && line.len() + 1 + cap.len() > budget {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(cap);
    }
    lines.push(line);
    lines
}

#[cfg(test)]
mod tests {
    use super::ls_lines;

    #[test]
    fn long_lists_continue_on_more_lines() {
        let caps: Vec<String> = ["aaa", "bbb", "ccc", "dd"].map(String::from).to_vec();
        assert_eq!(ls_lines(&caps, 7), ["aaa bbb", "ccc dd"]);
        assert_eq!(ls_lines(&caps, 6), ["aaa", "bbb", "ccc dd"]);
        assert_eq!(ls_lines(&caps, 100), ["aaa bbb ccc dd"]);
        assert_eq!(ls_lines(&[], 100), [""]);
    }
}
