//! The parsed form of an XDR file: the definitions rpcgen accepts, as
//! libvirt's `.x` files use them. Every item keeps its line for messages.

/// A constant or a length: a literal or the name of a constant.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Number(i64),
    Name(String),
}

/// A type as written before a declaration's name.
#[derive(Debug, Clone, PartialEq)]
pub enum TypeSpec {
    Int,
    UInt,
    Hyper,
    UHyper,
    Char,
    UChar,
    Short,
    UShort,
    Bool,
    Float,
    Double,
    /// A typedef, struct, enum or union name (`struct x` and `enum x` are
    /// spelled the same way after the keyword).
    Named(String),
}

/// What a declaration declares, beyond its base type.
#[derive(Debug, Clone, PartialEq)]
pub enum Shape {
    /// `T x`
    Plain(TypeSpec),
    /// `T x[N]`
    FixedArray(TypeSpec, Value),
    /// `T x<N>` (`None`: `<>`, no limit)
    VarArray(TypeSpec, Option<Value>),
    /// `opaque x[N]`
    FixedOpaque(Value),
    /// `opaque x<N>`
    VarOpaque(Option<Value>),
    /// `string x<N>`
    String(Option<Value>),
    /// `T *x`
    Optional(TypeSpec),
}

/// A named declaration: a struct field, union arm, typedef or switch.
#[derive(Debug, Clone, PartialEq)]
pub struct Declaration {
    pub name: String,
    pub shape: Shape,
    pub line: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub struct EnumValue {
    pub name: String,
    pub value: Value,
    pub line: usize,
    /// The `/** ... */` comment above the value (procedure annotations).
    pub doc: Option<(usize, String)>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct UnionArm {
    pub label: Value,
    /// `None` for `void`.
    pub decl: Option<Declaration>,
    pub line: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Definition {
    Const {
        name: String,
        value: Value,
        line: usize,
    },
    Typedef(Declaration),
    Struct {
        name: String,
        fields: Vec<Declaration>,
        line: usize,
    },
    Enum {
        name: String,
        values: Vec<EnumValue>,
        line: usize,
    },
    Union {
        name: String,
        discriminant: Declaration,
        arms: Vec<UnionArm>,
        /// `default:` arm: `Some(None)` is `default: void;`.
        default: Option<Option<Declaration>>,
        line: usize,
    },
}

impl Definition {
    pub fn name(&self) -> &str {
        match self {
            Definition::Const { name, .. }
            | Definition::Struct { name, .. }
            | Definition::Enum { name, .. }
            | Definition::Union { name, .. } => name,
            Definition::Typedef(d) => &d.name,
        }
    }

    pub fn line(&self) -> usize {
        match self {
            Definition::Const { line, .. }
            | Definition::Struct { line, .. }
            | Definition::Enum { line, .. }
            | Definition::Union { line, .. } => *line,
            Definition::Typedef(d) => d.line,
        }
    }
}
