//! A stand-in for Slack and webhook endpoints on 127.0.0.1: it records every request
//! (path, headers, body) and answers the statuses queued for a path, then 200. Stopped
//! (its thread joined) on drop.

use std::collections::{HashMap, VecDeque};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

#[derive(Clone, Debug)]
pub struct Call {
    pub path: String,
    /// Lower-case names.
    pub headers: HashMap<String, String>,
    pub body: Vec<u8>,
    /// What the listener answered.
    pub status: u16,
}

#[derive(Default)]
struct Shared {
    calls: Vec<Call>,
    answers: HashMap<String, VecDeque<u16>>,
}

pub struct Listener {
    pub url: String,
    shared: Arc<Mutex<Shared>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Listener {
    pub fn start() -> Listener {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.set_nonblocking(true).expect("nonblocking");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let shared = Arc::new(Mutex::new(Shared::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let (s, st) = (shared.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            while !st.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((stream, _)) => serve(stream, &s),
                    Err(_) => std::thread::sleep(Duration::from_millis(20)),
                }
            }
        });
        Listener { url, shared, stop, thread: Some(thread) }
    }

    /// The next requests to `path` get these statuses, in order.
    pub fn answer(&self, path: &str, statuses: &[u16]) {
        self.shared.lock().unwrap().answers.entry(path.to_string()).or_default().extend(statuses);
    }

    pub fn calls(&self, path: &str) -> Vec<Call> {
        self.shared.lock().unwrap().calls.iter().filter(|c| c.path == path).cloned().collect()
    }
}

fn serve(stream: std::net::TcpStream, shared: &Mutex<Shared>) {
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    if reader.read_line(&mut line).is_err() {
        return;
    }
    let path = line.split_whitespace().nth(1).unwrap_or_default().to_string();
    let mut headers = HashMap::new();
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).is_err() || h.trim().is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
        }
    }
    let length = headers.get("content-length").and_then(|l| l.parse().ok()).unwrap_or(0);
    let mut body = vec![0; length];
    if reader.read_exact(&mut body).is_err() {
        return;
    }
    let status = {
        let mut s = shared.lock().unwrap();
        let status = s.answers.get_mut(&path).and_then(VecDeque::pop_front).unwrap_or(200);
        s.calls.push(Call { path, headers, body, status });
        status
    };
    let answer = format!("HTTP/1.1 {status} X\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok");
    let _ = reader.get_mut().write_all(answer.as_bytes());
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
