//! The server cannot be taken down without a token: slow and idle connections are closed,
//! a crowd of connections neither exhausts its files nor keeps `/healthz` out, bodies
//! that trickle time out, and each client's requests are limited (429 + Retry-After).

use std::io::Write;
use std::net::TcpStream;
use std::time::Duration;

use crate::support::*;

fn healthz(server: &Server) -> u16 {
    let http = reqwest::blocking::Client::builder().timeout(Duration::from_secs(20)).build().unwrap();
    http.get(format!("{}/healthz", server.url)).send().map(|r| r.status().as_u16()).unwrap_or(0)
}

#[test]
fn slow_clients_are_closed_after_the_header_timeout_and_healthz_still_answers() {
    let f = one_job_project("#!/bin/sh\ntrue\n");
    let mut server = f.start(&["--header-timeout", "1s"]);
    let mut slow: Vec<TcpStream> = (0..300)
        .map(|_| {
            let mut s = TcpStream::connect(server.addr()).unwrap();
            s.write_all(b"GET /healthz HTTP/1.1\r\nHost: terrace\r\nX-Slow: ").unwrap();
            s
        })
        .collect();
    assert_eq!(healthz(&server), 200, "healthz answers beside the slow clients");
    for (i, s) in slow.iter_mut().enumerate() {
        assert!(closed_by_server(s), "slow client {i} was not closed");
    }
    assert!(server.stop());
}

#[test]
fn an_idle_connection_is_closed_after_the_idle_timeout() {
    let f = one_job_project("#!/bin/sh\ntrue\n");
    let mut server = f.start(&["--idle-timeout", "1s", "--header-timeout", "30s"]);
    let mut s = TcpStream::connect(server.addr()).unwrap();
    s.write_all(b"GET /healthz HTTP/1.1\r\nHost: terrace\r\n\r\n").unwrap();
    let answer = read_answer(&mut s);
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert!(closed_by_server(&mut s), "the kept-alive connection was not closed");
    assert!(server.stop());
}

#[test]
fn thousands_of_idle_connections_neither_exhaust_files_nor_keep_healthz_out() {
    let f = one_job_project("#!/bin/sh\ntrue\n");
    // 1,024 files for the server, 3,000 connections: without a cap it runs out of files.
    let mut server = Server::start_with_open_files(&f.project(), &f.data(), &[], 1024);
    let mut idle = Vec::new();
    for _ in 0..3000 {
        // Past the listen backlog a connect may wait: it is not the point here.
        if let Ok(s) = TcpStream::connect_timeout(&server.addr(), Duration::from_secs(2)) {
            idle.push(s);
        }
    }
    assert!(idle.len() > 1024, "only {} connections opened", idle.len());
    for _ in 0..3 {
        assert_eq!(healthz(&server), 200, "healthz answers beside {} idle connections", idle.len());
    }
    let log = server.log();
    assert!(log.contains("max_connections lowered"), "{log}");
    assert!(!log.contains("Too many open files"), "{log}");
    drop(idle);
    assert!(server.stop());
}

#[test]
fn a_body_that_trickles_gets_408() {
    let f = one_job_project("#!/bin/sh\ntrue\n");
    let token = f.token("operator", "op");
    let mut server = f.start(&["--request-timeout", "1s"]);
    let mut s = TcpStream::connect(server.addr()).unwrap();
    let head = format!(
        "POST /api/v1/projects/shop/environments/dev/events HTTP/1.1\r\nHost: terrace\r\nAuthorization: Bearer \
         {token}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"event\":"
    );
    s.write_all(head.as_bytes()).unwrap();
    let answer = read_answer(&mut s);
    assert_eq!(answer.status, 408, "{}", answer.body);
    assert!(answer.body.contains("request_timeout"), "{}", answer.body);
    assert!(server.stop());
}

#[test]
fn each_client_is_limited_with_429_and_retry_after() {
    let f = one_job_project("#!/bin/sh\ntrue\n");
    let (a, b) = (f.token("viewer", "a"), f.token("viewer", "b"));
    let mut server = f.start(&["--rate-limit", "1/min", "--rate-burst", "3"]);
    let (api_a, api_b, anonymous) = (server.api(Some(&a)), server.api(Some(&b)), server.api(None));
    for _ in 0..3 {
        assert_eq!(api_a.json("GET", "/projects", None).0, 200);
    }
    let refused = api_a.send("GET", "/projects", None);
    assert_eq!(refused.status().as_u16(), 429);
    let retry: u64 = refused.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry), "{retry}");
    let body: serde_json::Value = refused.json().unwrap();
    assert_eq!(body["error"]["code"], "too_many_requests", "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("token `a`"), "{body}");
    // Another token has its own budget; requests without one count against the address.
    assert_eq!(api_b.json("GET", "/projects", None).0, 200);
    let statuses: Vec<u16> = (0..4).map(|_| anonymous.json("GET", "/projects", None).0).collect();
    assert_eq!(statuses, [401, 401, 401, 429]);
    // Made-up tokens count against the address too, and /healthz is never limited.
    assert_eq!(server.api(Some("trc_made_up")).json("GET", "/projects", None).0, 429);
    for _ in 0..10 {
        assert_eq!(healthz(&server), 200);
    }
    assert!(server.stop());
}
