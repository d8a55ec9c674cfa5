//! Plain HTTP/1.1 against a real server on a loopback port, so tests
//! control every byte of a request; and the real binary's `serve`.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;

pub const BIN: &str = env!("CARGO_BIN_EXE_workflow-history");

#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Response {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {} {}", self.status, self.body))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Asserts an error answer: this status, JSON with this code and a detail.
    #[track_caller]
    pub fn assert_error(&self, status: u16, code: &str) -> String {
        assert_eq!(self.status, status, "{}", self.body);
        assert_eq!(self.header("content-type"), Some("application/json"));
        let body = self.json();
        assert_eq!(body["error"], code, "{body}");
        let detail = body["detail"].as_str().expect("a detail");
        assert!(!detail.is_empty());
        detail.to_owned()
    }
}

/// One request on a fresh connection, read to the end.
pub fn request(addr: SocketAddr, method: &str, target: &str, headers: &[(&str, &str)]) -> Response {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .expect("timeout");
    let mut head = format!("{method} {target} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).expect("send");
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).expect("read");
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("end of head");
    let head = String::from_utf8(raw[..split].to_vec()).expect("UTF-8 head");
    let mut body = raw[split + 4..].to_vec();
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .expect("status line");
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(": "))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    if headers
        .iter()
        .any(|(k, v)| k.eq_ignore_ascii_case("transfer-encoding") && v == "chunked")
    {
        body = dechunk(&body);
    }
    Response {
        status,
        headers,
        body: String::from_utf8(body).expect("UTF-8 body"),
    }
}

/// A GET: the whole response.
pub fn get(addr: SocketAddr, target: &str) -> Response {
    request(addr, "GET", target, &[])
}

fn dechunk(mut raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let line_end = raw
            .windows(2)
            .position(|w| w == b"\r\n")
            .expect("chunk size");
        let size = usize::from_str_radix(
            std::str::from_utf8(&raw[..line_end]).expect("hex").trim(),
            16,
        )
        .expect("hex size");
        if size == 0 {
            return out;
        }
        let start = line_end + 2;
        out.extend_from_slice(&raw[start..start + size]);
        raw = &raw[start + size + 2..];
    }
}

/// Percent-encodes a query value.
pub fn enc(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// `workflow-history serve` on a free loopback port; killed when dropped.
pub struct Served {
    pub addr: SocketAddr,
    pub child: Child,
}

impl Served {
    /// Runs the binary with `args` (which should include `serve --addr
    /// 127.0.0.1:0`) and `envs`, and reads the address it prints.
    pub fn start(args: &[&str], envs: &[(&str, &str)]) -> Served {
        let mut command = Command::new(BIN);
        command
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (name, value) in envs {
            command.env(name, value);
        }
        let mut child = command.spawn().expect("start the server");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("first line");
        let addr: SocketAddr = line
            .trim()
            .strip_prefix("listening on http://")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .parse()
            .expect("address");
        Served { addr, child }
    }

    /// Serves the database at `url` with no other option.
    pub fn database(url: &str) -> Served {
        Served::start(&["--db", url, "serve", "--addr", "127.0.0.1:0"], &[])
    }

    /// Serves the database at `path`, both given by the environment as a
    /// service manager would: the database and the admin token.
    pub fn from_environment(path: &std::path::Path, admin_token: &str) -> Served {
        Served::start(
            &["serve", "--addr", "127.0.0.1:0"],
            &[
                ("WORKFLOW_HISTORY_DATABASE_URL", &path.display().to_string()),
                ("WORKFLOW_HISTORY_ADMIN_TOKEN", admin_token),
            ],
        )
    }

    pub fn get(&self, target: &str) -> Response {
        get(self.addr, target)
    }

    /// Stops the server and returns what it wrote to stderr.
    pub fn stop(mut self) -> String {
        let _ = self.child.kill();
        let mut log = String::new();
        if let Some(mut stderr) = self.child.stderr.take() {
            let _ = stderr.read_to_string(&mut log);
        }
        log
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
