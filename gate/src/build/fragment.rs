//! Kernel config fragments: what one asks for, and whether a configured
//! kernel has it.

/// What the fragment asks for: `(CONFIG_X, value)` with "n" for
/// `# CONFIG_X is not set`; values as written (strings keep their quotes).
pub fn parse_fragment(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for line in text.lines().map(str::trim) {
        if let Some(rest) = line.strip_prefix("# CONFIG_") {
            if let Some(name) = rest.strip_suffix(" is not set") {
                out.push((format!("CONFIG_{name}"), "n".to_string()));
            }
        } else if line.starts_with("CONFIG_") {
            if let Some((k, v)) = line.split_once('=') {
                out.push((k.to_string(), v.to_string()));
            }
        }
    }
    out
}

/// The fragment's options that the final .config does not have as asked, one
/// line each ("CONFIG_XFS_FS=y: is not set", "...: absent (dependencies not
/// met, or no such option in this kernel)").
pub fn config_mismatches(fragment: &[(String, String)], config: &str) -> Vec<String> {
    let have = parse_fragment(config);
    let get = |k: &str| have.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    let mut out = Vec::new();
    for (k, want) in fragment {
        match (get(k), want.as_str()) {
            (Some(v), w) if v == w => {}
            (None, "n") => {}
            (Some(v), w) => out.push(format!(
                "{}: is {}",
                show_option(k, w),
                if v == "n" {
                    "not set".to_string()
                } else {
                    format!("{k}={v}")
                }
            )),
            (None, w) => out.push(format!(
                "{}: absent (dependencies not met, or no such option in this kernel)",
                show_option(k, w)
            )),
        }
    }
    out
}

fn show_option(k: &str, v: &str) -> String {
    if v == "n" {
        format!("# {k} is not set")
    } else {
        format!("{k}={v}")
    }
}
