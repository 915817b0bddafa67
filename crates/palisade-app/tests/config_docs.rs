//! `docs/configuration.md` documents every setting of `palisade serve`, and nothing else.
//!
//! [`Settings`] is the single list of settings: each field is a TOML key, a `--flag` and a
//! `PALISADE_*` variable. A field added without its section in the doc fails here, as does a
//! section left behind for a field that was removed, and a sample file that no longer parses.

use palisade_app::{AppConfig, Settings};

const DOC: &str = include_str!("../../../docs/configuration.md");

/// Every setting's name, as serde (and so the TOML file) spells it.
fn setting_names() -> Vec<String> {
    let value = serde_json::to_value(Settings::default()).expect("settings serialize");
    let object = value.as_object().expect("settings serialize as a map");
    object.keys().cloned().collect()
}

/// True when `token` appears in `text` as a whole word: not inside a longer name.
fn has_token(text: &str, token: &str) -> bool {
    let is_name_char = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '-';
    text.match_indices(token).any(|(at, _)| {
        let before = text[..at].chars().next_back();
        let after = text[at + token.len()..].chars().next();
        !before.is_some_and(is_name_char) && !after.is_some_and(is_name_char)
    })
}

/// The body of the setting's section: from its `### `name`` heading to the next heading.
fn section<'a>(name: &str) -> Option<&'a str> {
    let heading = format!("### `{name}`\n");
    let start = DOC.find(&heading)? + heading.len();
    let end = DOC[start..].find("\n##").map_or(DOC.len(), |i| start + i);
    Some(&DOC[start..end])
}

#[test]
fn every_setting_has_a_section_with_its_key_flag_and_variable() {
    let mut missing = Vec::new();
    for name in setting_names() {
        let flag = format!("--{}", name.replace('_', "-"));
        let env = format!("PALISADE_{}", name.to_ascii_uppercase());
        let Some(body) = section(&name) else {
            missing.push(format!("no `### `{name}`` section"));
            continue;
        };
        for (what, token) in [
            ("TOML key", name.as_str()),
            ("flag", &flag),
            ("variable", &env),
        ] {
            if !has_token(body, token) {
                missing.push(format!(
                    "{name}: the {what} `{token}` is not in its section"
                ));
            }
        }
        for label in ["Default", "Production"] {
            if !body.contains(&format!("**{label}**")) {
                missing.push(format!("{name}: no **{label}** line"));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "docs/configuration.md is out of date:\n{}",
        missing.join("\n")
    );
}

#[test]
fn every_documented_setting_exists() {
    let names = setting_names();
    let settings = DOC
        .split("\n## ")
        .find(|part| part.starts_with("Settings"))
        .expect("a Settings chapter");
    let documented: Vec<&str> = settings
        .lines()
        .filter_map(|line| line.strip_prefix("### `")?.strip_suffix('`'))
        .collect();
    let stale: Vec<&&str> = documented
        .iter()
        .filter(|d| !names.iter().any(|n| n == *d))
        .collect();
    assert!(
        stale.is_empty(),
        "docs/configuration.md documents settings that do not exist: {stale:?}"
    );
}

/// The TOML samples of the doc: every ```toml block.
fn toml_samples() -> Vec<&'static str> {
    DOC.split("```toml\n")
        .skip(1)
        .map(|rest| &rest[..rest.find("```").expect("closed block")])
        .collect()
}

#[test]
fn the_sample_files_parse_and_resolve() {
    let samples = toml_samples();
    assert!(
        samples.len() >= 2,
        "expected a development and a production sample"
    );
    for sample in samples {
        let settings: Settings = toml::from_str(sample)
            .unwrap_or_else(|err| panic!("sample does not parse: {err}\n{sample}"));
        AppConfig::resolve(settings)
            .unwrap_or_else(|err| panic!("sample is refused: {err:#}\n{sample}"));
    }
}
