//! Real tools for the IaC template tests: Terraform on PATH and a moto server on
//! 127.0.0.1. `scripts/test` installs both when missing; a test without them fails and
//! says how to get them (it never skips silently).
#![allow(dead_code)]

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn on_path(program: &str) -> bool {
    std::env::var_os("PATH").map(|p| std::env::split_paths(&p).any(|d| d.join(program).is_file())).unwrap_or(false)
}

#[track_caller]
pub fn require_terraform() {
    assert!(on_path("terraform"), "terraform is not on PATH: run the tests with scripts/test, which installs it");
}

/// A moto server for this test, stopped on drop.
pub struct Moto {
    child: Child,
    pub url: String,
}

impl Moto {
    #[track_caller]
    pub fn start() -> Moto {
        assert!(on_path("aws"), "the aws CLI is not on PATH: run the tests with scripts/test, which installs it");
        let program = std::env::var("TERRACE_TEST_MOTO_SERVER").unwrap_or_else(|_| "moto_server".into());
        let port = TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("free port");
        let child = Command::new(&program)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot start {program} ({e}): run the tests with scripts/test, which installs moto")
            });
        let url = format!("http://127.0.0.1:{port}");
        let moto = Moto { child, url };
        let deadline = Instant::now() + Duration::from_secs(60);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "moto did not start in 60 s");
            std::thread::sleep(Duration::from_millis(100));
        }
        moto
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
