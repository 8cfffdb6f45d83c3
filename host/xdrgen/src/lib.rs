//! `wirt-xdrgen`: turns libvirt's XDR protocol files (`remote_protocol.x`)
//! into Rust types and a procedure table for wirt's wire layer.
//!
//! The pipeline is [`parser::parse`] (text to [`ast`]), [`model::Model::build`]
//! (names, limits and procedures resolved, with everything the output cannot
//! express refused) and [`emit::emit`] (the Rust file).

pub mod annotations;
pub mod ast;
pub mod cconst;
pub mod emit;
pub mod emit_procs;
pub mod lexer;
pub mod model;
pub mod names;
pub mod parser;
mod procedures;

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

/// What the generated file says it was made from, for its header.
#[derive(Debug, Clone)]
pub struct Provenance {
    /// The `.x` file as given on the command line.
    pub input: String,
    /// The C constants table as given on the command line.
    pub constants: String,
}

/// Parses `x_source` with the C constants of `constants_source` and returns
/// the generated Rust file, with the model it was written from.
pub fn generate(
    x_source: &str,
    constants_source: &str,
    provenance: &Provenance,
) -> Result<(String, model::Model), Error> {
    let defs = parser::parse(x_source)?;
    let consts = cconst::parse(constants_source)
        .map_err(|e| Error::new(format!("{}: {e}", provenance.constants)))?;
    let model = model::Model::build(&defs, &consts)?;
    Ok((emit::emit(&model, provenance), model))
}

/// A one-paragraph account of what was generated, for the command line.
pub fn summary(m: &model::Model) -> String {
    use model::Item;
    let count = |f: fn(&Item) -> bool| m.items.iter().filter(|i| f(i)).count();
    let procs = &m.procedures;
    let with = |f: fn(&model::Procedure) -> bool| procs.iter().filter(|p| f(p)).count();
    let mut out = format!(
        "{} constants, {} structs, {} enums, {} unions, {} typedef aliases, {} typedef newtypes; \
         {} procedures: {} calls ({} with args, {} with ret), {} events, {} streams, {} high priority",
        m.consts.len(),
        count(|i| matches!(i, Item::Struct { .. })),
        count(|i| matches!(i, Item::Enum { .. })),
        count(|i| matches!(i, Item::Union { .. })),
        count(|i| matches!(i, Item::Alias { .. })),
        count(|i| matches!(i, Item::Newtype { .. })),
        procs.len(),
        with(|p| p.msg.is_none()),
        with(|p| p.args.is_some()),
        with(|p| p.ret.is_some()),
        with(|p| p.msg.is_some()),
        with(|p| p.annotations.stream.is_some()),
        with(|p| p.annotations.high_priority),
    );
    if !m.unmatched.is_empty() {
        out.push_str(&format!(
            "\nmessage structs that name no procedure (kept as plain types): {}",
            m.unmatched.join(", ")
        ));
    }
    out
}
