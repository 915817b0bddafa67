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

/// Runs `palisade` with `stdin` as standard input.
fn palisade_with_input(args: &[&str], env: &[(&str, &str)], stdin: &str) -> Output {
    use std::io::Write as _;
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_palisade"));
    cmd.args(args);
    for (k, _) in std::env::vars() {
        if k.starts_with("PALISADE_") {
            cmd.env_remove(k);
        }
    }
    cmd.envs(env.iter().copied());
    cmd.stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

fn text(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn user_create_list_disable_and_enable_manage_the_data_directory() {
    let dir = tempfile::tempdir().unwrap();
    let env = [("PALISADE_DATA_DIR", dir.path().to_str().unwrap())];
    let create = |email: &str, admin: bool, password: &str| {
        let mut args = vec!["user", "create", "--email", email, "--password-stdin"];
        if admin {
            args.push("--admin");
        }
        palisade_with_input(&args, &env, &format!("{password}\n"))
    };

    let out = create("Root@Example.COM", true, "tidal quartz lantern fog 42");
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert_eq!(stdout.trim(), "created Root@example.com (id 1), admin");
    let out = create("ann@example.com", false, "amber violin harbor mist 17");
    assert!(out.status.success(), "{}", text(&out).1);

    // Refused: a weak password, a taken address (in any case), a malformed address, no password.
    for (email, password) in [
        ("weak@example.com", "password"),
        ("root@example.com", "copper meadow ribbon dusk 5"),
        ("not an address", "copper meadow ribbon dusk 5"),
        ("empty@example.com", ""),
    ] {
        let out = create(email, false, password);
        assert_eq!(out.status.code(), Some(2), "{email}");
        assert!(text(&out).1.starts_with("palisade: "), "{email}");
    }

    let out = palisade(&["user", "list"], &env);
    assert!(out.status.success());
    assert_eq!(
        text(&out).0,
        "1\tRoot@example.com\tactive\tadmin\n2\tann@example.com\tactive\tuser\n"
    );

    let out = palisade(&["user", "disable", "ANN@example.com"], &env);
    assert!(out.status.success(), "{}", text(&out).1);
    assert_eq!(
        text(&out).0.trim(),
        "disabled ANN@example.com; 0 sessions ended"
    );
    let out = palisade(&["user", "list"], &env);
    assert!(text(&out).0.contains("2\tann@example.com\tdisabled\tuser"));

    let out = palisade(&["user", "enable", "ann@example.com"], &env);
    assert!(out.status.success());
    let out = palisade(&["user", "list"], &env);
    assert!(text(&out).0.contains("2\tann@example.com\tactive\tuser"));

    let out = palisade(&["user", "disable", "nobody@example.com"], &env);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).1.contains("no account uses nobody@example.com"));
}

#[test]
fn user_invite_prints_a_registration_link_on_the_public_url() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();
    let env = [
        ("PALISADE_DATA_DIR", data),
        ("PALISADE_PUBLIC_URL", "https://files.example.com"),
    ];
    let out = palisade(&["user", "invite", "--email", "new@example.com"], &env);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    let token = stdout
        .trim()
        .strip_prefix("https://files.example.com/register?invite=")
        .unwrap_or_else(|| panic!("{stdout}"));
    assert_eq!(token.len(), 43, "32 random bytes, base64url");

    // The flag beats the variable; each invitation is a new token.
    let out = palisade(
        &[
            "user",
            "invite",
            "--email",
            "new@example.com",
            "--public-url",
            "https://drop.example.org",
        ],
        &env,
    );
    let (second, _) = text(&out);
    assert!(second.starts_with("https://drop.example.org/register?invite="));
    assert_ne!(second.trim().rsplit('=').next(), Some(token));

    // An address that has an account needs no invitation.
    let out = palisade_with_input(
        &[
            "user",
            "create",
            "--email",
            "old@example.com",
            "--password-stdin",
        ],
        &env,
        "tidal quartz lantern fog 42\n",
    );
    assert!(out.status.success());
    let out = palisade(&["user", "invite", "--email", "old@example.com"], &env);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).1.contains("already has an account"));
}
