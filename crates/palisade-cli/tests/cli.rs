//! The `palisade` binary as an operator runs it.

use std::process::{Command, Output};

fn palisade(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_palisade"));
    cmd.args(args);
    for (k, _) in std::env::vars() {
        if k.starts_with("PALISADE_") {
            cmd.env_remove(k);
        }
    }
    cmd.envs(env.iter().copied());
    cmd.output().unwrap()
}

fn production_with_key(key: &str) -> Output {
    let dir = tempfile::tempdir().unwrap();
    palisade(
        &["serve"],
        &[
            ("PALISADE_MODE", "production"),
            ("PALISADE_SECRET_KEY", key),
            ("PALISADE_DATA_DIR", dir.path().to_str().unwrap()),
            ("PALISADE_PUBLIC_URL", "https://files.example.com"),
            ("PALISADE_TRUSTED_PROXIES", "127.0.0.1"),
            ("PALISADE_TLS_TERMINATED_BY_PROXY", "true"),
            ("PALISADE_HTTPS_ADDR", "127.0.0.1:0"),
            ("PALISADE_HTTP_ADDR", "off"),
        ],
    )
}

#[test]
fn production_refuses_a_placeholder_key() {
    let out = production_with_key("top-secret!");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("placeholder") && err.contains("palisade secret generate"),
        "{err}"
    );
}

#[test]
fn production_refuses_a_short_or_low_entropy_key() {
    for key in [
        "short-key-1234",
        &"ab".repeat(40),
        "0123456789abcdef0123456789abcdef",
    ] {
        let out = production_with_key(key);
        assert!(!out.status.success(), "{key}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("too weak") && err.contains("32 random bytes"),
            "{key}: {err}"
        );
    }
}

#[test]
fn production_refuses_a_ring_with_one_weak_old_key() {
    let good = String::from_utf8(palisade(&["secret", "generate"], &[]).stdout).unwrap();
    let out = production_with_key(&format!("{},changeme", good.trim()));
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("number 2"));
}

#[test]
fn production_refuses_to_start_without_a_key() {
    let dir = tempfile::tempdir().unwrap();
    let out = palisade(
        &["serve", "--data-dir", dir.path().to_str().unwrap()],
        &[
            ("PALISADE_MODE", "production"),
            ("PALISADE_PUBLIC_URL", "https://files.example.com"),
            ("PALISADE_TRUSTED_PROXIES", "127.0.0.1"),
            ("PALISADE_TLS_TERMINATED_BY_PROXY", "true"),
        ],
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no secret key is configured"), "{err}");
    // Nothing was generated silently.
    assert!(!dir.path().join("secret.key").exists());
}

#[test]
fn secret_generate_prints_a_fresh_strong_key() {
    let a = String::from_utf8(palisade(&["secret", "generate"], &[]).stdout).unwrap();
    let b = String::from_utf8(palisade(&["secret", "generate"], &[]).stdout).unwrap();
    assert_ne!(a, b);
    palisade::secret::check_key(a.trim(), 1).unwrap();
}

#[test]
fn serve_help_documents_every_variable() {
    let out = palisade(&["serve", "--help"], &[]);
    let help = String::from_utf8_lossy(&out.stdout);
    for var in [
        "PALISADE_MODE",
        "PALISADE_DATA_DIR",
        "PALISADE_HTTPS_ADDR",
        "PALISADE_HTTP_ADDR",
        "PALISADE_PUBLIC_URL",
        "PALISADE_SECRET_KEY",
        "PALISADE_TLS_CERT",
        "PALISADE_TLS_KEY",
        "PALISADE_TRUSTED_PROXIES",
        "PALISADE_SESSION_IDLE_TIMEOUT",
        "PALISADE_SESSION_ABSOLUTE_TIMEOUT",
    ] {
        assert!(help.contains(var), "{var} missing from serve --help");
    }
}

#[test]
fn a_config_file_with_a_typo_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("palisade.toml");
    std::fs::write(&file, "data_dri = \"x\"\n").unwrap();
    let out = palisade(&["serve", "--config", file.to_str().unwrap()], &[]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("data_dri"));
}
