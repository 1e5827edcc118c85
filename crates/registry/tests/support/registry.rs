//! Debian's `docker-registry` (distribution 2.8, the reference registry) on 127.0.0.1 on a
//! free port, with its storage in a temp folder and its YAML configuration written here.
//! Stopped on drop; `kill` and `restart` (same port, same storage) for outage tests.

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use terrace_registry::{Reference, Repository};

pub enum Auth {
    None,
    Htpasswd { user: String, password: String },
    Token { realm: String, service: String, issuer: String, root_pem: PathBuf },
}

/// Kills the registry from anywhere (a proxy rule), and waits for it to be gone.
#[derive(Clone)]
pub struct Killer(Arc<Mutex<Option<Child>>>);

impl Killer {
    pub fn kill(&self) {
        if let Some(mut child) = self.0.lock().unwrap().take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

pub struct Registry {
    pub host: String,
    config: PathBuf,
    child: Killer,
    _dir: tempfile::TempDir,
}

fn binary() -> String {
    if let Ok(bin) = std::env::var("TERRACE_TEST_REGISTRY_BIN") {
        return bin;
    }
    let on_path = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join("docker-registry").is_file()))
        .unwrap_or(false);
    assert!(
        on_path,
        "docker-registry is not on PATH: run the tests with scripts/test, which installs Debian's docker-registry"
    );
    "docker-registry".into()
}

impl Registry {
    pub fn start(auth: Auth) -> Registry {
        let dir = tempfile::tempdir().expect("temp dir");
        let port = TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("free port");
        let auth_yaml = match auth {
            Auth::None => String::new(),
            Auth::Htpasswd { user, password } => {
                let hash =
                    bcrypt::hash_with_result(&password, 4).expect("bcrypt").format_for_version(bcrypt::Version::TwoY);
                let path = dir.path().join("htpasswd");
                std::fs::write(&path, format!("{user}:{hash}\n")).expect("write htpasswd");
                format!("auth:\n  htpasswd:\n    realm: terrace-test\n    path: {}\n", path.display())
            }
            Auth::Token { realm, service, issuer, root_pem } => format!(
                "auth:\n  token:\n    realm: {realm}\n    service: {service}\n    issuer: {issuer}\n    rootcertbundle: {}\n",
                root_pem.display()
            ),
        };
        let config = dir.path().join("config.yml");
        let yaml = format!(
            "version: 0.1\nlog:\n  level: info\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: {}\n  \
             delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:{port}\n  secret: terrace-test-secret\n{auth_yaml}",
            dir.path().join("data").display()
        );
        std::fs::write(&config, yaml).expect("write config");
        let registry = Registry {
            host: format!("127.0.0.1:{port}"),
            config,
            child: Killer(Arc::new(Mutex::new(None))),
            _dir: dir,
        };
        registry.spawn();
        registry
    }

    /// Starts the process and returns once it logged that it listens (its own signal of
    /// readiness), failing after 30 s with what it printed.
    fn spawn(&self) {
        let mut child = Command::new(binary())
            .arg("serve")
            .arg(&self.config)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start docker-registry");
        let stderr = child.stderr.take().expect("stderr");
        *self.child.0.lock().unwrap() = Some(child);
        let (ready, wait) = mpsc::channel();
        let needle = format!("listening on {}", self.host);
        std::thread::spawn(move || {
            let mut seen = String::new();
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if line.contains(&needle) {
                    let _ = ready.send(Ok(()));
                }
                if seen.len() < 16_384 {
                    seen.push_str(&line);
                    seen.push('\n');
                }
            }
            let _ = ready.send(Err(seen));
        });
        match wait.recv_timeout(Duration::from_secs(30)) {
            Ok(Ok(())) => {}
            Ok(Err(log)) => panic!("docker-registry exited before listening:\n{log}"),
            Err(_) => panic!("docker-registry did not listen on {} within 30 s", self.host),
        }
    }

    pub fn killer(&self) -> Killer {
        self.child.clone()
    }

    pub fn kill(&self) {
        self.child.kill();
    }

    /// Starts it again on the same port and storage.
    pub fn restart(&self) {
        self.child.kill();
        self.spawn();
    }

    pub fn repo(&self, path: &str) -> Repository {
        Repository::parse(&format!("{}/{path}", self.host)).expect("repository")
    }

    pub fn reference(&self, rest: &str) -> Reference {
        Reference::parse(&format!("{}/{rest}", self.host)).expect("reference")
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        self.child.kill();
    }
}
