//! Splits an XDR (`.x`) file into tokens, as rpcgen sees it after its
//! preprocessing step: `%` lines are passed to the C output by rpcgen and
//! mean nothing to the wire, so they are dropped; comments are dropped too,
//! except that a `/** ... */` block is kept with the token after it, because
//! libvirt puts its procedure annotations (`@generate`, `@acl`, ...) there.

use crate::Error;

/// One token and where it starts.
#[derive(Debug, Clone, PartialEq)]
pub struct Token {
    pub kind: Tok,
    pub line: usize,
    /// The last `/** ... */` comment between the previous token and this one,
    /// with the line it starts on.
    pub doc: Option<(usize, String)>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Tok {
    Ident(String),
    /// A number, kept with its spelling for error messages.
    Number(i64),
    Punct(char),
}

impl std::fmt::Display for Tok {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Tok::Ident(s) => write!(f, "`{s}`"),
            Tok::Number(n) => write!(f, "`{n}`"),
            Tok::Punct(c) => write!(f, "`{c}`"),
        }
    }
}

const PUNCT: &str = "{}()[]<>;:,=*";

/// Tokenizes `src`. Anything outside the XDR language (a C preprocessor
/// line, a stray character, an octal number) is an error naming its line.
pub fn tokenize(src: &str) -> Result<Vec<Token>, Error> {
    let bytes = src.as_bytes();
    let mut tokens = Vec::new();
    let mut doc = None;
    let mut line = 1;
    let mut i = 0;
    let mut at_line_start = true;
    while i < bytes.len() {
        let c = bytes[i];
        if c == b'\n' {
            line += 1;
            i += 1;
            at_line_start = true;
            continue;
        }
        if c.is_ascii_whitespace() {
            i += 1;
            continue;
        }
        let line_start = std::mem::replace(&mut at_line_start, false);
        if c == b'%' && line_start {
            // rpcgen copies `%` lines verbatim into its C output.
            while i < bytes.len() && bytes[i] != b'\n' {
                i += 1;
            }
            continue;
        }
        if c == b'#' && line_start {
            return Err(Error::at(
                line,
                "C preprocessor lines are not supported (rpcgen runs cpp first; this generator does not)",
            ));
        }
        if src[i..].starts_with("/*") {
            let start_line = line;
            let Some(len) = src[i + 2..].find("*/") else {
                return Err(Error::at(line, "comment is not closed"));
            };
            let body = &src[i..i + 2 + len + 2];
            line += body.matches('\n').count();
            if body.starts_with("/**") && body.len() > 4 {
                doc = Some((start_line, body.to_owned()));
            }
            i += body.len();
            continue;
        }
        if src[i..].starts_with("//") {
            return Err(Error::at(line, "`//` comments are not XDR"));
        }
        let kind = if c.is_ascii_alphabetic() || c == b'_' {
            let end = scan(bytes, i, |b| b.is_ascii_alphanumeric() || b == b'_');
            let word = &src[i..end];
            i = end;
            Tok::Ident(word.to_owned())
        } else if c.is_ascii_digit()
            || (c == b'-' && bytes.get(i + 1).is_some_and(u8::is_ascii_digit))
        {
            let end = scan(bytes, i + 1, |b| b.is_ascii_alphanumeric());
            let text = &src[i..end];
            i = end;
            Tok::Number(parse_number(text).ok_or_else(|| {
                Error::at(
                    line,
                    format!("cannot read number `{text}` (decimal or 0x hex only)"),
                )
            })?)
        } else if PUNCT.as_bytes().contains(&c) {
            i += 1;
            Tok::Punct(c as char)
        } else {
            let ch = src[i..].chars().next().unwrap_or('?');
            return Err(Error::at(line, format!("unexpected character `{ch}`")));
        };
        tokens.push(Token {
            kind,
            line,
            doc: doc.take(),
        });
    }
    Ok(tokens)
}

fn scan(bytes: &[u8], mut i: usize, keep: impl Fn(u8) -> bool) -> usize {
    while i < bytes.len() && keep(bytes[i]) {
        i += 1;
    }
    i
}

/// Decimal or `0x` hex, optionally negative. A leading zero means octal to
/// rpcgen (it is C); libvirt never writes one, so it is refused, not guessed.
fn parse_number(text: &str) -> Option<i64> {
    let (neg, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let value = if let Some(hex) = digits.strip_prefix("0x").or(digits.strip_prefix("0X")) {
        i64::from_str_radix(hex, 16).ok()?
    } else if digits.len() > 1 && digits.starts_with('0') {
        return None;
    } else {
        digits.parse().ok()?
    };
    Some(if neg { -value } else { value })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(src: &str) -> Vec<Tok> {
        tokenize(src).unwrap().into_iter().map(|t| t.kind).collect()
    }

    #[test]
    fn skips_passthrough_and_plain_comments() {
        let src = "%#include <x.h>\n/* note */ const A = 0x10; // nope\n";
        assert!(tokenize(src).is_err());
        let src = "%#include <x.h>\n/* note */ const A = 0x10;\n";
        assert_eq!(
            kinds(src),
            vec![
                Tok::Ident("const".into()),
                Tok::Ident("A".into()),
                Tok::Punct('='),
                Tok::Number(16),
                Tok::Punct(';'),
            ]
        );
    }

    #[test]
    fn keeps_doc_comment_with_next_token() {
        let toks = tokenize("enum e {\n /**\n * @generate: both\n */\n A = 1 };").unwrap();
        let a = toks
            .iter()
            .find(|t| t.kind == Tok::Ident("A".into()))
            .unwrap();
        assert_eq!(a.line, 5);
        assert_eq!(a.doc.as_ref().unwrap().0, 2);
        assert!(toks[0].doc.is_none());
    }

    #[test]
    fn refuses_octal_cpp_and_strays() {
        let err = tokenize("const A = 010;").unwrap_err();
        assert_eq!(err.line, Some(1));
        assert!(tokenize("\n#define X 1\n").unwrap_err().line == Some(2));
        assert!(tokenize("const A = 1 + 2;").is_err());
        assert_eq!(kinds("-5"), vec![Tok::Number(-5)]);
    }
}
