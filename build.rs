//! Man pages and shell completions, generated from the binaries' own clap
//! definitions (`src/bin/*/cli.rs`) so they always match `--help`.
//!
//! Everything is written to `<target>/<profile>/gen/`, next to the binaries,
//! rather than to `OUT_DIR`, whose hashed path packaging tools cannot know:
//! cargo-deb picks the files up through its `target/release/` asset prefix
//! (see `[package.metadata.deb]` in Cargo.toml). The directory is emptied and
//! refilled on every run, so nothing stale is packaged.
//!
//! ```text
//! gen/man/man1/groupchat.1.gz         gen/completions/bash/groupchat
//! gen/man/man8/groupchatd.8.gz        gen/completions/zsh/_groupchat
//! gen/man/man8/groupchatctl-kick.8.gz gen/completions/fish/groupchat.fish
//! ```

use clap::CommandFactory;
use clap_complete::Shell;
use flate2::{Compression, GzBuilder};
use std::error::Error;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

/// One entry per binary: its name, man section (8: run by the administrator,
/// 1: by anyone), a name for the included module, the file holding its clap
/// definition (clap and std only) and the `Parser` type in it. Adding a
/// binary is one line here.
macro_rules! binaries {
    ($($bin:literal, section $section:literal, $module:ident = $path:literal => $parser:ident;)*) => {
        $(
            #[allow(dead_code)]
            #[path = $path]
            mod $module;
        )*
        const SOURCES: &[&str] = &[$($path),*];
        fn binaries() -> Vec<(clap::Command, &'static str)> {
            vec![$(($module::$parser::command().name($bin), $section)),*]
        }
    };
}

binaries! {
    "groupchatd", section "8", daemon = "src/bin/groupchatd/cli.rs" => Args;
    "groupchatctl", section "8", ctl = "src/bin/groupchatctl/cli.rs" => Args;
    "groupchat", section "1", client = "src/bin/groupchat/cli.rs" => Args;
    "groupchat-bench", section "1", bench = "src/bin/groupchat-bench/cli.rs" => Cli;
}

/// Sections clap cannot derive, appended to a binary's man page (roff).
fn extra_sections(bin: &str) -> &'static str {
    match bin {
        "groupchatd" => {
            r#".SH SIGNALS
.TP
\fBSIGHUP\fR
Re-read the config file and apply it; a broken file is logged and the running config kept.
.TP
\fBSIGTERM\fR, \fBSIGINT\fR
Shut down gracefully: stop accepting, deliver queued output for up to shutdown_grace seconds, tell every client, exit 0. A second signal exits at once.
.SH FILES
.TP
\fI/etc/groupchatd/groupchatd.toml\fR
The configuration the packaged service runs with; every key is described in it.
.TP
\fI/run/groupchatd/admin.sock\fR
The admin socket used by \fBgroupchatctl\fR(8).
.SH SEE ALSO
\fBgroupchatctl\fR(8), \fBgroupchat\fR(1), \fBsystemctl\fR(1), \fBjournalctl\fR(1)
"#
        }
        "groupchatctl" => {
            r#".SH FILES
.TP
\fI/run/groupchatd/admin.sock\fR
The daemon's admin socket. Root, the daemon's user and members of the group named by [admin] group in the daemon's config (\fBgroupchatd\fR in the packaged one) may use it.
.SH SEE ALSO
\fBgroupchatd\fR(8)
"#
        }
        _ => "",
    }
}

fn main() -> Result<(), Box<dyn Error>> {
    println!("cargo::rerun-if-changed=build.rs");
    for path in SOURCES {
        println!("cargo::rerun-if-changed={path}");
    }
    let out_dir = PathBuf::from(std::env::var_os("OUT_DIR").ok_or("OUT_DIR unset")?);
    web_assets(Path::new("web"), &out_dir.join("web"))?;
    // OUT_DIR is <target>/<profile>/build/<package>-<hash>/out.
    let profile_dir = out_dir.ancestors().nth(3).ok_or("unexpected OUT_DIR")?;
    let generated = profile_dir.join("gen");
    if generated.exists() {
        fs::remove_dir_all(&generated)?;
    }
    for (cmd, section) in binaries() {
        let extra = extra_sections(cmd.get_name());
        let dir = generated.join(format!("man/man{section}"));
        let source = format!("{} {}", cmd.get_name(), env!("CARGO_PKG_VERSION"));
        man_pages(cmd.clone(), section, &source, extra, &dir)?;
        completions(cmd, &generated.join("completions"))?;
    }
    Ok(())
}

/// The command's page and one per subcommand (`groupchatctl-kick.8.gz`), the
/// way `clap_mangen::generate_to` names them, but gzipped (Debian policy).
fn man_pages(
    cmd: clap::Command,
    section: &str,
    source: &str,
    extra: &str,
    dir: &Path,
) -> Result<(), Box<dyn Error>> {
    fs::create_dir_all(dir)?;
    let mut cmd = cmd.disable_help_subcommand(true);
    cmd.build();
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        man_pages(sub.clone(), section, source, "", dir)?;
    }
    let man = clap_mangen::Man::new(cmd).section(section).source(source);
    let mut page = Vec::new();
    man.render(&mut page)?;
    page.extend_from_slice(extra.as_bytes());
    write_gzipped(&dir.join(format!("{}.gz", man.get_filename())), &page)
}

fn completions(mut cmd: clap::Command, dir: &Path) -> Result<(), Box<dyn Error>> {
    let name = cmd.get_name().to_string();
    // Named as bash-completion, zsh and fish look them up.
    for (shell, file) in [
        (Shell::Bash, format!("bash/{name}")),
        (Shell::Zsh, format!("zsh/_{name}")),
        (Shell::Fish, format!("fish/{name}.fish")),
    ] {
        let path = dir.join(file);
        fs::create_dir_all(path.parent().ok_or("no parent")?)?;
        let mut script = Vec::new();
        clap_complete::generate(shell, &mut cmd, &name, &mut script);
        fs::write(path, script)?;
    }
    Ok(())
}

/// Gzip with no name and a zero time stamp, so builds are reproducible.
/// Each file of the web client, gzip-compressed into `<OUT_DIR>/web/NAME.gz`
/// for `src/web/assets.rs` to embed beside the file itself.
fn web_assets(source: &Path, out: &Path) -> Result<(), Box<dyn Error>> {
    println!("cargo::rerun-if-changed={}", source.display());
    fs::create_dir_all(out)?;
    for entry in fs::read_dir(source)? {
        let path = entry?.path();
        if path.is_file() {
            println!("cargo::rerun-if-changed={}", path.display());
            let name = path.file_name().ok_or("no file name")?.to_string_lossy();
            write_gzipped(&out.join(format!("{name}.gz")), &fs::read(&path)?)?;
        }
    }
    Ok(())
}

fn write_gzipped(path: &Path, data: &[u8]) -> Result<(), Box<dyn Error>> {
    let mut gz = GzBuilder::new()
        .mtime(0)
        .write(fs::File::create(path)?, Compression::best());
    gz.write_all(data)?;
    gz.finish()?;
    Ok(())
}
