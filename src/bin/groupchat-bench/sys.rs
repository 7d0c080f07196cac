//! Operating-system limits and the server's resource use, checked up front so
//! that a large run refuses to start rather than failing half-way.

use std::fs;
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, ToSocketAddrs};

use crate::Error;

/// File descriptors kept for the poller, stdio and /proc reads.
const RESERVED_FDS: u64 = 64;
/// Share of a source address's ephemeral ports the harness plans to use.
/// Linux's connect searches the even half of the range first (bind gets the
/// odd one), and the search slows sharply once most of that half is taken:
/// 19,900 clients from one address spent 83% of the harness's time in the
/// kernel's port search and took 6.7 s to connect, against 0.5 s over two
/// addresses.
const PORT_SHARE: f64 = 0.4;

/// Resolves `--server` and refuses anything outside 127.0.0.0/8: the harness
/// only ever loads a server on this machine.
pub fn loopback_server(spec: &str) -> Result<SocketAddr, Error> {
    let addrs = spec
        .to_socket_addrs()
        .map_err(|e| format!("--server {spec}: {e}"))?;
    let mut seen = Vec::new();
    for a in addrs {
        if let IpAddr::V4(v4) = a.ip()
            && v4.is_loopback()
        {
            return Ok(a);
        }
        seen.push(a.to_string());
    }
    Err(format!(
        "--server {spec} resolves to {seen:?}: only IPv4 loopback (127.0.0.0/8) servers are allowed"
    )
    .into())
}

/// Raises the soft RLIMIT_NOFILE to the hard limit and returns the new soft
/// limit: tens of thousands of sockets need it and no shell setting should.
pub fn raise_nofile() -> Result<u64, Error> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct we own.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return Err(format!("getrlimit(RLIMIT_NOFILE): {}", io::Error::last_os_error()).into());
    }
    if lim.rlim_cur < lim.rlim_max {
        let raised = libc::rlimit {
            rlim_cur: lim.rlim_max,
            rlim_max: lim.rlim_max,
        };
        // SAFETY: setrlimit only reads the struct.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } != 0 {
            return Err(format!(
                "setrlimit(RLIMIT_NOFILE, {}): {}",
                lim.rlim_max,
                io::Error::last_os_error()
            )
            .into());
        }
        lim.rlim_cur = lim.rlim_max;
    }
    Ok(lim.rlim_cur)
}

fn ephemeral_ports() -> Result<u64, Error> {
    let path = "/proc/sys/net/ipv4/ip_local_port_range";
    let text = fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
    let mut it = text.split_whitespace().map(str::parse::<u64>);
    match (it.next(), it.next()) {
        (Some(Ok(lo)), Some(Ok(hi))) if hi >= lo => Ok(hi - lo + 1),
        _ => Err(format!("{path}: unexpected content {text:?}").into()),
    }
}

/// Checks that `clients` simultaneous connections fit in this process's file
/// limit and in the loopback source ports, and picks the source addresses to
/// spread them over. An empty list means "let the kernel choose", which keeps
/// the common small run identical to any other IRC client.
pub fn plan_sources(clients: u64, forced: Option<u8>) -> Result<Vec<Ipv4Addr>, Error> {
    let nofile = raise_nofile()?;
    if clients + RESERVED_FDS > nofile {
        return Err(format!(
            "{clients} clients need {} file descriptors but RLIMIT_NOFILE (hard limit) is {nofile}: \
             ask for at most {} clients or raise the hard limit",
            clients + RESERVED_FDS,
            nofile.saturating_sub(RESERVED_FDS)
        )
        .into());
    }
    let per_source = (ephemeral_ports()? as f64 * PORT_SHARE) as u64;
    let needed = clients.div_ceil(per_source.max(1)).max(1);
    let count = match forced {
        Some(n) if u64::from(n) < needed => {
            return Err(format!(
                "{clients} clients need {needed} source addresses ({per_source} ports each), \
                 but --sources {n} was given"
            )
            .into());
        }
        Some(n) => u64::from(n),
        None if needed == 1 => return Ok(Vec::new()),
        None => needed,
    };
    if count > 254 {
        return Err(format!(
            "{clients} clients need {count} source addresses in 127.0.0.0/24; at most 254 are used"
        )
        .into());
    }
    Ok((1..=count)
        .filter_map(|i| u8::try_from(i).ok())
        .map(|i| Ipv4Addr::new(127, 0, 0, i))
        .collect())
}

/// User plus system CPU time of a process in nanoseconds (from clock ticks in
/// /proc/PID/stat, so the resolution is one tick, usually 10 ms).
pub fn cpu_ns(pid: u32) -> Result<u64, Error> {
    let path = format!("/proc/{pid}/stat");
    let text = fs::read_to_string(&path).map_err(|e| format!("{path}: {e}"))?;
    // The command name may contain spaces and parentheses: fields are counted
    // after the last ')'. Field 3 (state) is index 0, so utime (14) is 11.
    let after = text
        .rfind(')')
        .map(|i| &text[i + 1..])
        .ok_or_else(|| format!("{path}: no ')' in {text:?}"))?;
    let fields: Vec<&str> = after.split_whitespace().collect();
    let tick = |i: usize| -> Result<u64, Error> {
        fields
            .get(i)
            .and_then(|f| f.parse::<u64>().ok())
            .ok_or_else(|| format!("{path}: field {} missing or not a number", i + 3).into())
    };
    let ticks = tick(11)? + tick(12)?;
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if hz <= 0 {
        return Err("sysconf(_SC_CLK_TCK) failed".into());
    }
    Ok(ticks * 1_000_000_000 / hz as u64)
}

/// Resident set size of a process in KiB, from VmRSS in /proc/PID/status.
pub fn rss_kib(pid: u32) -> Result<u64, Error> {
    let path = format!("/proc/{pid}/status");
    let text = fs::read_to_string(&path).map_err(|e| format!("{path}: {e}"))?;
    text.lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| format!("{path}: no VmRSS line").into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_non_loopback_servers() {
        assert!(loopback_server("127.0.0.1:6667").is_ok());
        assert!(loopback_server("127.3.2.1:6667").is_ok());
        assert!(loopback_server("10.0.0.1:6667").is_err());
        assert!(loopback_server("[::1]:6667").is_err());
    }

    #[test]
    fn reads_own_process_usage() -> Result<(), Error> {
        let pid = std::process::id();
        assert!(rss_kib(pid)? > 0);
        cpu_ns(pid)?;
        Ok(())
    }

    #[test]
    fn refuses_more_clients_than_file_descriptors() {
        let err = plan_sources(10_000_000, None).map(|_| ());
        assert!(err.is_err_and(|e| e.to_string().contains("RLIMIT_NOFILE")));
    }
}
