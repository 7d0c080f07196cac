//! Packaging: the systemd unit passes `systemd-analyze verify`, and `cargo
//! deb` builds a package with the binaries, the unit, the config as a
//! conffile, man pages, completions, the copyright file and the maintainer
//! scripts.
//!
//! A test whose tool is missing (systemd-analyze, man, cargo-deb, dpkg-deb)
//! says why on stderr and passes, unless `GROUPCHATD_REQUIRE_TOOLS=1` (set by
//! CI, whose `.ci/run` installs them): then it fails.

mod common;

use common::{TempDir, have_tool};
use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const MANIFEST_DIR: &str = env!("CARGO_MANIFEST_DIR");

fn run(cmd: &mut Command) -> Output {
    let out = cmd.output().unwrap_or_else(|e| panic!("run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// `<target>/debug` (or whichever profile the tests were built with): where
/// the freshly built binaries and build.rs's `gen/` directory are.
fn profile_dir() -> PathBuf {
    Path::new(env!("CARGO_BIN_EXE_groupchatd"))
        .parent()
        .expect("binary directory")
        .to_path_buf()
}

fn copy(from: &Path, to: &Path) {
    fs::create_dir_all(to.parent().expect("parent")).expect("create dir");
    fs::copy(from, to)
        .unwrap_or_else(|e| panic!("copy {} to {}: {e}", from.display(), to.display()));
}

/// Installs what the unit refers to into `root` as the package would: the
/// unit, its ExecStart binary, /bin/kill for ExecReload, and systemd's own
/// units (targets it is ordered against); man pages come from build.rs.
fn unit_root(root: &Path, unit: &str) {
    let system = root.join("usr/lib/systemd/system");
    fs::create_dir_all(&system).expect("create unit dir");
    run(Command::new("cp")
        .args(["-a", "/usr/lib/systemd/system", "-T"])
        .arg(&system));
    fs::write(system.join("groupchatd.service"), unit).expect("write unit");
    copy(
        Path::new(env!("CARGO_BIN_EXE_groupchatd")),
        &root.join("usr/bin/groupchatd"),
    );
    copy(Path::new("/bin/kill"), &root.join("usr/bin/kill"));
    std::os::unix::fs::symlink("usr/bin", root.join("bin")).expect("symlink /bin");
}

fn verify(root: &Path) -> Output {
    Command::new("systemd-analyze")
        .arg("verify")
        .arg(format!("--root={}", root.display()))
        .arg("groupchatd.service")
        // Documentation=man:... pages are looked up with man(1).
        .env("MANPATH", profile_dir().join("gen/man"))
        .output()
        .expect("run systemd-analyze")
}

#[test]
fn the_unit_passes_systemd_analyze_verify() {
    if !have_tool("systemd-analyze", &["--version"], "apt-get install systemd")
        || !have_tool("man", &["--version"], "apt-get install man-db")
    {
        return;
    }
    let unit = fs::read_to_string(format!("{MANIFEST_DIR}/systemd/groupchatd.service"))
        .expect("read unit");
    let dir = TempDir::new();
    unit_root(&dir.path, &unit);
    let out = verify(&dir.path);
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // verify exits 0 on mere warnings (an unknown key, say): accept silence only.
    assert!(out.status.success() && said.is_empty(), "{said}");

    // The check is not vacuous: a misspelt key and a missing binary are reported.
    let broken = TempDir::new();
    unit_root(&broken.path, &unit.replace("ProtectHome=", "ProtectHom="));
    fs::remove_file(broken.path.join("usr/bin/groupchatd")).expect("remove binary");
    let out = verify(&broken.path);
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(said.contains("ProtectHom"), "{said}");
    assert!(said.contains("/usr/bin/groupchatd"), "{said}");
}

/// Builds the package once (a release build) into a temporary directory.
fn build_package(out_dir: &Path) -> Option<PathBuf> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    if !have_tool(
        &cargo,
        &["deb", "--version"],
        "cargo install cargo-deb --locked",
    ) || !have_tool("dpkg-deb", &["--version"], "apt-get install dpkg")
    {
        return None;
    }
    let deb = out_dir.join("groupchatd.deb");
    run(Command::new(&cargo)
        .current_dir(MANIFEST_DIR)
        .args(["deb", "--locked", "--fast", "--output"])
        .arg(&deb));
    Some(deb)
}

fn dpkg_deb(args: &[&str], deb: &Path) -> String {
    let out = run(Command::new("dpkg-deb").args(args).arg(deb));
    String::from_utf8(out.stdout).expect("utf-8")
}

/// `dpkg-deb -I DEB FILE`: one control file of the package.
fn control_file(deb: &Path, name: &str) -> String {
    let out = run(Command::new("dpkg-deb").arg("-I").arg(deb).arg(name));
    String::from_utf8(out.stdout).expect("utf-8")
}

#[test]
fn cargo_deb_builds_a_package_with_everything_in_place() {
    let dir = TempDir::new();
    let Some(deb) = build_package(&dir.path) else {
        return;
    };

    // dpkg-deb --contents: paths ("./usr/bin/groupchatd"), owners, modes.
    let contents = dpkg_deb(&["--contents"], &deb);
    let mut files = BTreeSet::new();
    for line in contents.lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let (mode, owner, path) = (fields[0], fields[1], fields[fields.len() - 1]);
        assert!(owner == "0/0" || owner == "root/root", "{line}");
        if !mode.starts_with('d') {
            files.insert((path.trim_start_matches("./").to_string(), mode.to_string()));
        }
    }
    let has = |path: &str, mode: &str| {
        assert!(
            files.contains(&(path.to_string(), mode.to_string())),
            "no {path} ({mode}) in the package:\n{contents}"
        )
    };
    let binaries: Vec<&str> = files
        .iter()
        .filter_map(|(path, _)| path.strip_prefix("usr/bin/"))
        .collect();
    for bin in ["groupchatd", "groupchatctl", "groupchat", "groupchat-bench"] {
        has(&format!("usr/bin/{bin}"), "-rwxr-xr-x");
    }
    has("usr/lib/systemd/system/groupchatd.service", "-rw-r--r--");
    has("etc/groupchatd/groupchatd.toml", "-rw-r--r--");
    for bin in binaries {
        let pages = ["1", "8"].map(|n| format!("usr/share/man/man{n}/{bin}.{n}.gz"));
        assert!(
            pages
                .iter()
                .any(|page| files.contains(&(page.clone(), "-rw-r--r--".into()))),
            "no man page for {bin} in the package:\n{contents}"
        );
        has(
            &format!("usr/share/bash-completion/completions/{bin}"),
            "-rw-r--r--",
        );
        has(
            &format!("usr/share/zsh/vendor-completions/_{bin}"),
            "-rw-r--r--",
        );
        has(
            &format!("usr/share/fish/vendor_completions.d/{bin}.fish"),
            "-rw-r--r--",
        );
    }
    // One page per groupchatctl subcommand, as groupchatctl(8) refers to them.
    has("usr/share/man/man8/groupchatctl-kick.8.gz", "-rw-r--r--");

    // The unit and config are shipped as they are in the tree.
    let unpacked = dir.path.join("root");
    run(Command::new("dpkg-deb").arg("-x").arg(&deb).arg(&unpacked));
    for (packaged, source) in [
        (
            "usr/lib/systemd/system/groupchatd.service",
            "systemd/groupchatd.service",
        ),
        (
            "etc/groupchatd/groupchatd.toml",
            "packaging/groupchatd.toml",
        ),
    ] {
        assert_eq!(
            fs::read(unpacked.join(packaged)).expect("packaged file"),
            fs::read(format!("{MANIFEST_DIR}/{source}")).expect("source file"),
            "{packaged} differs from {source}"
        );
    }
    // Debian's machine-readable copyright file, naming both licenses and
    // holding the MIT text as LICENSE-MIT has it (Apache-2.0's is in
    // /usr/share/common-licenses).
    let copyright = fs::read_to_string(unpacked.join("usr/share/doc/groupchatd/copyright"))
        .expect("/usr/share/doc/groupchatd/copyright in the package");
    for needed in [
        "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/",
        "Copyright: 2026 groupchatd developers",
        "License: MIT or Apache-2.0",
        "License: MIT\n",
        "License: Apache-2.0\n",
        "/usr/share/common-licenses/Apache-2.0",
    ] {
        assert!(
            copyright.contains(needed),
            "copyright lacks {needed:?}:\n{copyright}"
        );
    }
    let mit = fs::read_to_string(format!("{MANIFEST_DIR}/LICENSE-MIT")).expect("LICENSE-MIT");
    for line in mit.lines().skip_while(|l| !l.starts_with("Permission")) {
        let line = if line.is_empty() { "." } else { line };
        assert!(
            copyright.contains(&format!("\n {line}\n")),
            "the MIT text in the copyright file differs from LICENSE-MIT at {line:?}"
        );
    }

    let page = fs::read(unpacked.join("usr/share/man/man8/groupchatd.8.gz")).expect("man page");
    assert_eq!(page[..2], [0x1f, 0x8b], "man pages are gzipped");

    // Control: conffile, dependencies, and maintainer scripts that create the
    // user and enable, start, stop and forget the unit the Debian way.
    assert_eq!(
        control_file(&deb, "conffiles").trim(),
        "/etc/groupchatd/groupchatd.toml"
    );
    let depends = dpkg_deb(&["--field"], &deb);
    assert!(depends.contains("Depends: adduser"), "{depends}");
    let postinst = control_file(&deb, "postinst");
    for needed in [
        "adduser --system --group",
        "dpkg-statoverride --update --add root groupchatd 0750 /etc/groupchatd",
        "deb-systemd-helper enable groupchatd.service",
        "deb-systemd-invoke $_dh_action groupchatd.service",
    ] {
        assert!(
            postinst.contains(needed),
            "postinst lacks {needed:?}:\n{postinst}"
        );
    }
    assert!(!postinst.contains("#DEBHELPER#"), "{postinst}");
    let prerm = control_file(&deb, "prerm");
    assert!(
        prerm.contains("deb-systemd-invoke stop groupchatd.service"),
        "{prerm}"
    );
    let postrm = control_file(&deb, "postrm");
    for needed in [
        "deb-systemd-helper purge groupchatd.service",
        "dpkg-statoverride --remove /etc/groupchatd",
    ] {
        assert!(
            postrm.contains(needed),
            "postrm lacks {needed:?}:\n{postrm}"
        );
    }
}
