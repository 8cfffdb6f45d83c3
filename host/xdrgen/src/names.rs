//! Rust names for libvirt's C names, as the hand-written protocol code
//! spells them: types lose the `remote_` prefix and become CamelCase
//! (`remote_domain_get_state_ret` is `DomainGetStateRet`), fields become
//! snake_case (`callbackID` is `callback_id`), keywords become raw.

/// `remote_domain_get_state_ret` → `DomainGetStateRet` (with `prefix` "remote_").
pub fn type_name(c_name: &str, prefix: &str) -> String {
    camel(c_name.strip_prefix(prefix).unwrap_or(c_name))
}

/// `DOMAIN_GET_STATE` or `domain_get_state` → `DomainGetState`.
pub fn camel(words: &str) -> String {
    words
        .split('_')
        .filter(|w| !w.is_empty())
        .map(|w| {
            let lower = w.to_ascii_lowercase();
            let mut chars = lower.chars();
            chars
                .next()
                .map(|c| c.to_ascii_uppercase().to_string() + chars.as_str())
                .unwrap_or_default()
        })
        .collect()
}

/// `callbackID` → `callback_id`, `cpuNum` → `cpu_num`, `type` → `r#type`.
pub fn field_name(c_name: &str) -> String {
    let chars: Vec<char> = c_name.chars().collect();
    let mut out = String::new();
    for (i, &c) in chars.iter().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            let prev = chars[i - 1];
            let next_lower = chars.get(i + 1).is_some_and(|n| n.is_ascii_lowercase());
            // A new word starts at `aB`, `1B` and the `B` of `ABc`.
            if prev.is_ascii_lowercase()
                || prev.is_ascii_digit()
                || (prev.is_ascii_uppercase() && next_lower)
            {
                out.push('_');
            }
        }
        out.push(c.to_ascii_lowercase());
    }
    raw_if_keyword(out)
}

/// Prefixes Rust keywords with `r#`.
pub fn raw_if_keyword(name: String) -> String {
    const KEYWORDS: &[&str] = &[
        "as", "break", "const", "continue", "else", "enum", "extern", "false", "fn", "for", "if",
        "impl", "in", "let", "loop", "match", "mod", "move", "mut", "pub", "ref", "return",
        "static", "struct", "trait", "true", "type", "unsafe", "use", "where", "while", "async",
        "await", "dyn", "abstract", "become", "box", "do", "final", "macro", "override", "priv",
        "typeof", "unsized", "virtual", "yield", "try", "gen",
    ];
    if KEYWORDS.contains(&name.as_str()) {
        format!("r#{name}")
    } else {
        name
    }
}

/// Names Rust code cannot use raw (`self`, ...), which a field must not take.
pub fn is_unusable(name: &str) -> bool {
    matches!(name, "self" | "Self" | "super" | "crate" | "_")
}

/// Splits `names` (e.g. `REMOTE_AUTH_NONE`, `REMOTE_AUTH_SASL`) into the
/// shared `_`-separated prefix and CamelCase rests (`None`, `Sasl`), keeping
/// at least one word per name and never leaving a name starting with a digit.
pub fn strip_common_prefix(names: &[&str]) -> Vec<String> {
    let split: Vec<Vec<&str>> = names.iter().map(|n| n.split('_').collect()).collect();
    let shortest = split.iter().map(Vec::len).min().unwrap_or(0);
    let mut common = 0;
    if names.len() > 1 {
        while common + 1 < shortest && split.iter().all(|w| w[common] == split[0][common]) {
            common += 1;
        }
    }
    while common > 0
        && split
            .iter()
            .any(|w| w[common].starts_with(|c: char| c.is_ascii_digit()))
    {
        common -= 1;
    }
    split
        .iter()
        .map(|w| camel(&w[common..].join("_")))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_match_the_hand_written_code() {
        assert_eq!(
            type_name("remote_domain_get_state_ret", "remote_"),
            "DomainGetStateRet"
        );
        assert_eq!(
            type_name("remote_domain_migrate_prepare3_params_args", "remote_"),
            "DomainMigratePrepare3ParamsArgs"
        );
        assert_eq!(field_name("callbackID"), "callback_id");
        assert_eq!(field_name("cpuNum"), "cpu_num");
        assert_eq!(field_name("usageID"), "usage_id");
        assert_eq!(field_name("nparams"), "nparams");
        assert_eq!(field_name("type"), "r#type");
        assert_eq!(field_name("IPAddr"), "ip_addr");
        assert_eq!(
            strip_common_prefix(&["REMOTE_AUTH_NONE", "REMOTE_AUTH_SASL"]),
            ["None", "Sasl"]
        );
        assert_eq!(strip_common_prefix(&["X_1", "X_2"]), ["X1", "X2"]);
        assert_eq!(strip_common_prefix(&["ONLY_ONE"]), ["OnlyOne"]);
    }
}
