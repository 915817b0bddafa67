//! TLS protocol versions offered by an https:// target.
//!
//! TLS 1.2 and 1.3 are tried with rustls. rustls cannot speak TLS 1.0 or 1.1 at all, so those
//! are checked with a hand-built ClientHello sent over TCP: a ServerHello of that version means
//! the server accepts it; an alert or a closed connection means it refuses.

use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::ServerName;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use url::Url;

use crate::client::{Client, tls_config_with};
use crate::finding::{Evidence, Finding, Severity};
use crate::rules::catalog;

/// Timeout of each connection attempt.
const TIMEOUT: Duration = Duration::from_secs(5);

/// What the server answered to a raw ClientHello.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Answer {
    /// A ServerHello choosing this version.
    ServerHello(u16),
    /// A TLS alert (description code).
    Alert(u8),
    /// The connection closed or the answer was not TLS.
    Nothing,
}

/// Runs the probe against the target (host and port of `target`).
pub(crate) async fn run(client: &Client, target: &Url) -> Vec<Finding> {
    let mut findings = Vec::new();
    let (Some(host), Some(port)) = (target.host_str(), target.port_or_known_default()) else {
        return findings;
    };
    let address = format!("{host}:{port}");
    let name = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();

    for (version, label) in [(0x0301u16, "TLS 1.0"), (0x0302, "TLS 1.1")] {
        if client.pace().await.is_err() {
            return findings;
        }
        let answer = raw_hello(&address, &name, version).await;
        if let Answer::ServerHello(chosen) = answer
            && chosen <= version
        {
            let detail = format!(
                "the server completed a ServerHello for {label} (version 0x{chosen:04x}); \
                 rustls cannot speak it, so a raw ClientHello was used"
            );
            let evidence = Evidence {
                request: format!(
                    "TCP {address}: ClientHello, max version 0x{version:04x} ({label})"
                ),
                response: format!("ServerHello, version 0x{chosen:04x}"),
            };
            let f = Finding::new(&catalog::OLD_TLS, target.as_str(), label, detail, evidence);
            let severity = if version == 0x0302 {
                Severity::Medium
            } else {
                Severity::High
            };
            findings.push(f.with_severity(severity));
        }
    }

    for (version, label) in [
        (&rustls::version::TLS13, "TLS 1.3"),
        (&rustls::version::TLS12, "TLS 1.2"),
    ] {
        if client.pace().await.is_err() {
            return findings;
        }
        if let Err(message) = rustls_handshake(&address, &name, version).await {
            let rule = if label == "TLS 1.3" {
                &catalog::NO_TLS13
            } else {
                &catalog::TLS12_STATUS
            };
            let detail = format!("a {label}-only handshake failed: {message}");
            let evidence = Evidence {
                request: format!("TCP {address}: rustls ClientHello, {label} only"),
                response: message,
            };
            findings.push(Finding::new(rule, target.as_str(), label, detail, evidence));
        }
    }
    findings
}

/// A handshake with rustls restricted to one version; any certificate is accepted because only
/// the protocol version matters here.
async fn rustls_handshake(
    address: &str,
    host: &str,
    version: &'static rustls::SupportedProtocolVersion,
) -> Result<(), String> {
    let config = tls_config_with(Some(host), &[version], false).map_err(|e| e.to_string())?;
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let server_name = ServerName::try_from(host.to_owned()).map_err(|e| e.to_string())?;
    let attempt = async {
        let tcp = TcpStream::connect(address)
            .await
            .map_err(|e| e.to_string())?;
        connector
            .connect(server_name, tcp)
            .await
            .map_err(|e| e.to_string())?;
        Ok(())
    };
    tokio::time::timeout(TIMEOUT, attempt)
        .await
        .unwrap_or_else(|_| Err("timed out".to_owned()))
}

/// Sends a ClientHello offering at most `version` and reads the answer.
pub(crate) async fn raw_hello(address: &str, host: &str, version: u16) -> Answer {
    let attempt = async {
        let mut tcp = TcpStream::connect(address).await.ok()?;
        tcp.write_all(&client_hello(version, host)).await.ok()?;
        let mut header = [0u8; 5];
        tcp.read_exact(&mut header).await.ok()?;
        let length = usize::from(u16::from_be_bytes([header[3], header[4]]));
        let mut record = vec![0u8; length.min(16 * 1024)];
        tcp.read_exact(&mut record).await.ok()?;
        Some(parse_answer(header[0], &record))
    };
    tokio::time::timeout(TIMEOUT, attempt)
        .await
        .ok()
        .flatten()
        .unwrap_or(Answer::Nothing)
}

/// Reads the first record of the server's answer.
pub(crate) fn parse_answer(content_type: u8, record: &[u8]) -> Answer {
    match content_type {
        0x15 if record.len() >= 2 => Answer::Alert(record[1]),
        0x16 if record.len() >= 6 && record[0] == 0x02 => {
            Answer::ServerHello(u16::from_be_bytes([record[4], record[5]]))
        }
        _ => Answer::Nothing,
    }
}

/// A minimal ClientHello offering `version` with ECDHE and RSA suites of that era.
pub(crate) fn client_hello(version: u16, host: &str) -> Vec<u8> {
    const SUITES: [u16; 8] = [
        0xc014, 0xc013, 0xc00a, 0xc009, 0x0035, 0x002f, 0x000a, 0x00ff,
    ];
    let mut extensions = Vec::new();
    if host.parse::<std::net::IpAddr>().is_err() && !host.is_empty() {
        let name = host.as_bytes();
        let mut sni = Vec::new();
        push_u16(&mut sni, len16(name.len() + 3));
        sni.push(0);
        push_u16(&mut sni, len16(name.len()));
        sni.extend_from_slice(name);
        push_extension(&mut extensions, 0x0000, &sni);
    }
    push_extension(
        &mut extensions,
        0x000a,
        &[0x00, 0x06, 0x00, 0x1d, 0x00, 0x17, 0x00, 0x18],
    );
    push_extension(&mut extensions, 0x000b, &[0x01, 0x00]);

    let mut hello = Vec::new();
    push_u16(&mut hello, version);
    let random: [u8; 32] = rand::random();
    hello.extend_from_slice(&random);
    hello.push(0); // no session id
    push_u16(&mut hello, len16(SUITES.len() * 2));
    for suite in SUITES {
        push_u16(&mut hello, suite);
    }
    hello.extend_from_slice(&[1, 0]); // null compression only
    push_u16(&mut hello, len16(extensions.len()));
    hello.extend_from_slice(&extensions);

    let mut handshake = vec![0x01];
    let length = u32::try_from(hello.len()).unwrap_or(0).to_be_bytes();
    handshake.extend_from_slice(&length[1..]);
    handshake.extend_from_slice(&hello);

    let mut record = vec![0x16, 0x03, 0x01];
    push_u16(&mut record, len16(handshake.len()));
    record.extend_from_slice(&handshake);
    record
}

fn push_u16(out: &mut Vec<u8>, value: u16) {
    out.extend_from_slice(&value.to_be_bytes());
}

fn len16(n: usize) -> u16 {
    u16::try_from(n).unwrap_or(u16::MAX)
}

fn push_extension(out: &mut Vec<u8>, kind: u16, data: &[u8]) {
    push_u16(out, kind);
    push_u16(out, len16(data.len()));
    out.extend_from_slice(data);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_client_hello_is_well_formed() {
        let hello = client_hello(0x0301, "localhost");
        assert_eq!(&hello[..3], &[0x16, 0x03, 0x01]);
        let record_len = usize::from(u16::from_be_bytes([hello[3], hello[4]]));
        assert_eq!(record_len, hello.len() - 5);
        assert_eq!(hello[5], 0x01);
        let hs_len =
            usize::from(hello[6]) << 16 | usize::from(hello[7]) << 8 | usize::from(hello[8]);
        assert_eq!(hs_len, hello.len() - 9);
        assert_eq!(&hello[9..11], &[0x03, 0x01]);
        assert!(hello.windows(9).any(|w| w == b"localhost"));
    }

    /// A fake server that answers every ClientHello with a ServerHello of the offered version,
    /// as an old TLS stack would.
    async fn old_tls_server() -> std::net::SocketAddr {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut tcp, _)) = listener.accept().await {
                let mut hello = [0u8; 11];
                if tcp.read_exact(&mut hello).await.is_err() {
                    continue;
                }
                let version = [hello[9], hello[10]];
                let mut body = vec![0x02, 0, 0, 38, version[0], version[1]];
                body.extend_from_slice(&[7u8; 32]);
                body.extend_from_slice(&[0, 0xc0, 0x14, 0]);
                let mut record = vec![0x16, 0x03, 0x01, 0, u8::try_from(body.len()).unwrap()];
                record.extend_from_slice(&body);
                let _ = tcp.write_all(&record).await;
            }
        });
        addr
    }

    #[tokio::test]
    async fn a_server_accepting_tls_1_0_and_1_1_is_reported() {
        let addr = old_tls_server().await;
        assert_eq!(
            raw_hello(&addr.to_string(), "127.0.0.1", 0x0301).await,
            Answer::ServerHello(0x0301)
        );

        let target = Url::parse(&format!("https://{addr}/")).unwrap();
        let options = crate::client::ClientOptions {
            target: target.clone(),
            extra_origins: Vec::new(),
            rate_interval: Duration::from_millis(1),
            deadline: tokio::time::Instant::now() + Duration::from_secs(30),
            insecure_tls_ok: true,
        };
        let client = Client::new(options, indicatif::ProgressBar::hidden()).unwrap();
        let findings = run(&client, &target).await;
        let old: Vec<_> = findings
            .iter()
            .filter(|f| f.rule == "PAL-TLS-010")
            .map(|f| f.severity)
            .collect();
        assert_eq!(old, [Severity::High, Severity::Medium]);
        // The fake cannot finish a modern handshake: 1.3 is reported missing too.
        assert!(findings.iter().any(|f| f.rule == "PAL-TLS-011"));
    }

    #[tokio::test]
    async fn a_closed_port_answers_nothing() {
        let closed = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        assert_eq!(
            raw_hello(&closed.to_string(), "localhost", 0x0301).await,
            Answer::Nothing
        );
    }

    #[test]
    fn answers_are_read_from_the_first_record() {
        assert_eq!(parse_answer(0x15, &[2, 70]), Answer::Alert(70));
        assert_eq!(
            parse_answer(0x16, &[2, 0, 0, 70, 3, 1]),
            Answer::ServerHello(0x0301)
        );
        assert_eq!(parse_answer(0x17, &[]), Answer::Nothing);
    }
}
