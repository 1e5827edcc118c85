//! A real `terrace server` for the scenarios that measure the API (C and E).

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context;

use crate::fixture::Fixture;

/// A token of `role` made on the store, as an operator bootstraps one (docs/server.md).
pub fn create_token(bin: &Path, fx: &Fixture, role: &str) -> anyhow::Result<String> {
    let out = Command::new(bin)
        .args(["token", "create", "--role", role, "--name", "bench", "--data"])
        .arg(&fx.data)
        .env_remove("TERRACE_SERVER")
        .stdin(Stdio::null())
        .output()?;
    anyhow::ensure!(out.status.success(), "terrace token create failed: {}", String::from_utf8_lossy(&out.stderr));
    Ok(String::from_utf8(out.stdout)?.trim().to_string())
}

/// `terrace server` on 127.0.0.1 (a free port) over the fixture's data folder; killed
/// when dropped.
pub struct Server {
    child: Child,
    pub url: String,
}

impl Server {
    pub fn start(bin: &Path, fx: &Fixture) -> anyhow::Result<Server> {
        let log = fx.data.join("server.log");
        let child = Command::new(bin)
            // The benchmark is one client sending as fast as it can: no per-client limit.
            .args(["server", "--listen", "127.0.0.1:0", "--rate-limit", "0", "--project"])
            .arg(fx.project_file())
            .arg("--data")
            .arg(&fx.data)
            .env("TERRACE_LOG", "warn")
            .env_remove("TERRACE_SERVER")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log)?)
            .spawn()
            .context("spawning terrace server")?;
        let mut server = Server { child, url: String::new() };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            if let Some(rest) = text.split("listening on ").nth(1) {
                server.url = rest.lines().next().unwrap_or_default().trim().to_string();
                return Ok(server);
            }
            if let Some(status) = server.child.try_wait()? {
                anyhow::bail!("terrace server exited ({status}) before listening:\n{text}");
            }
            anyhow::ensure!(Instant::now() < deadline, "terrace server did not listen within 30 s:\n{text}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The peak resident set of the server so far (VmHWM), in KiB.
    pub fn peak_rss_kib(&self) -> anyhow::Result<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))?;
        let line = status.lines().find(|l| l.starts_with("VmHWM:")).context("no VmHWM")?;
        Ok(line.split_whitespace().nth(1).context("VmHWM value")?.parse()?)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
