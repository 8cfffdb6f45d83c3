//! Resolves a parsed `.x` file into what the Rust output needs: Rust names
//! and types for every definition, numeric limits, and the procedure table
//! that libvirt's `gendispatch.pl` derives from the `*_procedure` enum.
//!
//! Everything the XDR runtime (`crate::xdr`) cannot carry faithfully is
//! refused here with the line it is on, rather than emitted wrongly.

use std::collections::{HashMap, HashSet};

use crate::Error;
use crate::annotations::Annotations;
use crate::ast::*;
use crate::cconst::CConst;
use crate::names::{camel, field_name, is_unusable, strip_common_prefix, type_name};

/// The longest string `String`'s own `XdrEncode` impl accepts: the runtime's
/// `REMOTE_STRING_MAX`. A `string<N>` with this limit needs no annotation.
pub const RUNTIME_STRING_MAX: i64 = 4_194_304;

/// Fixed arrays beyond this length have no `Default` or proptest
/// `Arbitrary` impl, which `xdr_struct!` needs.
const MAX_FIXED_ARRAY: i64 = 32;

/// proptest implements `Arbitrary` for tuples of up to 12 elements, and
/// `xdr_struct!` builds one tuple of all fields.
const MAX_STRUCT_FIELDS: usize = 12;

/// Names the generated file defines itself or that would shadow the prelude.
const RESERVED: &[&str] = &[
    "String",
    "Option",
    "Vec",
    "Result",
    "Box",
    "Default",
    "Some",
    "None",
    "Ok",
    "Err",
    "Call",
    "Reply",
    "Event",
    "ProtocolError",
    "StreamDirection",
    "Priority",
    "ProcedureInfo",
];

/// How a variable-length field is bounded (`xdr_struct!`'s `=> kind(MAX)`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    Array,
    Opaque,
    String,
}

impl Kind {
    pub fn as_str(&self) -> &'static str {
        match self {
            Kind::Array => "array",
            Kind::Opaque => "opaque",
            Kind::String => "string",
        }
    }
}

/// A struct field, union arm or newtype content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field {
    pub c_name: String,
    pub rust_name: String,
    pub ty: String,
    /// Kind and limit expression (a constant's name or a literal).
    pub bound: Option<(Kind, String)>,
    /// Holds an `f64` directly, so cannot derive `Eq`.
    pub float: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Const {
    pub name: String,
    /// The value as written: a literal or another constant's name.
    pub expr: String,
    pub value: i64,
    /// Emitted as `i32` (enum-like C constants) rather than `u32` (sizes).
    pub signed: bool,
    /// The citation, for constants from the C headers table.
    pub source: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Variant {
    pub rust_name: String,
    pub c_name: String,
    pub value: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Arm {
    pub rust_name: String,
    /// The case label as written.
    pub label: String,
    pub value: i64,
    pub field: Option<Field>,
}

/// How a union's discriminant is written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Discriminant {
    I32,
    U32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item {
    /// A typedef whose wire form is that of `ty`: `pub type`. `shadowed`
    /// names a typedef that is not emitted because its name would hide a
    /// Rust type (`remote_string` would be `String`).
    Alias {
        c_name: String,
        rust_name: String,
        ty: String,
        shadowed: bool,
    },
    /// A typedef with a limit of its own: a one-field tuple struct.
    Newtype {
        c_name: String,
        rust_name: String,
        field: Field,
    },
    Struct {
        c_name: String,
        rust_name: String,
        fields: Vec<Field>,
    },
    Enum {
        c_name: String,
        rust_name: String,
        variants: Vec<Variant>,
    },
    Union {
        c_name: String,
        rust_name: String,
        switch: String,
        discriminant: Discriminant,
        arms: Vec<Arm>,
        /// `default:` arm, `Some(None)` for `default: void`.
        default: Option<Option<Field>>,
        float: bool,
    },
}

/// One procedure of the `*_procedure` enum.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Procedure {
    pub number: i64,
    pub c_name: String,
    /// CamelCase without the `REMOTE_PROC_` prefix.
    pub variant: String,
    /// Rust types of `*_args`, `*_ret`, `*_msg` (`None`: void / absent).
    pub args: Option<String>,
    pub ret: Option<String>,
    pub msg: Option<String>,
    pub annotations: Annotations,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Model {
    pub consts: Vec<Const>,
    pub items: Vec<Item>,
    pub procedures: Vec<Procedure>,
    /// The C name of the procedure enum (`remote_procedure`), if any.
    pub procedure_enum: Option<String>,
    /// `*_args`/`*_ret`/`*_msg` structs that name no procedure.
    pub unmatched: Vec<String>,
}

/// What resolution needs at hand: every named definition, every constant's
/// value, the naming prefix, and the typedefs resolved so far.
pub(crate) struct Ctx<'a> {
    defs: HashMap<&'a str, &'a Definition>,
    pub(crate) values: HashMap<String, (i64, usize)>,
    pub(crate) prefix: String,
    cache: HashMap<String, (String, bool)>,
    resolving: HashSet<String>,
}

impl Model {
    pub fn build(defs: &[Definition], c_consts: &[CConst]) -> Result<Model, Error> {
        let mut ctx = Ctx {
            defs: HashMap::new(),
            values: HashMap::new(),
            prefix: prefix_of(defs),
            cache: HashMap::new(),
            resolving: HashSet::new(),
        };
        for c in c_consts {
            ctx.values.insert(c.name.clone(), (c.value, 0));
        }
        for d in defs {
            if !matches!(d, Definition::Const { .. }) && ctx.defs.insert(d.name(), d).is_some() {
                return Err(Error::at(
                    d.line(),
                    format!("`{}` is defined twice", d.name()),
                ));
            }
        }
        // Constants and enum values may be used before they are defined.
        for d in defs {
            let named: Vec<(&str, &Value, usize)> = match d {
                Definition::Const { name, value, line } => vec![(name, value, *line)],
                Definition::Enum { values, .. } => values
                    .iter()
                    .map(|v| (v.name.as_str(), &v.value, v.line))
                    .collect(),
                _ => continue,
            };
            for (name, _, line) in &named {
                if ctx.values.insert(name.to_string(), (0, *line)).is_some() {
                    return Err(Error::at(
                        *line,
                        format!("constant `{name}` is defined twice"),
                    ));
                }
            }
        }
        for d in defs {
            let named: Vec<(&str, &Value, usize)> = match d {
                Definition::Const { name, value, line } => vec![(name, value, *line)],
                Definition::Enum { values, .. } => values
                    .iter()
                    .map(|v| (v.name.as_str(), &v.value, v.line))
                    .collect(),
                _ => continue,
            };
            for (name, value, line) in named {
                let v = ctx.eval(value, line, &mut vec![name.to_owned()], defs)?;
                ctx.values.insert(name.to_owned(), (v, line));
            }
        }

        let mut labels = HashSet::new();
        for d in defs {
            if let Definition::Union { arms, .. } = d {
                labels.extend(arms.iter().filter_map(|a| match &a.label {
                    Value::Name(n) => Some(n.clone()),
                    Value::Number(_) => None,
                }));
            }
        }
        let mut consts: Vec<Const> = c_consts
            .iter()
            .map(|c| Const {
                name: c.name.clone(),
                expr: c.value.to_string(),
                value: c.value,
                signed: labels.contains(&c.name),
                source: Some(c.source.clone()),
            })
            .collect();
        let mut items = Vec::new();
        let mut rust_names: HashMap<String, String> = HashMap::new();
        for d in defs {
            let item = match d {
                Definition::Const { name, value, line } => {
                    let v = ctx.values[name.as_str()].0;
                    if !(0..=i64::from(u32::MAX)).contains(&v) {
                        return Err(Error::at(
                            *line,
                            format!("constant `{name}` = {v} does not fit a u32"),
                        ));
                    }
                    let expr = match value {
                        Value::Number(n) => n.to_string(),
                        Value::Name(other) => other.clone(),
                    };
                    consts.push(Const {
                        name: name.clone(),
                        expr,
                        value: v,
                        signed: false,
                        source: None,
                    });
                    continue;
                }
                Definition::Typedef(decl) => ctx.typedef(decl, defs)?,
                Definition::Struct { name, fields, line } => {
                    if fields.len() > MAX_STRUCT_FIELDS {
                        return Err(Error::at(
                            *line,
                            format!(
                                "struct `{name}` has more than {MAX_STRUCT_FIELDS} fields, which xdr_struct!'s proptest impl cannot take"
                            ),
                        ));
                    }
                    let fields = fields
                        .iter()
                        .map(|f| ctx.field(f, defs))
                        .collect::<Result<Vec<_>, _>>()?;
                    check_unique(fields.iter().map(|f| (&f.rust_name, &f.c_name)), *line)?;
                    if let Some((f, decl)) = fields.iter().zip(fields_of(d)).find(|(f, _)| f.float)
                    {
                        return Err(Error::at(
                            decl.line,
                            format!(
                                "field `{}` holds a floating-point value; xdr_struct! derives Eq, so only unions may carry `double`",
                                f.c_name
                            ),
                        ));
                    }
                    Item::Struct {
                        c_name: name.clone(),
                        rust_name: ctx.rust_type_name(name),
                        fields,
                    }
                }
                Definition::Enum { name, values, line } => {
                    let names: Vec<&str> = values.iter().map(|v| v.name.as_str()).collect();
                    let rust = strip_common_prefix(&names);
                    let variants: Vec<Variant> = values
                        .iter()
                        .zip(rust)
                        .map(|(v, rust_name)| Variant {
                            rust_name,
                            c_name: v.name.clone(),
                            value: ctx.values[&v.name].0,
                        })
                        .collect();
                    check_unique(variants.iter().map(|v| (&v.rust_name, &v.c_name)), *line)?;
                    let mut seen = HashSet::new();
                    for (v, src) in variants.iter().zip(values) {
                        if !seen.insert(v.value) {
                            return Err(Error::at(
                                src.line,
                                format!("enum value `{}` repeats the number {}", v.c_name, v.value),
                            ));
                        }
                        if i32::try_from(v.value).is_err() {
                            return Err(Error::at(
                                src.line,
                                format!("enum value `{}` does not fit an int", v.c_name),
                            ));
                        }
                    }
                    Item::Enum {
                        c_name: name.clone(),
                        rust_name: ctx.rust_type_name(name),
                        variants,
                    }
                }
                Definition::Union { .. } => ctx.union(d, defs)?,
            };
            let (c, rust, emitted) = match &item {
                Item::Alias {
                    c_name,
                    rust_name,
                    shadowed,
                    ..
                } => (c_name, rust_name, !shadowed),
                Item::Newtype {
                    c_name, rust_name, ..
                }
                | Item::Struct {
                    c_name, rust_name, ..
                }
                | Item::Enum {
                    c_name, rust_name, ..
                }
                | Item::Union {
                    c_name, rust_name, ..
                } => (c_name, rust_name, true),
            };
            if emitted {
                if RESERVED.contains(&rust.as_str()) {
                    return Err(Error::at(
                        d.line(),
                        format!("`{c}` would be named `{rust}`, which the generated code reserves"),
                    ));
                }
                if let Some(prev) = rust_names.insert(rust.clone(), c.clone()) {
                    return Err(Error::at(
                        d.line(),
                        format!("`{c}` and `{prev}` would both be named `{rust}`"),
                    ));
                }
            }
            items.push(item);
        }
        refuse_recursion(&items, defs)?;
        let (procedures, procedure_enum, unmatched) = ctx.procedures(defs)?;
        Ok(Model {
            consts,
            items,
            procedures,
            procedure_enum,
            unmatched,
        })
    }
}

/// A type that contains itself (a `*next` linked list, or through an
/// array) would need boxing in Rust and unbounded recursion to decode, which
/// hostile input could use to exhaust the stack; libvirt's protocol has none.
fn refuse_recursion(items: &[Item], defs: &[Definition]) -> Result<(), Error> {
    let mut uses: HashMap<&str, Vec<&str>> = HashMap::new();
    for item in items {
        let (name, fields): (&str, Vec<&Field>) = match item {
            Item::Struct {
                rust_name, fields, ..
            } => (rust_name, fields.iter().collect()),
            Item::Newtype {
                rust_name, field, ..
            } => (rust_name, vec![field]),
            Item::Union {
                rust_name,
                arms,
                default,
                ..
            } => (
                rust_name,
                arms.iter()
                    .filter_map(|a| a.field.as_ref())
                    .chain(default.iter().flatten())
                    .collect(),
            ),
            Item::Alias { .. } | Item::Enum { .. } => continue,
        };
        let words = fields
            .iter()
            .flat_map(|f| f.ty.split(|c: char| !c.is_ascii_alphanumeric() && c != '_'));
        uses.insert(name, words.filter(|w| !w.is_empty()).collect());
    }
    for item in items {
        let (Item::Struct {
            c_name, rust_name, ..
        }
        | Item::Newtype {
            c_name, rust_name, ..
        }
        | Item::Union {
            c_name, rust_name, ..
        }) = item
        else {
            continue;
        };
        let mut stack = vec![rust_name.as_str()];
        let mut seen = HashSet::new();
        while let Some(name) = stack.pop() {
            for &used in uses.get(name).into_iter().flatten() {
                if used == rust_name {
                    let line = defs
                        .iter()
                        .find(|d| d.name() == c_name)
                        .map_or(0, Definition::line);
                    return Err(Error::at(
                        line,
                        format!("`{c_name}` contains itself; recursive types are not supported"),
                    ));
                }
                if seen.insert(used) {
                    stack.push(used);
                }
            }
        }
    }
    Ok(())
}

fn fields_of(d: &Definition) -> &[Declaration] {
    match d {
        Definition::Struct { fields, .. } => fields,
        _ => &[],
    }
}

fn check_unique<'a>(
    names: impl Iterator<Item = (&'a String, &'a String)>,
    line: usize,
) -> Result<(), Error> {
    let mut seen: HashMap<&String, &String> = HashMap::new();
    for (rust, c) in names {
        if is_unusable(rust) {
            return Err(Error::at(line, format!("`{c}` cannot be a Rust name")));
        }
        if let Some(prev) = seen.insert(rust, c) {
            return Err(Error::at(
                line,
                format!("`{prev}` and `{c}` would both be named `{rust}`"),
            ));
        }
    }
    Ok(())
}

/// The naming prefix: `remote_` for `remote_procedure`, else the part of the
/// first definition's name before its first `_`.
fn prefix_of(defs: &[Definition]) -> String {
    let procedure = defs.iter().find_map(|d| match d {
        Definition::Enum { name, .. } => {
            name.strip_suffix("procedure").filter(|p| p.ends_with('_'))
        }
        _ => None,
    });
    procedure.map(str::to_owned).unwrap_or_default()
}

impl Ctx<'_> {
    pub(crate) fn rust_type_name(&self, c_name: &str) -> String {
        type_name(c_name, &self.prefix)
    }

    /// The number `v` stands for; `stack` catches constants defined by each other.
    fn eval(
        &self,
        v: &Value,
        line: usize,
        stack: &mut Vec<String>,
        defs: &[Definition],
    ) -> Result<i64, Error> {
        let name = match v {
            Value::Number(n) => return Ok(*n),
            Value::Name(name) => name,
        };
        if stack.contains(name) {
            return Err(Error::at(
                line,
                format!("constant `{name}` is defined in terms of itself"),
            ));
        }
        // A constant defined in the file: evaluate its own definition.
        for d in defs {
            let found = match d {
                Definition::Const {
                    name: n,
                    value,
                    line,
                } if n == name => Some((value, *line)),
                Definition::Enum { values, .. } => values
                    .iter()
                    .find(|e| &e.name == name)
                    .map(|e| (&e.value, e.line)),
                _ => None,
            };
            if let Some((value, at)) = found {
                stack.push(name.clone());
                let r = self.eval(value, at, stack, defs);
                stack.pop();
                return r;
            }
        }
        match self.values.get(name) {
            Some(&(v, _)) => Ok(v),
            None => Err(Error::at(
                line,
                format!(
                    "unknown constant `{name}` (a C constant must be listed in the constants table)"
                ),
            )),
        }
    }

    fn number(&self, v: &Value, line: usize) -> Result<i64, Error> {
        match v {
            Value::Number(n) => Ok(*n),
            Value::Name(n) => self
                .values
                .get(n)
                .map(|&(v, _)| v)
                .ok_or_else(|| Error::at(line, format!("unknown constant `{n}` (a C constant must be listed in the constants table)"))),
        }
    }

    /// A limit as a Rust `u32` expression, and its value.
    fn limit(&self, v: &Option<Value>, line: usize) -> Result<(String, i64), Error> {
        let Some(v) = v else {
            return Ok(("u32::MAX".into(), i64::from(u32::MAX)));
        };
        let n = self.number(v, line)?;
        if !(0..=i64::from(u32::MAX)).contains(&n) {
            return Err(Error::at(line, format!("limit {n} does not fit a u32")));
        }
        let is_const = |name: &str| self.values.contains_key(name);
        Ok(match v {
            Value::Name(name) if is_const(name) => (name.clone(), n),
            _ => (n.to_string(), n),
        })
    }

    fn fixed_len(&self, v: &Value, line: usize) -> Result<i64, Error> {
        let n = self.number(v, line)?;
        if !(1..=MAX_FIXED_ARRAY).contains(&n) {
            return Err(Error::at(
                line,
                format!(
                    "fixed length {n} is outside 1..={MAX_FIXED_ARRAY}, which the runtime's array impls cover"
                ),
            ));
        }
        Ok(n)
    }

    /// The Rust type of a base type, and whether it is a float.
    fn spec(
        &mut self,
        ts: &TypeSpec,
        line: usize,
        defs: &[Definition],
    ) -> Result<(String, bool), Error> {
        Ok(match ts {
            TypeSpec::Int => ("i32".into(), false),
            TypeSpec::UInt => ("u32".into(), false),
            TypeSpec::Hyper => ("i64".into(), false),
            TypeSpec::UHyper => ("u64".into(), false),
            TypeSpec::Char => ("i8".into(), false),
            TypeSpec::UChar => ("u8".into(), false),
            TypeSpec::Short => ("i16".into(), false),
            TypeSpec::UShort => ("u16".into(), false),
            TypeSpec::Bool => ("bool".into(), false),
            TypeSpec::Double => ("f64".into(), true),
            TypeSpec::Float => {
                return Err(Error::at(
                    line,
                    "`float` is not supported by the XDR runtime",
                ));
            }
            TypeSpec::Named(name) => self.named(name, line, defs)?,
        })
    }

    /// A type name as used in a declaration: typedef aliases are spelled out,
    /// everything else is its Rust name.
    fn named(
        &mut self,
        name: &str,
        line: usize,
        defs: &[Definition],
    ) -> Result<(String, bool), Error> {
        if let Some(hit) = self.cache.get(name) {
            return Ok(hit.clone());
        }
        let Some(&def) = self.defs.get(name) else {
            return Err(Error::at(line, format!("unknown type `{name}`")));
        };
        let resolved = match def {
            Definition::Typedef(decl) => {
                if !self.resolving.insert(name.to_owned()) {
                    return Err(Error::at(
                        line,
                        format!("typedef `{name}` refers to itself"),
                    ));
                }
                let item = self.typedef(decl, defs);
                self.resolving.remove(name);
                match item? {
                    Item::Alias { ty, .. } => (ty, self.cache.get(name).is_some_and(|c| c.1)),
                    _ => (self.rust_type_name(name), false),
                }
            }
            Definition::Union { .. } => (self.rust_type_name(name), false),
            Definition::Struct { .. } | Definition::Enum { .. } => {
                (self.rust_type_name(name), false)
            }
            Definition::Const { .. } => {
                return Err(Error::at(
                    line,
                    format!("`{name}` is a constant, not a type"),
                ));
            }
        };
        self.cache.insert(name.to_owned(), resolved.clone());
        Ok(resolved)
    }

    fn field(&mut self, decl: &Declaration, defs: &[Definition]) -> Result<Field, Error> {
        let line = decl.line;
        let (ty, bound, float) = match &decl.shape {
            Shape::Plain(ts) => {
                let (ty, float) = self.spec(ts, line, defs)?;
                (ty, None, float)
            }
            Shape::Optional(ts) => {
                let (ty, float) = self.spec(ts, line, defs)?;
                (format!("Option<{ty}>"), None, float)
            }
            Shape::FixedArray(ts, n) => {
                if *ts != TypeSpec::Char {
                    return Err(Error::at(
                        line,
                        "fixed arrays are supported for `char` only (the runtime encodes `[u8; N]` as opaque)",
                    ));
                }
                (format!("[i8; {}]", self.fixed_len(n, line)?), None, false)
            }
            Shape::FixedOpaque(n) => (format!("[u8; {}]", self.fixed_len(n, line)?), None, false),
            Shape::VarArray(ts, max) => {
                let (ty, float) = self.spec(ts, line, defs)?;
                (
                    format!("Vec<{ty}>"),
                    Some((Kind::Array, self.limit(max, line)?.0)),
                    float,
                )
            }
            Shape::VarOpaque(max) => (
                "Vec<u8>".into(),
                Some((Kind::Opaque, self.limit(max, line)?.0)),
                false,
            ),
            Shape::String(max) => {
                let (expr, n) = self.limit(max, line)?;
                let bound = (n != RUNTIME_STRING_MAX).then_some((Kind::String, expr));
                ("String".into(), bound, false)
            }
        };
        Ok(Field {
            c_name: decl.name.clone(),
            rust_name: field_name(&decl.name),
            ty,
            bound,
            float,
        })
    }

    fn typedef(&mut self, decl: &Declaration, defs: &[Definition]) -> Result<Item, Error> {
        let c_name = decl.name.clone();
        let rust_name = self.rust_type_name(&c_name);
        let field = self.field(decl, defs)?;
        if field.float {
            return Err(Error::at(
                decl.line,
                format!(
                    "typedef `{c_name}` of a floating-point type is not supported; use `double` in a union arm"
                ),
            ));
        }
        if field.bound.is_some() {
            let field = Field {
                rust_name: "0".into(),
                ..field
            };
            return Ok(Item::Newtype {
                c_name,
                rust_name,
                field,
            });
        }
        self.cache
            .insert(c_name.clone(), (field.ty.clone(), field.float));
        let shadowed = RESERVED.contains(&rust_name.as_str());
        Ok(Item::Alias {
            c_name,
            rust_name,
            ty: field.ty,
            shadowed,
        })
    }

    fn union(&mut self, d: &Definition, defs: &[Definition]) -> Result<Item, Error> {
        let Definition::Union {
            name,
            discriminant,
            arms,
            default,
            line,
        } = d
        else {
            unreachable!("union() is only called on unions");
        };
        let (disc, switch) = match &discriminant.shape {
            Shape::Plain(TypeSpec::Int) => {
                (Discriminant::I32, format!("int {}", discriminant.name))
            }
            Shape::Plain(TypeSpec::UInt) => (
                Discriminant::U32,
                format!("unsigned int {}", discriminant.name),
            ),
            Shape::Plain(TypeSpec::Named(n))
                if matches!(self.defs.get(n.as_str()), Some(Definition::Enum { .. })) =>
            {
                (Discriminant::I32, format!("{n} {}", discriminant.name))
            }
            _ => {
                return Err(Error::at(
                    discriminant.line,
                    "a union may switch on `int`, `unsigned int` or an enum only",
                ));
            }
        };
        let all_named = arms.iter().all(|a| matches!(a.label, Value::Name(_)));
        let label_names: Vec<&str> = arms
            .iter()
            .filter_map(|a| match &a.label {
                Value::Name(n) => Some(n.as_str()),
                Value::Number(_) => None,
            })
            .collect();
        let stripped = if all_named {
            strip_common_prefix(&label_names)
        } else {
            Vec::new()
        };
        let mut out = Vec::new();
        let mut seen = HashSet::new();
        for (i, arm) in arms.iter().enumerate() {
            let value = self.number(&arm.label, arm.line)?;
            let fits = match disc {
                Discriminant::I32 => i32::try_from(value).is_ok(),
                Discriminant::U32 => u32::try_from(value).is_ok(),
            };
            if !fits || !seen.insert(value) {
                return Err(Error::at(
                    arm.line,
                    format!("case label {value} is repeated or does not fit the discriminant"),
                ));
            }
            let field = arm
                .decl
                .as_ref()
                .map(|decl| self.field(decl, defs))
                .transpose()?;
            let rust_name = match (&arm.label, &field) {
                _ if all_named => stripped[i].clone(),
                (_, Some(f)) => camel(&f.c_name),
                (_, None) if value < 0 => format!("CaseMinus{}", -value),
                (_, None) => format!("Case{value}"),
            };
            let label = match &arm.label {
                Value::Name(n) => n.clone(),
                Value::Number(n) => n.to_string(),
            };
            out.push(Arm {
                rust_name,
                label,
                value,
                field,
            });
        }
        let default = default
            .as_ref()
            .map(|decl| decl.as_ref().map(|decl| self.field(decl, defs)).transpose())
            .transpose()?;
        let mut names: Vec<(String, String)> = out
            .iter()
            .map(|a| (a.rust_name.clone(), a.label.clone()))
            .collect();
        if default.is_some() {
            names.push(("Default".into(), "default".into()));
        }
        check_unique(names.iter().map(|(r, c)| (r, c)), *line)?;
        let fields = out
            .iter()
            .filter_map(|a| a.field.as_ref())
            .chain(default.iter().flatten());
        if let Some(f) = fields.clone().find(|f| f.float && f.ty != "f64") {
            return Err(Error::at(
                *line,
                format!(
                    "arm `{}` of `{name}` holds floats inside `{}`; only a plain `double` arm is supported",
                    f.c_name, f.ty
                ),
            ));
        }
        let float = fields.into_iter().any(|f| f.float);
        Ok(Item::Union {
            c_name: name.clone(),
            rust_name: self.rust_type_name(name),
            switch,
            discriminant: disc,
            arms: out,
            default,
            float,
        })
    }
}
