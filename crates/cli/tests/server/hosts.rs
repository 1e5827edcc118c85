//! Several hosts on one machine: each "host" is a network namespace joined to this one
//! by a veth pair (its own address) and runs its processes in a UTS namespace of its own
//! (its own host name). A TCP forwarder on each host-side address lets the hosts reach
//! the test's PostgreSQL, which listens on 127.0.0.1 only. Everything is removed on drop.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// Says why a test that needs these hosts (or PostgreSQL) cannot run here, and skips it;
/// under CI=true it fails instead: there, the test must run.
pub fn skip(why: &str) {
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{why} (CI=true: this test must run)");
    }
    eprintln!("skipped: {why}");
}

/// One simulated host.
pub struct Host {
    pub name: String,
    netns: String,
    /// This machine's end of the veth pair.
    outside: String,
    /// This machine's end of the veth pair (reachable from the host).
    pub gateway: Ipv4Addr,
    /// The host's own address.
    pub address: Ipv4Addr,
}

fn ip(args: &[&str]) -> Result<(), String> {
    let out = Command::new("ip").args(args).output().map_err(|e| format!("cannot run `ip`: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!("`ip {}` failed: {}", args.join(" "), String::from_utf8_lossy(&out.stderr).trim()))
    }
}

impl Host {
    /// Creates host number `n` (0..) named `name`; an error says why namespaces cannot
    /// be made here (not root, no `ip`, no kernel support).
    pub fn create(n: u8, name: &str) -> Result<Host, String> {
        let tag = format!("{}{}", std::process::id() % 100_000, (b'a' + n) as char);
        // A subnet per test process and host, so parallel runs do not meet.
        let subnet = (std::process::id() % 100) as u8 * 2 + n + 20;
        let (outside, inside) = (format!("tvh{tag}"), format!("tvn{tag}"));
        let host = Host {
            name: name.to_string(),
            netns: format!("trc{tag}"),
            outside: outside.clone(),
            gateway: Ipv4Addr::new(10, 213, subnet, 1),
            address: Ipv4Addr::new(10, 213, subnet, 2),
        };
        ip(&["netns", "add", &host.netns])?;
        // From here on, drop removes what was made.
        let steps: Vec<Vec<String>> = vec![
            vec!["link", "add", &outside, "type", "veth", "peer", "name", &inside],
            vec!["link", "set", &inside, "netns", &host.netns],
            vec!["addr", "add", &format!("{}/24", host.gateway), "dev", &outside],
            vec!["link", "set", &outside, "up"],
            vec!["-n", &host.netns, "addr", "add", &format!("{}/24", host.address), "dev", &inside],
            vec!["-n", &host.netns, "link", "set", &inside, "up"],
            vec!["-n", &host.netns, "link", "set", "lo", "up"],
        ]
        .into_iter()
        .map(|v| v.into_iter().map(str::to_string).collect())
        .collect();
        for step in steps {
            let args: Vec<&str> = step.iter().map(String::as_str).collect();
            ip(&args)?;
        }
        Ok(host)
    }

    /// `program ARGS` as a process of this host: in its network namespace, under its
    /// host name.
    pub fn command(&self, program: &str) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.netns, "unshare", "--uts", "sh", "-c", "hostname \"$0\" && exec \"$@\""])
            .arg(&self.name)
            .arg(program);
        c
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        // Deleting the namespace removes its end of the veth pair, and with it the pair; the
        // pair is deleted from this end too, in case setting it up stopped before the move.
        let _ = ip(&["netns", "del", &self.netns]);
        let _ = ip(&["link", "del", &self.outside]);
    }
}

/// Forwards connections made to `listen` (a gateway address) to `target`, until dropped.
pub struct Forwarder {
    pub addr: SocketAddr,
    stop: Arc<AtomicBool>,
}

impl Forwarder {
    pub fn start(listen: Ipv4Addr, target: SocketAddr) -> Forwarder {
        let listener = TcpListener::bind((listen, 0)).expect("bind the forwarder");
        let addr = listener.local_addr().expect("forwarder address");
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                if stopped.load(Ordering::Relaxed) {
                    return;
                }
                let Ok(inbound) = conn else { continue };
                let Ok(outbound) = TcpStream::connect(target) else { continue };
                pipe(inbound.try_clone().expect("clone"), outbound.try_clone().expect("clone"));
                pipe(outbound, inbound);
            }
        });
        Forwarder { addr, stop }
    }
}

fn pipe(mut from: TcpStream, mut to: TcpStream) {
    std::thread::spawn(move || {
        let mut buf = [0u8; 16 * 1024];
        while let Ok(n) = from.read(&mut buf) {
            if n == 0 || to.write_all(&buf[..n]).is_err() {
                break;
            }
        }
        let _ = to.shutdown(std::net::Shutdown::Both);
    });
}

impl Drop for Forwarder {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect(self.addr);
    }
}
