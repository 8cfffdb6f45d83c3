//! The hand-kept table of C constants that a `.x` file uses but that libvirt
//! defines in its C headers (rpcgen leaves them to the C compiler). Each
//! line is `NAME = VALUE  # where it comes from`; the citation is required
//! so that every number in the output can be traced to libvirt's source.

use crate::Error;

/// One constant of the table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CConst {
    pub name: String,
    pub value: i64,
    /// The citation after `#`.
    pub source: String,
}

/// Reads the table; `#` lines and blank lines are comments.
pub fn parse(src: &str) -> Result<Vec<CConst>, Error> {
    let mut out: Vec<CConst> = Vec::new();
    for (i, raw) in src.lines().enumerate() {
        let line = i + 1;
        let text = raw.trim();
        if text.is_empty() || text.starts_with('#') {
            continue;
        }
        let (entry, source) = text
            .split_once('#')
            .ok_or_else(|| Error::at(line, "entry has no `# source` citation"))?;
        let (name, value) = entry
            .split_once('=')
            .ok_or_else(|| Error::at(line, "expected `NAME = VALUE  # source`"))?;
        let (name, value, source) = (name.trim(), value.trim(), source.trim());
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(Error::at(line, format!("invalid constant name `{name}`")));
        }
        let value = value
            .parse()
            .map_err(|_| Error::at(line, format!("`{value}` is not a decimal integer")))?;
        if source.is_empty() {
            return Err(Error::at(line, "empty citation"));
        }
        if out.iter().any(|c| c.name == name) {
            return Err(Error::at(line, format!("`{name}` defined twice")));
        }
        out.push(CConst {
            name: name.to_owned(),
            value,
            source: source.to_owned(),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_entries_and_requires_citations() {
        let table = "# header\n\nVIR_UUID_BUFLEN = 16  # libvirt-host.h\n";
        let c = parse(table).unwrap();
        assert_eq!(c[0].name, "VIR_UUID_BUFLEN");
        assert_eq!(c[0].value, 16);
        assert_eq!(c[0].source, "libvirt-host.h");
        assert_eq!(parse("A = 1\n").unwrap_err().line, Some(1));
        assert_eq!(parse("A = 1 # x\nA = 2 # y\n").unwrap_err().line, Some(2));
        assert_eq!(parse("\nA = (256 + 1) # x\n").unwrap_err().line, Some(2));
    }
}
