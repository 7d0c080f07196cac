//! Registered channels: made by a logged-in user, kept with their modes,
//! topic and lists, remade as they were after a restart or once empty,
//! with their owner let in and given `@`; registered and dropped by the
//! host.

use super::accounts::{Store, accounts_config, store};
use super::*;
use crate::accounts::Keep;

/// The last state the hub handed on to be kept for `key`.
fn kept_state(w: &World, key: &str) -> Option<Option<String>> {
    w.out.kept.iter().rev().find_map(|k| match k {
        Keep::Channel { key: k, state } if k == key => Some(state.clone()),
        _ => None,
    })
}

/// A hub started again from what `before` kept for `keys`, as the
/// reactor starts one from the store.
fn restarted(before: &World, keys: &[&str], accounts: &Store) -> World {
    let mut w = World::with_accounts(accounts_config(), accounts);
    let states = keys
        .iter()
        .filter_map(|key| kept_state(before, key).flatten())
        .collect();
    w.hub.set_kept_channels(states);
    w
}

#[test]
fn a_channel_made_by_a_logged_in_user_outlives_a_restart_as_it_was() {
    let mut accounts = store(&[("Teacher", "pw")]);
    let mut w = World::with_accounts(accounts_config(), &accounts);
    w.log_in(1, "teacher", "pw", "", &mut accounts);
    w.send(1, "JOIN #class");
    w.send(1, "TOPIC #class :Algebra at nine");
    w.send(1, "MODE #class +m-t");
    w.send(1, "MODE #class +be mallory!*@* mallory!*@10.*");
    w.send(1, "MODE #class");
    let created = w.take(1);
    assert!(kept_state(&w, "#class").flatten().is_some());
    let created_at = created
        .iter()
        .find(|l| l.contains(" 329 "))
        .and_then(|l| l.rsplit(' ').next())
        .expect("329")
        .to_string();

    let mut w = restarted(&w, &["#class"], &accounts);
    w.register(2, "pupil");
    w.send(2, "JOIN #class");
    let joined = w.take(2);
    assert!(
        joined
            .iter()
            .any(|l| l.ends_with("332 pupil #class :Algebra at nine"))
    );
    assert!(
        joined
            .iter()
            .any(|l| l.contains(" 353 ") && l.ends_with(":pupil")),
        "the first to come back is no operator: {joined:?}"
    );
    w.send(2, "MODE #class");
    w.send(2, "MODE #class b");
    w.send(2, "MODE #class e");
    let modes = w.take(2);
    assert!(
        modes.iter().any(|l| l.ends_with("324 pupil #class :+mn")),
        "{modes:?}"
    );
    let kept_at = format!("329 pupil #class {created_at}");
    assert!(modes.iter().any(|l| l.ends_with(&kept_at)), "{modes:?}");
    let listed = |code: &str, mask: &str| {
        let start = format!(" {code} pupil #class ");
        modes.iter().any(|l| l.contains(&start) && l.contains(mask))
    };
    assert!(listed("367", "mallory!*@*") && listed("348", "mallory!*@10.*"));
    w.send(2, "PRIVMSG #class :hi");
    assert_eq!(codes(&w.take(2)), ["404"], "+m was kept");

    w.log_in(1, "teacher", "pw", "", &mut accounts);
    w.send(1, "JOIN #class");
    let names = w.take(1);
    assert!(
        names
            .iter()
            .any(|l| l.contains(" 353 ") && l.contains("@teacher")),
        "the owner gets @: {names:?}"
    );
}

#[test]
fn an_empty_registered_channel_keeps_its_rules_and_lets_its_owner_in() {
    let mut accounts = store(&[("alice", "pw")]);
    let mut w = World::with_accounts(accounts_config(), &accounts);
    w.log_in(1, "alice", "pw", "", &mut accounts);
    w.send(1, "JOIN #team");
    w.send(1, "MODE #team +ik sesame");
    w.send(1, "PART #team");
    assert_eq!(w.hub.channel_count(), 1, "only the lobby is live");
    w.register(2, "bob");
    w.send(2, "JOIN #TEAM");
    assert_eq!(
        w.take(2),
        [":groupchatd 473 bob #team :Cannot join channel (+i)"],
        "+i held while it was empty, under the name as registered"
    );
    assert_eq!(w.hub.channel_count(), 1, "a refused join leaves nothing");
    w.take(1);
    w.send(1, "JOIN #team");
    let joined = w.take(1);
    assert!(joined[0].ends_with("JOIN :#team"), "{joined:?}");
    assert!(joined.iter().any(|l| l.contains("@alice")));
    let listed = w.hub.channel_summaries();
    assert_eq!(listed[1].owner.as_deref(), Some("alice"));
}

#[test]
fn a_channel_made_without_an_account_is_not_kept() {
    let mut w = World::new(config());
    w.register(1, "ann");
    w.send(1, "JOIN #side");
    w.send(1, "TOPIC #side :passing by");
    w.send(1, "MODE #side +m");
    assert!(w.out.kept.is_empty());
    w.send(1, "PART #side");
    assert_eq!(w.hub.channel_summaries().len(), 1, "gone once empty");
}

#[test]
fn the_host_registers_and_drops_channels() {
    let accounts = store(&[("alice", "pw")]);
    let mut w = World::with_accounts(accounts_config(), &accounts);
    w.register(1, "ann");
    w.send(1, "JOIN #side");
    let out = &mut w.out;
    assert_eq!(
        w.hub.register_channel("#side", "nobody", out),
        Err("there is no account nobody".to_string())
    );
    assert!(w.hub.register_channel("#lobby", "alice", out).is_err());
    assert!(w.hub.register_channel("side", "alice", out).is_err());
    assert_eq!(
        w.hub.register_channel("#SIDE", "alice", out),
        Ok("#side is registered to alice".to_string())
    );
    assert_eq!(
        w.hub.register_channel("#later", "alice", out),
        Ok("#later is registered to alice".to_string())
    );
    let owners: Vec<_> = w
        .hub
        .channel_summaries()
        .into_iter()
        .map(|c| (c.name, c.members, c.owner))
        .collect();
    assert_eq!(
        owners,
        [
            ("#later".to_string(), 0, Some("alice".to_string())),
            ("#lobby".to_string(), 1, None),
            ("#side".to_string(), 1, Some("alice".to_string())),
        ]
    );
    assert_eq!(
        w.hub.drop_channel("#side", &mut w.out),
        Ok("#side is no longer registered".to_string())
    );
    assert_eq!(kept_state(&w, "#side"), Some(None));
    assert!(w.hub.drop_channel("#side", &mut w.out).is_err());
    w.send(1, "PART #side");
    let names: Vec<_> = w
        .hub
        .channel_summaries()
        .into_iter()
        .map(|c| c.name)
        .collect();
    assert_eq!(names, ["#later", "#lobby"]);
    w.hub.account_deleted("ALICE", &mut w.out);
    assert_eq!(kept_state(&w, "#later"), Some(None));
    assert_eq!(w.hub.channel_summaries().len(), 1, "only the lobby");
}

#[test]
fn the_lobby_keeps_its_topic_and_a_stored_state_that_does_not_read_is_skipped() {
    let accounts = store(&[]);
    let mut w = World::with_accounts(accounts_config(), &accounts);
    w.register(1, "ann");
    w.send(1, "TOPIC #lobby :welcome all");
    let mut w2 = World::with_accounts(accounts_config(), &accounts);
    let lobby = kept_state(&w, "#lobby")
        .flatten()
        .expect("the lobby is kept");
    w2.hub.set_kept_channels(vec!["{not json".into(), lobby]);
    w2.register(2, "bob");
    w2.send(2, "TOPIC #lobby");
    assert!(
        w2.take(2)
            .iter()
            .any(|l| l.ends_with("332 bob #lobby :welcome all"))
    );
    assert_eq!(w2.hub.channel_summaries().len(), 1);
}
