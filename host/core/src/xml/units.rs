//! libvirt's size units: parsing `<memory unit=...>` and virsh size
//! arguments, and printing sizes the way virsh does.

use super::Error;

/// Bytes per unit. libvirt: b/bytes, KB=1000, k/KiB=1024, MB, M/MiB, ...
pub fn unit_multiplier(unit: &str) -> Option<u64> {
    let pow = |base: u64, exp: u32| base.checked_pow(exp);
    match unit {
        "b" | "B" | "byte" | "bytes" => Some(1),
        "KB" => pow(1000, 1),
        "k" | "K" | "KiB" | "kib" => pow(1024, 1),
        "MB" => pow(1000, 2),
        "m" | "M" | "MiB" | "mib" => pow(1024, 2),
        "GB" => pow(1000, 3),
        "g" | "G" | "GiB" | "gib" => pow(1024, 3),
        "TB" => pow(1000, 4),
        "t" | "T" | "TiB" | "tib" => pow(1024, 4),
        "PB" => pow(1000, 5),
        "p" | "P" | "PiB" | "pib" => pow(1024, 5),
        "EB" => pow(1000, 6),
        "e" | "E" | "EiB" | "eib" => pow(1024, 6),
        _ => None,
    }
}

/// Parses a scaled integer (`value` in `unit`, default `default_unit`) into bytes.
pub fn scaled_bytes(
    value: &str,
    unit: Option<&str>,
    default_unit: &str,
    what: &str,
) -> Result<u64, Error> {
    let value = value.trim();
    let number: u64 = value.parse().map_err(|_| {
        Error::Invalid(format!(
            "invalid value '{value}' for element or attribute '{what}'"
        ))
    })?;
    let unit = unit.unwrap_or(default_unit);
    let mult = unit_multiplier(unit)
        .ok_or_else(|| Error::Invalid(format!("unknown unit '{unit}' for '{what}'")))?;
    number
        .checked_mul(mult)
        .ok_or_else(|| Error::Invalid(format!("value '{value}{unit}' for '{what}' is too large")))
}

/// Parses a memory size in the domain XML into KiB, rounding up.
pub fn memory_kib(value: &str, unit: Option<&str>, what: &str) -> Result<u64, Error> {
    Ok(scaled_bytes(value, unit, "KiB", what)?.div_ceil(1024))
}

/// Parses a virsh size argument such as `1G`, `100M`, `512`, `10GB`, `+512M`
/// (the sign is the caller's business). Bare numbers are in `default_unit`.
pub fn parse_size_arg(arg: &str, default_unit: &str) -> Option<u64> {
    let arg = arg.trim();
    let split = arg.find(|c: char| !c.is_ascii_digit()).unwrap_or(arg.len());
    let (digits, unit) = arg.split_at(split);
    if digits.is_empty() {
        return None;
    }
    let number: u64 = digits.parse().ok()?;
    let unit = if unit.is_empty() { default_unit } else { unit };
    number.checked_mul(unit_multiplier(unit)?)
}

/// virsh's `vshPrettyCapacity`: `1.00 GiB`, `100.00 MiB`, `0.00 B`.
pub fn pretty_capacity(bytes: u64) -> String {
    const UNITS: [&str; 7] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while unit < UNITS.len() - 1 && bytes >= 1024u64.pow(unit as u32 + 1) {
        unit += 1;
    }
    value /= 1024f64.powi(unit as i32);
    format!("{value:.2} {}", UNITS[unit])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_units_follow_libvirt() {
        assert_eq!(memory_kib("128", Some("MiB"), "memory").unwrap(), 131072);
        assert_eq!(memory_kib("1", Some("GB"), "memory").unwrap(), 976563);
        assert_eq!(memory_kib("1000", Some("b"), "memory").unwrap(), 1);
        assert_eq!(memory_kib("2048", None, "memory").unwrap(), 2048);
        assert!(memory_kib("12x", None, "memory").is_err());
        assert!(memory_kib("1", Some("parsec"), "memory").is_err());
        assert!(memory_kib("99999999999", Some("EiB"), "memory").is_err());
    }

    #[test]
    fn size_arguments() {
        assert_eq!(parse_size_arg("1G", "B"), Some(1 << 30));
        assert_eq!(parse_size_arg("100M", "B"), Some(100 << 20));
        assert_eq!(parse_size_arg("10GB", "B"), Some(10_000_000_000));
        assert_eq!(parse_size_arg("512", "KiB"), Some(512 * 1024));
        assert_eq!(parse_size_arg("x", "B"), None);
    }

    #[test]
    fn pretty_capacity_has_two_decimals_and_binary_units() {
        assert_eq!(pretty_capacity(0), "0.00 B");
        assert_eq!(pretty_capacity(1 << 30), "1.00 GiB");
        assert_eq!(pretty_capacity(100 << 20), "100.00 MiB");
        assert_eq!(pretty_capacity(107374182400), "100.00 GiB");
        assert_eq!(pretty_capacity(196 * 1024), "196.00 KiB");
    }
}
