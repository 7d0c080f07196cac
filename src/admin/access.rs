//! Who may use the admin socket: root, the daemon's own user, and the
//! members of a configured group. Checked on every connection with the
//! peer's credentials from the kernel (`SO_PEERCRED`), on top of the socket
//! file's mode, so a loosened file mode alone does not open the door.

use nix::sys::socket::{getsockopt, sockopt::PeerCredentials};
use nix::unistd::{Gid, Group, Uid, User};
use std::os::fd::AsFd;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Access {
    daemon_uid: Uid,
    group: Option<AdminGroup>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct AdminGroup {
    name: String,
    gid: Gid,
    /// Users listed as members in the group database; users whose primary
    /// group it is are recognised by their gid.
    members: Vec<Uid>,
}

/// A peer as the kernel reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Peer {
    pub uid: Uid,
    pub gid: Gid,
    pub pid: i32,
}

impl Access {
    /// Looks the group up in the system databases. Reads files, so call it
    /// at start-up or reload, never per connection.
    pub fn resolve(group: Option<&str>) -> Result<Access, String> {
        let group = match group {
            None => None,
            Some(name) => {
                let found = Group::from_name(name)
                    .map_err(|e| format!("admin.group: cannot look up {name:?}: {e}"))?
                    .ok_or_else(|| format!("admin.group: there is no group named {name:?}"))?;
                let members = found
                    .mem
                    .iter()
                    .filter_map(|user| User::from_name(user).ok().flatten())
                    .map(|user| user.uid)
                    .collect();
                Some(AdminGroup {
                    name: name.to_string(),
                    gid: found.gid,
                    members,
                })
            }
        };
        Ok(Access {
            daemon_uid: Uid::effective(),
            group,
        })
    }

    /// The gid the socket file should belong to, if a group is configured.
    pub fn gid(&self) -> Option<Gid> {
        self.group.as_ref().map(|g| g.gid)
    }

    pub fn allows(&self, peer: &Peer) -> bool {
        peer.uid.is_root()
            || peer.uid == self.daemon_uid
            || self
                .group
                .as_ref()
                .is_some_and(|g| peer.gid == g.gid || g.members.contains(&peer.uid))
    }

    /// Who may connect, for the refusal message.
    pub fn describe(&self) -> String {
        let mut who = format!("root and uid {}", self.daemon_uid);
        if let Some(group) = &self.group {
            who.push_str(&format!(" and members of group {}", group.name));
        }
        who
    }
}

/// The credentials of the process at the other end of a Unix socket.
pub fn peer_of(socket: &impl AsFd) -> std::io::Result<Peer> {
    let cred = getsockopt(socket, PeerCredentials)?;
    Ok(Peer {
        uid: Uid::from_raw(cred.uid()),
        gid: Gid::from_raw(cred.gid()),
        pid: cred.pid(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer(uid: u32, gid: u32) -> Peer {
        Peer {
            uid: Uid::from_raw(uid),
            gid: Gid::from_raw(gid),
            pid: 1,
        }
    }

    #[test]
    fn root_and_own_user_are_always_allowed() {
        let access = Access::resolve(None).expect("no group");
        assert!(access.allows(&peer(0, 0)));
        assert!(access.allows(&peer(Uid::effective().as_raw(), 12345)));
    }

    #[test]
    fn group_members_are_allowed_and_strangers_refused() {
        let access = Access {
            daemon_uid: Uid::from_raw(500),
            group: Some(AdminGroup {
                name: "chatadmin".into(),
                gid: Gid::from_raw(700),
                members: vec![Uid::from_raw(1001)],
            }),
        };
        assert!(access.allows(&peer(1002, 700)), "primary group");
        assert!(access.allows(&peer(1001, 100)), "listed member");
        assert!(!access.allows(&peer(1003, 100)), "stranger");
        assert_eq!(
            access.describe(),
            "root and uid 500 and members of group chatadmin"
        );
    }

    #[test]
    fn unknown_group_is_an_error_naming_it() {
        let err = Access::resolve(Some("no-such-group-here")).expect_err("unknown");
        assert!(err.contains("no-such-group-here"), "{err}");
    }

    #[test]
    fn peer_credentials_of_a_socket_pair_are_our_own() {
        let (a, _b) = std::os::unix::net::UnixStream::pair().expect("pair");
        let peer = peer_of(&a).expect("credentials");
        assert_eq!(peer.uid, Uid::effective());
        assert_eq!(peer.pid, std::process::id() as i32);
    }
}
