//! `wirt-xdrgen`: turns libvirt's XDR protocol files (`remote_protocol.x`)
//! into Rust types and a procedure table for wirt's wire layer.
//!
//! So far: [`parser::parse`] reads a `.x` file into [`ast`], refusing what
//! it does not understand with the line.

pub mod annotations;
pub mod ast;
pub mod cconst;
pub mod lexer;
pub mod names;
pub mod parser;

/// A problem with the input, with the line it was found on where known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    pub line: Option<usize>,
    pub message: String,
}

impl Error {
    pub fn at(line: usize, message: impl Into<String>) -> Self {
        Self {
            line: Some(line),
            message: message.into(),
        }
    }

    pub fn new(message: impl Into<String>) -> Self {
        Self {
            line: None,
            message: message.into(),
        }
    }
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.line {
            Some(line) => write!(f, "line {line}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for Error {}
