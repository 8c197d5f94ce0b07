//! Which webhook URLs the relay may reach, so a team cannot point it at the gateway's own
//! network: https to a public address only, unless the host is on the admin's allow-list
//! (`async_tasks.webhook_allowed_hosts`). Checked on the URL when a task is submitted and at
//! every attempt, and on every address its host resolves to when the relay connects.

use reqwest::Url;
use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Why a URL or an address is refused; the text is shown to the team.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("must be an absolute http(s) URL")]
    NotAUrl,
    #[error("must use https")]
    NotHttps,
    #[error("must not carry credentials; deliveries are signed instead")]
    Credentials,
    #[error("must not name {0}, which is internal")]
    InternalName(String),
    #[error(
        "{host} is or resolves to {ip}, a {reason} address; the relay calls no internal address"
    )]
    ForbiddenAddress {
        host: String,
        ip: IpAddr,
        reason: &'static str,
    },
}

/// The allow-list and the rules applied to every other host.
#[derive(Debug, Clone, Default)]
pub struct UrlPolicy {
    /// Lower case, without brackets or a trailing dot; addresses in canonical form.
    allowed_hosts: HashSet<String>,
}

/// A host as compared with the allow-list: lower case, no `[]`, no trailing dot, and an
/// address in its canonical spelling.
fn normalize_host(host: &str) -> String {
    let host = host.trim().trim_start_matches('[').trim_end_matches(']');
    let host = host.strip_suffix('.').unwrap_or(host).to_ascii_lowercase();
    match host.parse::<IpAddr>() {
        Ok(ip) => ip.to_string(),
        Err(_) => host,
    }
}

impl UrlPolicy {
    pub fn new(allowed_hosts: &[String]) -> Self {
        Self {
            allowed_hosts: allowed_hosts
                .iter()
                .map(|host| normalize_host(host))
                .filter(|host| !host.is_empty())
                .collect(),
        }
    }

    /// Whether the admin allowed this host (a name or an address, exactly).
    pub fn is_allowed_host(&self, host: &str) -> bool {
        self.allowed_hosts.contains(&normalize_host(host))
    }

    /// Parses and checks a team's webhook URL as written (a literal address included).
    pub fn check(&self, text: &str) -> Result<Url, Refusal> {
        let url = Url::parse(text.trim()).map_err(|_| Refusal::NotAUrl)?;
        let host = url.host_str().ok_or(Refusal::NotAUrl)?;
        let allowed = self.is_allowed_host(host);
        match url.scheme() {
            "https" => {}
            "http" if allowed => {}
            "http" => return Err(Refusal::NotHttps),
            _ => return Err(Refusal::NotAUrl),
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(Refusal::Credentials);
        }
        if allowed {
            return Ok(url);
        }
        // The URL parser spells any address literal canonically (`2130706433` and `0x7f.1`
        // become 127.0.0.1), so a host that does not parse as one is a name.
        let name = normalize_host(host);
        match name.parse::<IpAddr>() {
            Ok(ip) => self.check_address(host, ip)?,
            Err(_) => {
                if name == "localhost"
                    || name.ends_with(".localhost")
                    || name.ends_with(".internal")
                {
                    return Err(Refusal::InternalName(name));
                }
            }
        }
        Ok(url)
    }

    /// An address `host` resolved to (or names literally): refused when internal, unless
    /// the host is allow-listed.
    pub fn check_address(&self, host: &str, ip: IpAddr) -> Result<(), Refusal> {
        if self.is_allowed_host(host) {
            return Ok(());
        }
        match forbidden_reason(ip) {
            Some(reason) => Err(Refusal::ForbiddenAddress {
                host: normalize_host(host),
                ip,
                reason,
            }),
            None => Ok(()),
        }
    }
}

/// Why the relay must not reach `ip`, or `None` for a public address.
pub fn forbidden_reason(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(ip) => v4_reason(ip),
        IpAddr::V6(ip) => v6_reason(ip),
    }
}

fn v4_reason(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, _, _] = ip.octets();
    match (a, b) {
        (0, _) => Some("unspecified"),
        (127, _) => Some("loopback"),
        (10, _) | (192, 168) => Some("private"),
        (172, 16..=31) => Some("private"),
        (169, 254) => Some("link-local"),
        (100, 64..=127) => Some("shared (CGNAT)"),
        (224..=239, _) => Some("multicast"),
        (240..=255, _) => Some("reserved"),
        _ => None,
    }
}

fn v6_reason(ip: Ipv6Addr) -> Option<&'static str> {
    if ip.is_unspecified() {
        return Some("unspecified");
    }
    if ip.is_loopback() {
        return Some("loopback");
    }
    if let Some(v4) = embedded_v4(ip) {
        return v4_reason(v4);
    }
    let first = ip.segments()[0];
    match first {
        _ if first & 0xffc0 == 0xfe80 => Some("link-local"),
        // Site-local (deprecated) and unique local addresses.
        _ if first & 0xffc0 == 0xfec0 || first & 0xfe00 == 0xfc00 => Some("private"),
        _ if first & 0xff00 == 0xff00 => Some("multicast"),
        _ => None,
    }
}

/// The IPv4 address an IPv6 address stands for: IPv4-mapped (`::ffff:a.b.c.d`),
/// IPv4-compatible (`::a.b.c.d`), NAT64 (`64:ff9b::a.b.c.d`) and 6to4 (`2002:ab:cd::`).
fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return Some(v4);
    }
    let s = ip.segments();
    let low = |hi: u16, lo: u16| Ipv4Addr::from((u32::from(hi) << 16) | u32::from(lo));
    match s {
        [0, 0, 0, 0, 0, 0, hi, lo] => Some(low(hi, lo)),
        [0x64, 0xff9b, 0, 0, 0, 0, hi, lo] => Some(low(hi, lo)),
        [0x2002, hi, lo, ..] => Some(low(hi, lo)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reason(text: &str) -> Option<&'static str> {
        forbidden_reason(text.parse().unwrap())
    }

    #[test]
    fn every_internal_ipv4_range_is_refused() {
        for (ip, why) in [
            ("0.0.0.0", "unspecified"),
            ("0.1.2.3", "unspecified"),
            ("127.0.0.1", "loopback"),
            ("127.255.255.254", "loopback"),
            ("10.0.0.1", "private"),
            ("10.255.255.255", "private"),
            ("172.16.0.1", "private"),
            ("172.31.255.255", "private"),
            ("192.168.1.1", "private"),
            ("169.254.169.254", "link-local"),
            ("100.64.0.1", "shared (CGNAT)"),
            ("100.127.255.255", "shared (CGNAT)"),
            ("224.0.0.1", "multicast"),
            ("239.255.255.250", "multicast"),
            ("240.0.0.1", "reserved"),
            ("255.255.255.255", "reserved"),
        ] {
            assert_eq!(reason(ip), Some(why), "{ip}");
        }
        for ip in [
            "8.8.8.8",
            "1.1.1.1",
            "172.15.255.255",
            "172.32.0.0",
            "100.63.255.255",
            "100.128.0.0",
            "169.253.0.1",
            "192.167.1.1",
            "223.255.255.255",
        ] {
            assert_eq!(reason(ip), None, "{ip}");
        }
    }

    #[test]
    fn every_internal_ipv6_range_is_refused_and_embedded_ipv4_is_unwrapped() {
        for (ip, why) in [
            ("::", "unspecified"),
            ("::1", "loopback"),
            ("fe80::1", "link-local"),
            ("febf:ffff::1", "link-local"),
            ("fc00::1", "private"),
            ("fd12:3456::1", "private"),
            ("fec0::1", "private"),
            ("ff02::1", "multicast"),
            ("::ffff:127.0.0.1", "loopback"),
            ("::ffff:169.254.169.254", "link-local"),
            ("::ffff:10.1.2.3", "private"),
            ("::ffff:100.64.0.1", "shared (CGNAT)"),
            ("::ffff:0.0.0.0", "unspecified"),
            ("::10.0.0.1", "private"),
            ("64:ff9b::192.168.0.1", "private"),
            ("2002:7f00:1::", "loopback"),
        ] {
            assert_eq!(reason(ip), Some(why), "{ip}");
        }
        for ip in [
            "2606:4700:4700::1111",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
            "2002:808:808::1",
        ] {
            assert_eq!(reason(ip), None, "{ip}");
        }
    }

    fn refused(policy: &UrlPolicy, url: &str) -> Refusal {
        policy.check(url).unwrap_err()
    }

    #[test]
    fn only_https_to_a_public_host_passes_by_default() {
        let policy = UrlPolicy::default();
        assert!(policy.check("https://hooks.example.com/cloro?x=1").is_ok());
        assert!(policy.check("https://8.8.8.8:8443/hook").is_ok());
        assert!(policy.check("https://[2606:4700::1]/hook").is_ok());
        assert_eq!(
            refused(&policy, "http://hooks.example.com/"),
            Refusal::NotHttps
        );
        for url in [
            "ftp://hooks.example.com/",
            "file:///etc/passwd",
            "hooks.example.com/hook",
            "",
            "https://",
            "unix:/run/docker.sock",
        ] {
            assert_eq!(refused(&policy, url), Refusal::NotAUrl, "{url}");
        }
        assert_eq!(
            refused(&policy, "https://user:pass@hooks.example.com/"),
            Refusal::Credentials
        );
    }

    #[test]
    fn internal_names_and_literal_addresses_are_refused() {
        let policy = UrlPolicy::default();
        for url in [
            "https://localhost/hook",
            "https://LOCALHOST./hook",
            "https://api.localhost/hook",
            "https://metadata.google.internal/computeMetadata/v1/",
        ] {
            assert!(
                matches!(refused(&policy, url), Refusal::InternalName(_)),
                "{url}"
            );
        }
        for url in [
            "https://127.0.0.1/",
            "https://2130706433/",
            "https://0x7f.1/",
            "https://169.254.169.254/latest/meta-data/",
            "https://10.0.0.5:8080/",
            "https://[::1]/",
            "https://[::ffff:127.0.0.1]/",
            "https://[fe80::1]/",
            "https://[fd00::1]/",
            "https://100.100.100.200/",
            "https://0.0.0.0/",
            "https://224.0.0.1/",
        ] {
            assert!(
                matches!(refused(&policy, url), Refusal::ForbiddenAddress { .. }),
                "{url}"
            );
        }
    }

    #[test]
    fn the_allow_list_admits_http_and_internal_hosts_by_exact_name() {
        let policy = UrlPolicy::new(&[
            "Receiver.Internal.".to_owned(),
            "127.0.0.1".to_owned(),
            "[::1]".to_owned(),
            "localhost".to_owned(),
        ]);
        assert!(policy.check("http://receiver.internal:8080/hook").is_ok());
        assert!(policy.check("http://127.0.0.1:9000/hook").is_ok());
        assert!(policy.check("http://[::1]:9000/hook").is_ok());
        assert!(policy.check("http://localhost/hook").is_ok());
        assert!(
            policy
                .check_address("receiver.internal", "10.0.0.7".parse().unwrap())
                .is_ok()
        );
        assert_eq!(
            refused(&policy, "http://other.internal/"),
            Refusal::NotHttps
        );
        assert!(matches!(
            refused(&policy, "https://other.internal/"),
            Refusal::InternalName(_)
        ));
        assert!(matches!(
            refused(&policy, "https://127.0.0.2/"),
            Refusal::ForbiddenAddress { .. }
        ));
        assert!(
            policy
                .check_address("hooks.example.com", "10.0.0.7".parse().unwrap())
                .is_err(),
            "a public name resolving inside is refused"
        );
        assert!(
            policy
                .check_address("hooks.example.com", "93.184.216.34".parse().unwrap())
                .is_ok()
        );
    }
}
