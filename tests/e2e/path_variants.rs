//! Path variants against the scope guards. Every route of every guarded family (`/admin`,
//! `/finance`, `/team`, `/v1`), taken from the OpenAPI document, is called with its path
//! percent-encoded, double-encoded, with an encoded slash, NUL or invalid UTF-8, doubled
//! slashes, a trailing slash, another case, dot segments, a `;`, a backslash and in absolute
//! form, over a raw connection so no client normalises the path, with no token and with a
//! team, a finance and an admin token.
//!
//! What the router does with each variant is asserted, so a change of actix's matching shows
//! up here (see `Routed`): a percent-encoded unreserved character is decoded before routing,
//! so `/%61dmin/teams` is `/admin/teams`, and an absolute-form target routes by its path;
//! everything else (an encoded slash, `%25`, doubled slashes, a trailing slash, another case)
//! is matched as written, so it names no handler, and dot segments, plain or encoded, are not
//! resolved: `/team/../admin/teams` is inside `/team` and meets the team guard.
//! Whatever the router does, a caller outside a family's role never gets past a guard: the
//! answer is the guard's 401/403 or a 404, never a success and never a 5xx. A variant the
//! router matches behaves exactly like the canonical path for the family's own role too: the
//! same status, error code and body (its shape: values such as a reconciliation's
//! `observedAt` differ from call to call); checked on the GET routes, which change nothing,
//! while the other methods are sent only where a guard or a 404 answers, never a handler.

use e2e_tests::TestApp;
use serde_json::Value;
use std::collections::HashMap;
use std::collections::hash_map::Entry;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The guarded families, and the roles each one's guard admits.
const FAMILIES: [(&str, &[&str]); 4] = [
    ("admin", &["admin"]),
    ("finance", &["finance", "admin"]),
    ("team", &["team"]),
    ("v1", &["team"]),
];

fn admits(family: &str, role: Option<&str>) -> bool {
    FAMILIES
        .iter()
        .any(|(name, roles)| *name == family && role.is_some_and(|role| roles.contains(&role)))
}

/// Another family whose guard admits other roles (for `/<other>/../<family>/...`).
fn other_family(family: &str) -> &'static str {
    match family {
        "team" | "v1" => "admin",
        _ => "team",
    }
}

/// Where the router sends a variant.
#[derive(Debug, Clone, Copy)]
enum Routed {
    /// To the canonical route: it is the same request.
    Same,
    /// Into this family's scope, where no handler takes it: the guard, then 404.
    InScope(&'static str),
    /// Into no scope: the application's 404.
    Unrouted,
}

/// `/<family><rest>` rewritten every way the test tries, with where each one must land.
fn variants(family: &'static str, rest: &str) -> Vec<(&'static str, String, Routed)> {
    let hex = |c: char| format!("%{:02x}", c as u32);
    let (first, tail) = family.split_at(1);
    let first = first.chars().next().unwrap();
    let upper_encoded: String = family
        .chars()
        .map(|c| format!("%{:02X}", c as u32))
        .collect();
    let segment = rest.trim_start_matches('/');
    let (seg_first, seg_tail) = segment.split_at(1);
    let seg_first = seg_first.chars().next().unwrap();
    let other = other_family(family);
    let mut capitalised = first.to_ascii_uppercase().to_string();
    capitalised.push_str(tail);
    vec![
        (
            "encoded letter",
            format!("/{}{tail}{rest}", hex(first)),
            Routed::Same,
        ),
        (
            "encoded family",
            format!("/{upper_encoded}{rest}"),
            Routed::Same,
        ),
        (
            "encoded letter after the family",
            format!("/{family}/{}{seg_tail}", hex(seg_first)),
            Routed::Same,
        ),
        (
            "double-encoded letter",
            format!("/%25{:02x}{tail}{rest}", first as u32),
            Routed::Unrouted,
        ),
        (
            "encoded slash",
            format!("/{family}%2F{segment}"),
            Routed::Unrouted,
        ),
        (
            "leading doubled slash",
            format!("//{family}{rest}"),
            Routed::Unrouted,
        ),
        (
            "inner doubled slash",
            format!("/{family}/{rest}"),
            Routed::InScope(family),
        ),
        (
            "trailing slash",
            format!("/{family}{rest}/"),
            Routed::InScope(family),
        ),
        (
            "mixed-case family",
            format!("/{capitalised}{rest}"),
            Routed::Unrouted,
        ),
        (
            "upper-case family",
            format!("/{}{rest}", family.to_uppercase()),
            Routed::Unrouted,
        ),
        (
            "mixed-case route",
            format!("/{family}/{}{seg_tail}", seg_first.to_ascii_uppercase()),
            Routed::InScope(family),
        ),
        (
            "dot segment",
            format!("/{family}/.{rest}"),
            Routed::InScope(family),
        ),
        (
            "dot-dot back into the family",
            format!("/{family}/../{family}{rest}"),
            Routed::InScope(family),
        ),
        (
            "dot-dot from another family",
            format!("/{other}/../{family}{rest}"),
            Routed::InScope(other),
        ),
        (
            "encoded NUL",
            format!("/{family}/%00{segment}"),
            Routed::InScope(family),
        ),
        (
            "encoded invalid UTF-8",
            format!("/{family}/%FF{segment}"),
            Routed::InScope(family),
        ),
        (
            "matrix parameter",
            format!("/{family};x{rest}"),
            Routed::Unrouted,
        ),
        (
            "backslash",
            format!("/{family}\\{segment}"),
            Routed::Unrouted,
        ),
        (
            "absolute form",
            format!("http://gateway.invalid/{family}{rest}"),
            Routed::Same,
        ),
        (
            "encoded dot-dot from another family",
            format!("/{other}/%2e%2E/{family}{rest}"),
            Routed::InScope(other),
        ),
    ]
}

/// A response read off the wire: status and body (de-chunked).
struct Answer {
    status: u16,
    body: Vec<u8>,
}

impl Answer {
    /// The `error.code` of cloro's envelope, or "" when the body is not one.
    fn code(&self) -> String {
        serde_json::from_slice::<Value>(&self.body)
            .ok()
            .and_then(|json| json["error"]["code"].as_str().map(str::to_owned))
            .unwrap_or_default()
    }

    /// What must not differ between two calls of one route: the status, the error code and
    /// the body's shape (a JSON body's keys, all the way down; another body's first line).
    /// Values may (a reconciliation's `observedAt` differs from one call to the next).
    fn outline(&self) -> (u16, String, Value) {
        let shape = match serde_json::from_slice::<Value>(&self.body) {
            Ok(json) => shape(&json),
            Err(_) => Value::String(
                String::from_utf8_lossy(&self.body)
                    .lines()
                    .next()
                    .unwrap_or("")
                    .to_owned(),
            ),
        };
        (self.status, self.code(), shape)
    }
}

impl std::fmt::Debug for Answer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let body = String::from_utf8_lossy(&self.body);
        let body: String = body.chars().take(300).collect();
        write!(f, "{} {body}", self.status)
    }
}

/// A JSON value with every scalar replaced by null.
fn shape(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(key, value)| (key.clone(), shape(value)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(shape).collect()),
        _ => Value::Null,
    }
}

/// Sends `method target` exactly as written (HTTP/1.1, one request per connection).
async fn send(port: u16, method: &str, target: &str, token: Option<&str>) -> Answer {
    let mut head = format!("{method} {target} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n");
    if let Some(token) = token {
        head.push_str(&format!("Authorization: Bearer {token}\r\n"));
    }
    let body = if method == "GET" || method == "DELETE" {
        ""
    } else {
        "{}"
    };
    head.push_str(&format!(
        "Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    ));
    let mut stream = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut received = Vec::new();
    stream.read_to_end(&mut received).await.unwrap();
    let split = received
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("{method} {target}: no response head"));
    let head = String::from_utf8_lossy(&received[..split]).to_lowercase();
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("{method} {target}: bad status line in {head}"));
    let raw = &received[split + 4..];
    let body = if head.contains("transfer-encoding: chunked") {
        dechunk(raw)
    } else {
        raw.to_vec()
    };
    Answer { status, body }
}

fn dechunk(mut raw: &[u8]) -> Vec<u8> {
    let mut body = Vec::new();
    while let Some(line_end) = raw.windows(2).position(|w| w == b"\r\n") {
        let size = std::str::from_utf8(&raw[..line_end]).unwrap();
        let size = usize::from_str_radix(size.split(';').next().unwrap().trim(), 16).unwrap();
        if size == 0 {
            break;
        }
        let start = line_end + 2;
        body.extend_from_slice(&raw[start..start + size]);
        raw = &raw[start + size + 2..];
    }
    body
}

/// What a guard answers a caller it does not admit: 401 without a token, else 403.
fn refusal(role: Option<&str>) -> (u16, &'static str) {
    match role {
        None => (401, "MISSING_API_KEY"),
        Some(_) => (403, "FORBIDDEN"),
    }
}

/// What `routed` must answer `role`, or None where it is the canonical route's own answer.
fn expected(family: &str, routed: Routed, role: Option<&str>) -> Option<(u16, &'static str)> {
    match routed {
        Routed::Same if admits(family, role) => None,
        Routed::Same => Some(refusal(role)),
        Routed::InScope(scope) if admits(scope, role) => Some((404, "RESOURCE_NOT_FOUND")),
        Routed::InScope(_) => Some(refusal(role)),
        Routed::Unrouted => Some((404, "RESOURCE_NOT_FOUND")),
    }
}

/// The path with every `{parameter}` filled in.
fn concrete(path: &str) -> String {
    path.split('/')
        .map(|part| match part {
            "{slug}" => "alpha".to_owned(),
            p if p.starts_with('{') => "0190b3c4-0000-7000-8000-000000000000".to_owned(),
            p => p.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// Every guarded route of the OpenAPI document: (method, family, path after the family).
fn guarded_routes() -> Vec<(String, &'static str, String)> {
    let document = serde_json::to_value(cloro_gateway::openapi::document()).unwrap();
    let mut routes = Vec::new();
    for (path, item) in document["paths"].as_object().unwrap() {
        let Some((family, rest)) = FAMILIES.iter().find_map(|(family, _)| {
            path.strip_prefix(&format!("/{family}/"))
                .map(|rest| (*family, format!("/{}", concrete(rest))))
        }) else {
            continue;
        };
        for method in item.as_object().unwrap().keys() {
            routes.push((method.to_uppercase(), family, rest.clone()));
        }
    }
    routes
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_path_variant_of_a_guarded_route_gets_past_its_guard() {
    let app = TestApp::spawn().await.unwrap();
    app.create_team("alpha").await;
    let callers = [
        (None, None),
        (Some("team"), Some(app.team_token("alpha").await)),
        (Some("finance"), Some(app.finance_token().await)),
        (Some("admin"), Some(app.admin_token().await)),
    ];
    let routes = guarded_routes();
    let families: Vec<_> = routes.iter().map(|(_, family, _)| *family).collect();
    for (family, _) in FAMILIES {
        assert!(families.contains(&family), "no /{family} route found");
    }
    let mut canonical = HashMap::new();
    let (mut checked, mut compared) = (0, 0);
    for (method, family, rest) in &routes {
        for (kind, target, routed) in variants(family, rest) {
            for (role, token) in &callers {
                let want = expected(family, routed, *role);
                if want.is_none() && method != "GET" {
                    // The family's own role on a non-GET route: the handler would act.
                    continue;
                }
                let got = send(app.port, method, &target, token.as_deref()).await;
                let context = format!("{kind}: {method} {target} as {role:?}");
                assert!(got.status < 500, "{context}: {got:?}");
                if !admits(family, *role) {
                    assert!(
                        [401, 403, 404].contains(&got.status),
                        "{context} got past the guard: {got:?}"
                    );
                }
                match want {
                    Some((status, code)) => {
                        assert_eq!(
                            (got.status, got.code().as_str()),
                            (status, code),
                            "{context}"
                        );
                    }
                    None => {
                        let same = match canonical.entry((format!("/{family}{rest}"), *role)) {
                            Entry::Occupied(known) => known.into_mut(),
                            Entry::Vacant(slot) => {
                                let path = slot.key().0.clone();
                                slot.insert(send(app.port, method, &path, token.as_deref()).await)
                            }
                        };
                        assert!(same.status < 500, "{method} /{family}{rest}: {same:?}");
                        assert_eq!(
                            got.outline(),
                            same.outline(),
                            "{context} differs from the canonical path: {got:?} against {same:?}"
                        );
                        compared += 1;
                    }
                }
                checked += 1;
            }
        }
    }
    assert!(routes.len() >= 40, "only {} routes found", routes.len());
    assert!(
        compared >= 60,
        "only {compared} variants compared with the canonical path"
    );
    eprintln!("{checked} variant requests, {compared} compared with the canonical path");
    app.shutdown().await.unwrap();
}

/// A path no handler takes inside a family's scope (an unknown route, a method no handler
/// takes) can only be refused by the scope's own guard: the 404 behind it takes no token.
#[tokio::test]
async fn each_family_scope_is_guarded_before_its_routes() {
    let app = TestApp::spawn().await.unwrap();
    app.create_team("alpha").await;
    let callers = [
        (None, None),
        (Some("team"), Some(app.team_token("alpha").await)),
        (Some("finance"), Some(app.finance_token().await)),
        (Some("admin"), Some(app.admin_token().await)),
    ];
    let unknown = [
        ("GET", "admin", "/admin/no-such-route"),
        ("PUT", "admin", "/admin/teams"),
        ("GET", "admin", "/admin"),
        ("GET", "finance", "/finance/no-such-route"),
        ("POST", "finance", "/finance/entries"),
        ("GET", "team", "/team/no-such-route"),
        ("DELETE", "team", "/team/quota"),
        ("GET", "v1", "/v1/no-such-route"),
        ("GET", "v1", "/v1/monitor/chatgpt"),
        ("POST", "v1", "/v1/"),
    ];
    for (method, family, path) in unknown {
        for (role, token) in &callers {
            let got = send(app.port, method, path, token.as_deref()).await;
            let want = expected(family, Routed::InScope(family), *role);
            assert_eq!(
                Some((got.status, got.code().as_str())),
                want,
                "{method} {path} as {role:?}"
            );
        }
    }
    // Outside every scope: cloro's webhook takes no token, a path of no family is a 404.
    let delivery = send(app.port, "POST", "/webhooks/cloro", None).await;
    assert!(
        delivery.status != 404
            && !["MISSING_API_KEY", "FORBIDDEN"].contains(&delivery.code().as_str()),
        "{delivery:?}"
    );
    let nowhere = send(app.port, "GET", "/teams", None).await;
    assert_eq!(
        (nowhere.status, nowhere.code().as_str()),
        (404, "RESOURCE_NOT_FOUND")
    );
    app.shutdown().await.unwrap();
}
