//! The real `terrace server` on 127.0.0.1 (a random port), a project for it, tokens,
//! and a blocking HTTP client; every wait is bounded and every server is stopped.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use hmac::{Hmac, Mac};
use reqwest::blocking::{Client, Response};
use serde_json::Value;
use sha2::Sha256;

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_terrace")
}

/// The data folder's own master key (`master.key`, created when missing), which the
/// server and local mode on that folder use: records seeded straight on the store must
/// be sealed with it, since the store refuses any other key.
pub fn data_key(data: &Path) -> terrace_store::Cipher {
    terrace_store::Cipher::load_or_create(data).expect("the data folder's master key")
}

/// A temporary folder with a project and the server's data folder.
pub struct Fixture {
    pub dir: tempfile::TempDir,
}

impl Fixture {
    pub fn new(yaml: &str) -> Fixture {
        let f = Fixture { dir: tempfile::tempdir().expect("tempdir") };
        f.write("proj/terrace.yaml", yaml);
        f
    }

    pub fn project(&self) -> PathBuf {
        self.dir.path().join("proj")
    }

    pub fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// `terrace ARGS` in local mode on the fixture's project with the data folder `data`
    /// (no server, no master key from the environment but those in `env`).
    pub fn local_in(&self, data: &Path, args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
        let out = Command::new(bin())
            .args(args)
            .arg("--project")
            .arg(self.project())
            .arg("--data")
            .arg(data)
            .env_remove("TERRACE_SERVER")
            .env_remove("TERRACE_MASTER_KEY")
            .envs(env.iter().copied())
            .output()
            .expect("run terrace");
        let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        (out.status.code().unwrap_or(-1), text(&out.stdout), text(&out.stderr))
    }

    /// Writes a file under the fixture; `.sh` files are made executable.
    pub fn write(&self, rel: &str, content: &str) {
        let path = self.dir.path().join(rel);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(&path, content).expect("write");
        if rel.ends_with(".sh") {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        }
    }

    /// A token made directly on the store, as an operator bootstraps the first admin.
    pub fn token(&self, role: &str, name: &str) -> String {
        self.token_with_env(role, name, &[])
    }

    /// [`Fixture::token`] with the server's environment (its TERRACE_MASTER_KEY: the
    /// store refuses any other key).
    pub fn token_with_env(&self, role: &str, name: &str, env: &[(&str, &str)]) -> String {
        let out = Command::new(bin())
            .args(["token", "create", "--role", role, "--name", name, "--data"])
            .arg(self.data())
            .env_remove("TERRACE_SERVER")
            .envs(env.iter().copied())
            .output()
            .expect("run terrace token create");
        assert!(out.status.success(), "token create failed: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).expect("utf8").trim().to_string()
    }

    /// A pool token made directly on the store, for `terrace agent --pool POOL`.
    pub fn pool_token(&self, pool: &str, name: &str) -> String {
        let out = Command::new(bin())
            .args(["token", "create", "--pool", pool, "--name", name, "--data"])
            .arg(self.data())
            .env_remove("TERRACE_SERVER")
            .output()
            .expect("run terrace token create --pool");
        assert!(out.status.success(), "token create --pool: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).expect("utf8").trim().to_string()
    }

    pub fn start(&self, extra: &[&str]) -> Server {
        Server::start(&self.project(), &self.data(), extra)
    }
}

pub struct Server {
    child: Option<Child>,
    pub url: String,
    log: PathBuf,
}

impl Server {
    pub fn start(project: &Path, data: &Path, extra: &[&str]) -> Server {
        Server::start_with_env(project, data, extra, &[])
    }

    pub fn start_with_env(project: &Path, data: &Path, extra: &[&str], env: &[(&str, &str)]) -> Server {
        Server::spawn(Command::new(bin()), "127.0.0.1:0", project, data, extra, env)
    }

    /// A server that may open at most `files` files (its `ulimit -n`).
    pub fn start_with_open_files(project: &Path, data: &Path, extra: &[&str], files: u64) -> Server {
        let mut command = Command::new(bin());
        use std::os::unix::process::CommandExt;
        // SAFETY: setrlimit is async-signal-safe; nothing else runs between fork and exec.
        unsafe {
            command.pre_exec(move || {
                nix::sys::resource::setrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE, files, files)
                    .map_err(std::io::Error::from)
            });
        }
        Server::spawn(command, "127.0.0.1:0", project, data, extra, &[])
    }

    /// `command` (the `terrace` binary, or a wrapper that runs it with the arguments
    /// given after) as `server --listen LISTEN` on the project and data folder, with
    /// `extra`, waited for until it listens.
    pub fn spawn(
        mut command: Command,
        listen: &str,
        project: &Path,
        data: &Path,
        extra: &[&str],
        env: &[(&str, &str)],
    ) -> Server {
        std::fs::create_dir_all(data).expect("data dir");
        static STARTS: AtomicUsize = AtomicUsize::new(0);
        let log = data.join(format!("server-{}.log", STARTS.fetch_add(1, Ordering::Relaxed)));
        let stderr = std::fs::File::create(&log).expect("log file");
        command
            .args(["server", "--listen", listen, "--poll", "200ms", "--project"])
            .arg(project)
            .arg("--data")
            .arg(data)
            .args(extra)
            .env("TERRACE_LOG", "info")
            .env_remove("TERRACE_SERVER")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr);
        let child = command.spawn().expect("spawn terrace server");
        let mut server = Server { child: Some(child), url: String::new(), log };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let text = std::fs::read_to_string(&server.log).unwrap_or_default();
            if let Some(rest) = text.split("terrace server listening on ").nth(1) {
                server.url = rest.lines().next().expect("line").trim().to_string();
                return server;
            }
            if let Some(status) = server.child.as_mut().and_then(|c| c.try_wait().ok().flatten()) {
                panic!("terrace server exited ({status}) before listening:\n{text}");
            }
            assert!(Instant::now() < deadline, "terrace server did not listen within 30s:\n{text}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGKILL, as a crash.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGTERM and wait (bounded) for a clean exit; returns whether it exited 0.
    pub fn stop(&mut self) -> bool {
        let Some(mut c) = self.child.take() else { return false };
        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(c.id() as i32), nix::sys::signal::Signal::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = c.try_wait() {
                return status.success();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = c.kill();
        let _ = c.wait();
        false
    }

    /// The server's address, for raw sockets.
    pub fn addr(&self) -> std::net::SocketAddr {
        self.url.trim_start_matches("http://").parse().expect("server address")
    }

    pub fn api(&self, token: Option<&str>) -> Api {
        Api { base: format!("{}/api/v1", self.url), token: token.map(str::to_string), http: client() }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill9();
    }
}

pub fn client() -> Client {
    Client::builder().timeout(Duration::from_secs(60)).build().expect("http client")
}

/// Calls to `/api/v1` with one token.
pub struct Api {
    pub base: String,
    pub token: Option<String>,
    pub http: Client,
}

impl Api {
    pub fn send(&self, method: &str, path: &str, body: Option<&str>) -> Response {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some(t) = &self.token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.header("content-type", "application/json").body(b.to_string());
        }
        req.send().expect("HTTP request")
    }

    /// Sends and returns (status, JSON body or Null).
    pub fn json(&self, method: &str, path: &str, body: Option<&str>) -> (u16, Value) {
        let resp = self.send(method, path, body);
        let status = resp.status().as_u16();
        let text = resp.text().unwrap_or_default();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    #[track_caller]
    pub fn ok(&self, method: &str, path: &str, body: Option<&str>) -> Value {
        let (status, v) = self.json(method, path, body);
        assert!((200..300).contains(&status), "{method} {path}: {status} {v}");
        v
    }

    /// Polls a request until it is final (bounded).
    #[track_caller]
    pub fn wait_request(&self, id: &str, within: Duration) -> Value {
        let deadline = Instant::now() + within;
        loop {
            let r = self.ok("GET", &format!("/requests/{id}"), None);
            if !matches!(r["state"].as_str(), Some("queued" | "running")) {
                return r;
            }
            assert!(Instant::now() < deadline, "request {id} still {} after {within:?}: {r}", r["state"]);
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// Polls `check` until it returns Some (bounded).
#[track_caller]
/// Runs the `terrace` CLI in client mode against `server` with `token`, from `cwd`:
/// (exit code, stdout, stderr).
pub fn terrace(server: &Server, token: &str, cwd: &std::path::Path, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(bin())
        .args(args)
        .current_dir(cwd)
        .env("TERRACE_SERVER", &server.url)
        .env("TERRACE_TOKEN", token)
        .output()
        .expect("run terrace");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

pub fn eventually<T>(within: Duration, what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + within;
    loop {
        if let Some(v) = check() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out after {within:?} waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A project with one environment `dev` and one job `app` whose start script is given.
pub fn one_job_project(start_sh: &str) -> Fixture {
    let f = Fixture::new(
        "project: shop\nenvironments:\n  dev: {}\njobs:\n  app:\n    source: app\n    events: [start, stop, delete]\n    \
         commands:\n      start: ./start.sh\n      stop: \"true\"\n      delete: ./delete.sh\n",
    );
    f.write("proj/app/start.sh", start_sh);
    f.write("proj/app/delete.sh", "#!/bin/sh\nsleep 1\necho deleted\n");
    f
}

/// An answer read off a raw socket: status, headers (lower-case names), body.
pub struct RawAnswer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl RawAnswer {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }
}

/// Reads one HTTP/1.1 answer (with a Content-Length) from `stream`, bounded in time.
pub fn read_answer(stream: &mut std::net::TcpStream) -> RawAnswer {
    use std::io::Read;
    stream.set_read_timeout(Some(Duration::from_secs(30))).expect("read timeout");
    let mut data = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        if let Some(end) = data.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&data[..end]).to_string();
            let mut lines = head.split("\r\n");
            let status = lines.next().and_then(|l| l.split(' ').nth(1)).and_then(|s| s.parse().ok()).expect("status");
            let headers: Vec<(String, String)> = lines
                .filter_map(|l| l.split_once(':'))
                .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
                .collect();
            let len: usize = headers.iter().find(|(n, _)| n == "content-length").map_or(0, |(_, v)| v.parse().unwrap());
            if data.len() >= end + 4 + len {
                let body = String::from_utf8_lossy(&data[end + 4..end + 4 + len]).to_string();
                return RawAnswer { status, headers, body };
            }
        }
        let n = stream.read(&mut buf).expect("read the answer");
        assert!(n > 0, "the connection closed before a whole answer: {}", String::from_utf8_lossy(&data));
        data.extend_from_slice(&buf[..n]);
    }
}

/// Whether the server closes `stream` (end of file or reset) within 30 s.
pub fn closed_by_server(stream: &mut std::net::TcpStream) -> bool {
    use std::io::Read;
    stream.set_read_timeout(Some(Duration::from_secs(30))).expect("read timeout");
    let mut buf = [0u8; 1024];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return true,
            Err(_) => return false,
        }
    }
}

/// The webhook secret and token the tests configure, and deliveries signed with them as
/// GitHub and GitLab sign theirs.
pub const SECRET: &str = "It's a Secret to Everybody";
pub const GITLAB_TOKEN: &str = "gl-hook-token-7f3e";

pub fn fixture(forge: &str, name: &str) -> Vec<u8> {
    std::fs::read(format!("{}/../forge/tests/fixtures/{forge}/{name}.json", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

pub fn sign(body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

pub fn github(server: &Server, event: &str, delivery: &str, body: &[u8], signature: Option<String>) -> (u16, Value) {
    let mut req = client()
        .post(format!("{}/hooks/github", server.url))
        .header("content-type", "application/json")
        .header("user-agent", "GitHub-Hookshot/c2d4f15")
        .header("x-github-event", event)
        .header("x-github-delivery", delivery)
        .body(body.to_vec());
    if let Some(s) = signature {
        req = req.header("x-hub-signature-256", s);
    }
    let resp = req.send().expect("POST /hooks/github");
    let status = resp.status().as_u16();
    (status, serde_json::from_str(&resp.text().unwrap_or_default()).unwrap_or(Value::Null))
}

pub fn gitlab(server: &Server, event: &str, uuid: &str, body: &[u8], token: &str) -> (u16, Value) {
    let resp = client()
        .post(format!("{}/hooks/gitlab", server.url))
        .header("content-type", "application/json")
        .header("x-gitlab-event", event)
        .header("x-gitlab-event-uuid", uuid)
        .header("x-gitlab-token", token)
        .body(body.to_vec())
        .send()
        .expect("POST /hooks/gitlab");
    let status = resp.status().as_u16();
    (status, serde_json::from_str(&resp.text().unwrap_or_default()).unwrap_or(Value::Null))
}
