//! A recursive-descent parser for the XDR language (RFC 4506 section 6) as
//! rpcgen accepts it and libvirt writes it. What it does not know (inline
//! struct bodies, `program` blocks, shared `case` arms, `quadruple` ...) is
//! an error naming the line, so nothing on the wire is ever silently skipped.

use crate::Error;
use crate::ast::*;
use crate::lexer::{Tok, Token, tokenize};

/// Parses a whole `.x` file.
pub fn parse(src: &str) -> Result<Vec<Definition>, Error> {
    let tokens = tokenize(src)?;
    let mut p = Parser { tokens, pos: 0 };
    let mut defs = Vec::new();
    while p.pos < p.tokens.len() {
        defs.push(p.definition()?);
    }
    Ok(defs)
}

struct Parser {
    tokens: Vec<Token>,
    pos: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.pos)
    }

    fn line(&self) -> usize {
        self.peek().or(self.tokens.last()).map_or(1, |t| t.line)
    }

    fn next(&mut self) -> Result<Token, Error> {
        let t = self
            .tokens
            .get(self.pos)
            .cloned()
            .ok_or_else(|| Error::at(self.line(), "unexpected end of file"))?;
        self.pos += 1;
        Ok(t)
    }

    fn is_punct(&self, c: char) -> bool {
        matches!(self.peek(), Some(Token { kind: Tok::Punct(p), .. }) if *p == c)
    }

    fn is_word(&self, w: &str) -> bool {
        matches!(self.peek(), Some(Token { kind: Tok::Ident(s), .. }) if s == w)
    }

    fn expect(&mut self, c: char) -> Result<(), Error> {
        let t = self.next()?;
        match t.kind {
            Tok::Punct(p) if p == c => Ok(()),
            other => Err(Error::at(t.line, format!("expected `{c}`, found {other}"))),
        }
    }

    fn eat(&mut self, c: char) -> bool {
        let yes = self.is_punct(c);
        if yes {
            self.pos += 1;
        }
        yes
    }

    fn ident(&mut self) -> Result<(String, usize), Error> {
        let t = self.next()?;
        match t.kind {
            Tok::Ident(s) if !is_keyword(&s) => Ok((s, t.line)),
            other => Err(Error::at(t.line, format!("expected a name, found {other}"))),
        }
    }

    fn value(&mut self) -> Result<Value, Error> {
        let t = self.next()?;
        match t.kind {
            Tok::Number(n) => Ok(Value::Number(n)),
            Tok::Ident(s) if !is_keyword(&s) => Ok(Value::Name(s)),
            other => Err(Error::at(
                t.line,
                format!("expected a number or constant, found {other}"),
            )),
        }
    }

    fn definition(&mut self) -> Result<Definition, Error> {
        let t = self.next()?;
        let Tok::Ident(word) = &t.kind else {
            return Err(Error::at(
                t.line,
                format!("expected a definition, found {}", t.kind),
            ));
        };
        let def = match word.as_str() {
            "const" => {
                let (name, line) = self.ident()?;
                self.expect('=')?;
                let value = self.value()?;
                Definition::Const { name, value, line }
            }
            "typedef" => {
                let decl = self.declaration()?;
                Definition::Typedef(
                    decl.ok_or_else(|| Error::at(t.line, "`typedef void` is meaningless"))?,
                )
            }
            "struct" => {
                let (name, line) = self.ident()?;
                self.expect('{')?;
                let mut fields = Vec::new();
                while !self.eat('}') {
                    let decl = self.declaration()?;
                    fields.push(decl.ok_or_else(|| Error::at(self.line(), "`void` struct field"))?);
                    self.expect(';')?;
                }
                if fields.is_empty() {
                    return Err(Error::at(line, format!("struct `{name}` has no fields")));
                }
                Definition::Struct { name, fields, line }
            }
            "enum" => {
                let (name, line) = self.ident()?;
                let values = self.enum_body()?;
                Definition::Enum { name, values, line }
            }
            "union" => self.union_body(t.line)?,
            "program" => {
                return Err(Error::at(
                    t.line,
                    "`program` blocks are not supported (libvirt numbers procedures with an enum)",
                ));
            }
            other => return Err(Error::at(t.line, format!("unknown definition `{other}`"))),
        };
        self.expect(';')?;
        Ok(def)
    }

    fn enum_body(&mut self) -> Result<Vec<EnumValue>, Error> {
        self.expect('{')?;
        let mut values = Vec::new();
        loop {
            let doc = self.peek().and_then(|t| t.doc.clone());
            let (name, line) = self.ident()?;
            if !self.eat('=') {
                return Err(Error::at(
                    line,
                    format!("enum value `{name}` needs an explicit `= value`"),
                ));
            }
            let value = self.value()?;
            values.push(EnumValue {
                name,
                value,
                line,
                doc,
            });
            if self.eat('}') {
                break;
            }
            self.expect(',')?;
            // rpcgen tolerates a trailing comma.
            if self.eat('}') {
                break;
            }
        }
        Ok(values)
    }

    fn union_body(&mut self, line: usize) -> Result<Definition, Error> {
        let (name, _) = self.ident()?;
        let t = self.next()?;
        if t.kind != Tok::Ident("switch".into()) {
            return Err(Error::at(
                t.line,
                format!("expected `switch` after `union {name}`"),
            ));
        }
        self.expect('(')?;
        let discriminant = self
            .declaration()?
            .ok_or_else(|| Error::at(t.line, "a union cannot switch on `void`"))?;
        self.expect(')')?;
        self.expect('{')?;
        let mut arms = Vec::new();
        let mut default = None;
        while !self.eat('}') {
            let t = self.next()?;
            match &t.kind {
                Tok::Ident(w) if w == "case" => {
                    let label = self.value()?;
                    self.expect(':')?;
                    if self.is_word("case") {
                        return Err(Error::at(
                            t.line,
                            "several `case` labels sharing one arm are not supported",
                        ));
                    }
                    let decl = self.declaration()?;
                    self.expect(';')?;
                    arms.push(UnionArm {
                        label,
                        decl,
                        line: t.line,
                    });
                }
                Tok::Ident(w) if w == "default" => {
                    if default.is_some() {
                        return Err(Error::at(t.line, "second `default` arm"));
                    }
                    self.expect(':')?;
                    default = Some(self.declaration()?);
                    self.expect(';')?;
                }
                other => {
                    return Err(Error::at(
                        t.line,
                        format!("expected `case`, `default` or `}}`, found {other}"),
                    ));
                }
            }
        }
        if arms.is_empty() {
            return Err(Error::at(
                line,
                format!("union `{name}` has no `case` arms"),
            ));
        }
        Ok(Definition::Union {
            name,
            discriminant,
            arms,
            default,
            line,
        })
    }

    /// A declaration (RFC 4506 6.3); `None` for `void`.
    fn declaration(&mut self) -> Result<Option<Declaration>, Error> {
        let line = self.line();
        if self.is_word("void") {
            self.pos += 1;
            return Ok(None);
        }
        if self.is_word("opaque") || self.is_word("string") {
            let is_string = self.is_word("string");
            self.pos += 1;
            let (name, _) = self.ident()?;
            let shape = if !is_string && self.eat('[') {
                let n = self.value()?;
                self.expect(']')?;
                Shape::FixedOpaque(n)
            } else {
                let max = self.var_limit()?;
                if is_string {
                    Shape::String(max)
                } else {
                    Shape::VarOpaque(max)
                }
            };
            return Ok(Some(Declaration { name, shape, line }));
        }
        let ty = self.type_spec()?;
        if self.eat('*') {
            let (name, _) = self.ident()?;
            return Ok(Some(Declaration {
                name,
                shape: Shape::Optional(ty),
                line,
            }));
        }
        let (name, _) = self.ident()?;
        let shape = if self.eat('[') {
            let n = self.value()?;
            self.expect(']')?;
            Shape::FixedArray(ty, n)
        } else if self.is_punct('<') {
            Shape::VarArray(ty, self.var_limit()?)
        } else {
            Shape::Plain(ty)
        };
        Ok(Some(Declaration { name, shape, line }))
    }

    /// `<N>` or `<>`.
    fn var_limit(&mut self) -> Result<Option<Value>, Error> {
        self.expect('<')?;
        if self.eat('>') {
            return Ok(None);
        }
        let v = self.value()?;
        self.expect('>')?;
        Ok(Some(v))
    }

    fn type_spec(&mut self) -> Result<TypeSpec, Error> {
        let t = self.next()?;
        let Tok::Ident(word) = &t.kind else {
            return Err(Error::at(
                t.line,
                format!("expected a type, found {}", t.kind),
            ));
        };
        Ok(match word.as_str() {
            "unsigned" => {
                let ty = match self.peek().map(|t| &t.kind) {
                    Some(Tok::Ident(w)) if w == "int" => TypeSpec::UInt,
                    Some(Tok::Ident(w)) if w == "hyper" => TypeSpec::UHyper,
                    Some(Tok::Ident(w)) if w == "char" => TypeSpec::UChar,
                    Some(Tok::Ident(w)) if w == "short" => TypeSpec::UShort,
                    // Plain `unsigned` is `unsigned int` in rpcgen.
                    _ => return Ok(TypeSpec::UInt),
                };
                self.pos += 1;
                ty
            }
            "int" => TypeSpec::Int,
            "hyper" => TypeSpec::Hyper,
            "char" => TypeSpec::Char,
            "short" => TypeSpec::Short,
            "bool" => TypeSpec::Bool,
            "float" => TypeSpec::Float,
            "double" => TypeSpec::Double,
            "struct" | "enum" | "union" => {
                if self.is_punct('{') {
                    return Err(Error::at(
                        t.line,
                        format!(
                            "inline `{word} {{ ... }}` bodies are not supported; name the type"
                        ),
                    ));
                }
                TypeSpec::Named(self.ident()?.0)
            }
            "quadruple" | "long" => {
                return Err(Error::at(t.line, format!("type `{word}` is not supported")));
            }
            w if is_keyword(w) => {
                return Err(Error::at(t.line, format!("expected a type, found `{w}`")));
            }
            w => TypeSpec::Named(w.to_owned()),
        })
    }
}

fn is_keyword(w: &str) -> bool {
    matches!(
        w,
        "bool"
            | "case"
            | "const"
            | "default"
            | "double"
            | "quadruple"
            | "enum"
            | "float"
            | "hyper"
            | "int"
            | "opaque"
            | "string"
            | "struct"
            | "switch"
            | "typedef"
            | "union"
            | "unsigned"
            | "void"
            | "char"
            | "short"
            | "long"
            | "program"
            | "version"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_definition_kind() {
        let src = r#"
            const MAX = 16;
            typedef string name_t<MAX>;
            typedef opaque uuid_t[16];
            typedef struct thing *thing_ptr;
            enum color { RED = 0, GREEN = 1, };
            struct thing {
                unsigned hyper size;
                unsigned flags;
                char model[32];
                name_t names<>;
                opaque data<MAX>;
                int *maybe;
            };
            union u switch (unsigned int kind) {
             case 1: int i;
             case RED: void;
             default: string s<4>;
            };
        "#;
        let defs = parse(src).unwrap();
        assert_eq!(defs.len(), 7);
        let Definition::Struct { fields, .. } = &defs[5] else {
            panic!()
        };
        assert_eq!(fields[0].shape, Shape::Plain(TypeSpec::UHyper));
        assert_eq!(fields[1].shape, Shape::Plain(TypeSpec::UInt));
        assert_eq!(
            fields[2].shape,
            Shape::FixedArray(TypeSpec::Char, Value::Number(32))
        );
        assert_eq!(
            fields[3].shape,
            Shape::VarArray(TypeSpec::Named("name_t".into()), None)
        );
        assert_eq!(
            fields[4].shape,
            Shape::VarOpaque(Some(Value::Name("MAX".into())))
        );
        assert_eq!(fields[5].shape, Shape::Optional(TypeSpec::Int));
        let Definition::Union {
            arms,
            default,
            discriminant,
            ..
        } = &defs[6]
        else {
            panic!()
        };
        assert_eq!(discriminant.shape, Shape::Plain(TypeSpec::UInt));
        assert_eq!(arms.len(), 2);
        assert!(arms[1].decl.is_none());
        assert!(matches!(
            default,
            Some(Some(Declaration {
                shape: Shape::String(_),
                ..
            }))
        ));
    }

    #[test]
    fn refuses_with_the_line() {
        let cases = [
            ("const A = 1;\nstruct s { struct { int a; } x; };", 2),
            (
                "const A = 1;\n\nprogram P { version V { void F(void) = 1; } = 1; } = 7;",
                3,
            ),
            ("union u switch (int d) {\n case 1:\n case 2: int x;\n};", 2),
            ("enum e { A = 1,\n B };", 2),
            ("struct s {\n quadruple q;\n};", 2),
            ("struct s {\n int a\n};", 3),
        ];
        for (src, line) in cases {
            let err = parse(src).unwrap_err();
            assert_eq!(err.line, Some(line), "{src}: {err}");
        }
    }
}
