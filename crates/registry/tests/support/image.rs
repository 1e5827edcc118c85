//! Small images built in code (a config blob and a gzipped tar layer made from one file),
//! OCI or Docker schema 2, single-platform or an index; pushed and read back through the
//! registry HTTP API with plain reqwest, independently of the client under test.

use std::io::Write;

use sha2::{Digest as _, Sha256};
use terrace_registry::media_type;

pub struct Blob {
    pub bytes: Vec<u8>,
    pub digest: String,
}

impl Blob {
    fn new(bytes: Vec<u8>) -> Blob {
        let digest = sha256(&bytes);
        Blob { bytes, digest }
    }
}

pub struct Image {
    pub config: Blob,
    pub layer: Blob,
    pub manifest: Vec<u8>,
    pub media_type: &'static str,
    pub digest: String,
}

pub struct Index {
    pub images: Vec<Image>,
    pub manifest: Vec<u8>,
    pub digest: String,
}

pub fn sha256(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// A tar.gz holding `version.txt`.
fn layer(text: &str) -> (Blob, String) {
    let mut tar = tar::Builder::new(Vec::new());
    let mut header = tar::Header::new_gnu();
    header.set_size(text.len() as u64);
    header.set_mode(0o644);
    header.set_mtime(0);
    header.set_cksum();
    tar.append_data(&mut header, "version.txt", text.as_bytes()).expect("tar");
    let tar = tar.into_inner().expect("tar");
    let diff_id = sha256(&tar);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&tar).expect("gzip");
    (Blob::new(gz.finish().expect("gzip")), diff_id)
}

fn build(version: &str, arch: &str, docker: bool) -> Image {
    build_with(version, arch, docker, serde_json::json!({"Labels": {"version": version}}))
}

/// `build`, with `config` as the image config's `config` (its Entrypoint, Cmd, Labels).
fn build_with(version: &str, arch: &str, docker: bool, config: serde_json::Value) -> Image {
    let (layer, diff_id) = layer(&format!("software {version} {arch}\n"));
    let config = serde_json::json!({
        "architecture": arch, "os": "linux",
        "config": config,
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
    });
    let config = Blob::new(serde_json::to_vec(&config).unwrap());
    let (media_type, config_type, layer_type) = if docker {
        (
            media_type::DOCKER_MANIFEST,
            "application/vnd.docker.container.image.v1+json",
            "application/vnd.docker.image.rootfs.diff.tar.gzip",
        )
    } else {
        (
            media_type::OCI_MANIFEST,
            "application/vnd.oci.image.config.v1+json",
            "application/vnd.oci.image.layer.v1.tar+gzip",
        )
    };
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": media_type,
        "config": {"mediaType": config_type, "digest": config.digest, "size": config.bytes.len()},
        "layers": [{"mediaType": layer_type, "digest": layer.digest, "size": layer.bytes.len()}],
    });
    let manifest = serde_json::to_vec_pretty(&manifest).unwrap();
    let digest = sha256(&manifest);
    Image { config, layer, manifest, media_type, digest }
}

/// An OCI image of `version` for `arch`.
pub fn image(version: &str, arch: &str) -> Image {
    build(version, arch, false)
}

/// A Docker schema 2 image of `version`.
pub fn docker_image(version: &str) -> Image {
    build(version, "amd64", true)
}

/// An OCI image of `version` whose ENTRYPOINT and CMD are these.
pub fn image_running(version: &str, arch: &str, entrypoint: &[&str], cmd: &[&str]) -> Image {
    build_with(version, arch, false, serde_json::json!({"Entrypoint": entrypoint, "Cmd": cmd}))
}

/// A multi-platform OCI index of `version`.
pub fn index(version: &str, archs: &[&str]) -> Index {
    index_of(archs.iter().map(|a| image(version, a)).collect(), archs)
}

/// A multi-platform OCI index whose image for each architecture has the CMD `[ARCH]`.
pub fn index_running(version: &str, archs: &[&str]) -> Index {
    index_of(archs.iter().map(|a| image_running(version, a, &[], &[a])).collect(), archs)
}

fn index_of(images: Vec<Image>, archs: &[&str]) -> Index {
    let manifests: Vec<_> = images
        .iter()
        .zip(archs)
        .map(|(i, arch)| {
            serde_json::json!({"mediaType": i.media_type, "digest": i.digest, "size": i.manifest.len(),
                               "platform": {"architecture": arch, "os": "linux"}})
        })
        .collect();
    let manifest = serde_json::json!({"schemaVersion": 2, "mediaType": media_type::OCI_INDEX, "manifests": manifests});
    let manifest = serde_json::to_vec(&manifest).unwrap();
    let digest = sha256(&manifest);
    Index { images, manifest, digest }
}

/// The Authorization header value for a repository, if any.
type Authorize = Box<dyn Fn(&str) -> Option<String> + Send + Sync>;

/// Pushes and reads through the registry API. `authorization` gives the Authorization
/// header for a repository (Basic, or a token minted for it).
pub struct Pusher {
    http: reqwest::Client,
    base: String,
    authorization: Authorize,
}

impl Pusher {
    pub fn new(host: &str, authorization: impl Fn(&str) -> Option<String> + Send + Sync + 'static) -> Pusher {
        Pusher {
            http: reqwest::Client::new(),
            base: format!("http://{host}/v2"),
            authorization: Box::new(authorization),
        }
    }

    pub fn anonymous(host: &str) -> Pusher {
        Pusher::new(host, |_| None)
    }

    pub fn basic(host: &str, user: &str, password: &str) -> Pusher {
        use base64::Engine as _;
        let header =
            format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}")));
        Pusher::new(host, move |_| Some(header.clone()))
    }

    fn request(&self, method: reqwest::Method, repo: &str, url: String) -> reqwest::RequestBuilder {
        let request = self.http.request(method, url);
        match (self.authorization)(repo) {
            Some(value) => request.header("authorization", value),
            None => request,
        }
    }

    pub async fn blob(&self, repo: &str, blob: &Blob) {
        let start = self.request(reqwest::Method::POST, repo, format!("{}/{repo}/blobs/uploads/", self.base));
        let answer = start.send().await.expect("start upload");
        assert_eq!(answer.status().as_u16(), 202, "start upload: {:?}", answer.text().await);
        let location = answer.headers()["location"].to_str().unwrap().to_owned();
        let mut url = reqwest::Url::parse(&self.base).unwrap().join(&location).unwrap();
        url.query_pairs_mut().append_pair("digest", &blob.digest);
        let put = self.request(reqwest::Method::PUT, repo, url.to_string()).body(blob.bytes.clone());
        let answer = put.send().await.expect("upload");
        assert_eq!(answer.status().as_u16(), 201, "upload: {:?}", answer.text().await);
    }

    pub async fn manifest(&self, repo: &str, reference: &str, media_type: &str, bytes: &[u8]) {
        let url = format!("{}/{repo}/manifests/{reference}", self.base);
        let put = self.request(reqwest::Method::PUT, repo, url).header("content-type", media_type).body(bytes.to_vec());
        let answer = put.send().await.expect("put manifest");
        assert_eq!(answer.status().as_u16(), 201, "put manifest: {:?}", answer.text().await);
    }

    pub async fn image(&self, repo: &str, tag: &str, image: &Image) {
        self.blob(repo, &image.config).await;
        self.blob(repo, &image.layer).await;
        self.manifest(repo, tag, image.media_type, &image.manifest).await;
    }

    pub async fn index(&self, repo: &str, tag: &str, index: &Index) {
        for image in &index.images {
            self.image(repo, &image.digest, image).await;
        }
        self.manifest(repo, tag, media_type::OCI_INDEX, &index.manifest).await;
    }

    /// The digest of the bytes the registry serves for `repo:reference`, None when absent.
    pub async fn digest_of(&self, repo: &str, reference: &str) -> Option<String> {
        let url = format!("{}/{repo}/manifests/{reference}", self.base);
        let answer =
            self.request(reqwest::Method::GET, repo, url).header("accept", media_type::ACCEPT).send().await.unwrap();
        match answer.status().as_u16() {
            200 => Some(sha256(&answer.bytes().await.unwrap())),
            404 => None,
            other => panic!("GET manifest {repo}:{reference}: HTTP {other}"),
        }
    }

    pub async fn has_blob(&self, repo: &str, digest: &str) -> bool {
        let url = format!("{}/{repo}/blobs/{digest}", self.base);
        let answer = self.request(reqwest::Method::HEAD, repo, url).send().await.unwrap();
        answer.status().as_u16() == 200
    }
}
