//! Debian's `docker-registry` (the reference registry) on 127.0.0.1 on a free port, its
//! storage in a temp folder; images made in code (a config and one layer, FROM scratch)
//! pushed through the registry's HTTP API, and tags read back, independently of Terrace.

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::json;
use sha2::Digest as _;

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// What `docker push` writes; asked without it, the registry answers an older form.
const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";

pub struct Registry {
    pub host: String,
    config: PathBuf,
    child: Option<Child>,
    http: reqwest::blocking::Client,
    _dir: tempfile::TempDir,
}

fn binary() -> String {
    std::env::var("TERRACE_TEST_REGISTRY_BIN").unwrap_or_else(|_| "docker-registry".into())
}

pub fn sha256(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(sha2::Sha256::digest(bytes)))
}

impl Registry {
    pub fn start() -> Registry {
        let dir = tempfile::tempdir().expect("temp dir");
        let port = TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("port");
        let config = dir.path().join("config.yml");
        let yaml = format!(
            "version: 0.1\nlog:\n  level: info\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    \
             rootdirectory: {}\nhttp:\n  addr: 127.0.0.1:{port}\n  secret: terrace-test\n",
            dir.path().join("data").display()
        );
        std::fs::write(&config, yaml).expect("write config");
        let http = reqwest::blocking::Client::builder().timeout(Duration::from_secs(30)).build().unwrap();
        let mut r = Registry { host: format!("127.0.0.1:{port}"), config, child: None, http, _dir: dir };
        r.spawn();
        r
    }

    /// Starts the process; returns once it says it listens (bounded: 30 s).
    fn spawn(&mut self) {
        let mut child = Command::new(binary())
            .arg("serve")
            .arg(&self.config)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start docker-registry (scripts/test installs Debian's docker-registry)");
        let stderr = child.stderr.take().expect("stderr");
        self.child = Some(child);
        let (ready, wait) = mpsc::channel();
        let needle = format!("listening on {}", self.host);
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if line.contains(&needle) {
                    let _ = ready.send(());
                }
            }
        });
        wait.recv_timeout(Duration::from_secs(30)).expect("docker-registry listens within 30 s");
    }

    /// The registry's process id (to pause it with SIGSTOP), while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts it again on the same port and storage.
    pub fn restart(&mut self) {
        self.stop();
        self.spawn();
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}/v2/{path}", self.host)
    }

    fn push_blob(&self, repo: &str, bytes: &[u8]) -> String {
        let digest = sha256(bytes);
        let started = self.http.post(self.url(&format!("{repo}/blobs/uploads/"))).send().expect("start upload");
        assert_eq!(started.status().as_u16(), 202, "start upload");
        let location = started.headers()["location"].to_str().unwrap().to_string();
        let location = if location.starts_with("http") { location } else { format!("http://{}{location}", self.host) };
        let sep = if location.contains('?') { '&' } else { '?' };
        let put = self
            .http
            .put(format!("{location}{sep}digest={digest}"))
            .header("content-type", "application/octet-stream")
            .body(bytes.to_vec())
            .send()
            .expect("upload");
        assert_eq!(put.status().as_u16(), 201, "upload blob: {}", put.text().unwrap_or_default());
        digest
    }

    fn put_manifest(&self, repo: &str, reference: &str, media_type: &str, bytes: &[u8]) -> String {
        let put = self
            .http
            .put(self.url(&format!("{repo}/manifests/{reference}")))
            .header("content-type", media_type)
            .body(bytes.to_vec())
            .send()
            .expect("put manifest");
        assert_eq!(put.status().as_u16(), 201, "put manifest: {}", put.text().unwrap_or_default());
        sha256(bytes)
    }

    /// An image FROM scratch whose one layer holds `software VERSION ARCH`; pushed under
    /// `tag` when given (else by digest only). Its digest.
    pub fn push_image(&self, repo: &str, tag: Option<&str>, version: &str, arch: &str) -> String {
        self.push_image_with(repo, tag, version, arch, json!({"Labels": {"version": version}}))
    }

    /// `push_image` of an image whose ENTRYPOINT is `entrypoint`.
    pub fn push_image_running(&self, repo: &str, tag: &str, entrypoint: &[&str]) -> String {
        self.push_image_with(repo, Some(tag), "1", "amd64", json!({"Entrypoint": entrypoint, "Cmd": ["help"]}))
    }

    fn push_image_with(
        &self,
        repo: &str,
        tag: Option<&str>,
        version: &str,
        arch: &str,
        run: serde_json::Value,
    ) -> String {
        let layer = format!("software {version} {arch}\n").into_bytes();
        let config = serde_json::to_vec(&json!({
            "architecture": arch, "os": "linux", "config": run,
            "rootfs": {"type": "layers", "diff_ids": [sha256(&layer)]},
        }))
        .unwrap();
        let (cd, ld) = (self.push_blob(repo, &config), self.push_blob(repo, &layer));
        let manifest = serde_json::to_vec(&json!({
            "schemaVersion": 2, "mediaType": OCI_MANIFEST,
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd, "size": config.len()},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": ld, "size": layer.len()}],
        }))
        .unwrap();
        let digest = sha256(&manifest);
        self.put_manifest(repo, tag.unwrap_or(&digest), OCI_MANIFEST, &manifest)
    }

    /// A multi-platform index (linux/amd64 and linux/arm64) of `version` under `tag`.
    pub fn push_index(&self, repo: &str, tag: &str, version: &str) -> String {
        let children: Vec<_> = ["amd64", "arm64"]
            .iter()
            .map(|arch| {
                let d = self.push_image(repo, None, version, arch);
                let size = self.manifest_size(repo, &d);
                json!({"mediaType": OCI_MANIFEST, "digest": d, "size": size,
                       "platform": {"architecture": arch, "os": "linux"}})
            })
            .collect();
        let index =
            serde_json::to_vec(&json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": children})).unwrap();
        self.put_manifest(repo, tag, OCI_INDEX, &index)
    }

    fn manifest_size(&self, repo: &str, digest: &str) -> usize {
        let r = self
            .http
            .get(self.url(&format!("{repo}/manifests/{digest}")))
            .header("accept", OCI_MANIFEST)
            .send()
            .expect("get manifest");
        r.bytes().unwrap().len()
    }

    /// The digest `tag` points at, or None.
    pub fn tag_digest(&self, repo: &str, tag: &str) -> Option<String> {
        let r = self
            .http
            .head(self.url(&format!("{repo}/manifests/{tag}")))
            .header("accept", format!("{OCI_MANIFEST}, {OCI_INDEX}, {DOCKER_MANIFEST}"))
            .send()
            .expect("head manifest");
        if r.status().as_u16() == 404 {
            return None;
        }
        assert!(r.status().is_success(), "HEAD {repo}:{tag}: {}", r.status());
        Some(r.headers()["docker-content-digest"].to_str().unwrap().to_string())
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        self.stop();
    }
}
