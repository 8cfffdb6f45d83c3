//! XDR (RFC 4506) as libvirt's rpcgen-generated code speaks it.
//!
//! Everything is big-endian and padded to 4-byte units: `int`, `unsigned`,
//! `bool`, `enum`, and also `char`, `short` and their unsigned forms, take 4
//! bytes; `hyper` takes 8. Strings and variable opaque data are a `u32`
//! length, the bytes, then zero padding; optional values (`*T`) are a `u32`
//! 0 or 1 followed by the value; variable arrays are a `u32` count followed by
//! the elements.
//!
//! Decoding never trusts a length or a count: each is checked against its
//! declared maximum (as libvirt's `.x` files state them) and against the bytes
//! actually left before anything is allocated, so arbitrary input can neither
//! panic nor make the decoder allocate more than a small multiple of its size.
//! [`XdrReader::allocated`] reports what a decode reserved, for tests to check.
//!
//! Decoding is canonical where the sender is libvirt: padding must be zero and
//! optional/bool discriminants 0 or 1, so a value that decodes re-encodes to
//! the same bytes (the one exception is `char`, see the `i8` impl).

use thiserror::Error;

/// `REMOTE_STRING_MAX` (and `VIR_NET_MESSAGE_STRING_MAX`): the longest string
/// libvirt accepts, 4 MiB.
pub const REMOTE_STRING_MAX: u32 = 4_194_304;

/// Every XDR item occupies a multiple of this many bytes.
const UNIT: usize = 4;

/// What can go wrong encoding or decoding XDR.
#[derive(Debug, Error)]
pub enum XdrError {
    /// The input ended inside a value.
    #[error("XDR data ends early: {needed} bytes needed, {available} left")]
    Truncated {
        /// Bytes the value needs.
        needed: usize,
        /// Bytes left.
        available: usize,
    },
    /// A string, opaque or array is longer than its declared maximum.
    #[error("{what} of length {len} exceeds its limit of {max}")]
    TooLong {
        /// What was too long.
        what: &'static str,
        /// Its length.
        len: usize,
        /// Its limit.
        max: usize,
    },
    /// A bool or optional-value discriminant other than 0 or 1.
    #[error("invalid {what} discriminant {value}")]
    InvalidDiscriminant {
        /// What was read.
        what: &'static str,
        /// The discriminant.
        value: u32,
    },
    /// A 4-byte unit holding a value that does not fit the narrower C type.
    #[error("value {value} out of range for {what}")]
    OutOfRange {
        /// The C type.
        what: &'static str,
        /// The value read.
        value: i64,
    },
    /// Padding bytes after a string or opaque were not zero.
    #[error("non-zero padding after {what}")]
    NonZeroPadding {
        /// What was padded.
        what: &'static str,
    },
    /// A string that is not UTF-8 (libvirt only sends UTF-8 names and XML).
    #[error("string is not valid UTF-8")]
    InvalidUtf8(#[source] std::str::Utf8Error),
    /// Bytes left over after a value that should fill the whole buffer.
    #[error("{count} unexpected bytes after the XDR value")]
    TrailingBytes {
        /// How many.
        count: usize,
    },
}

/// A value that can be written as XDR.
pub trait XdrEncode {
    /// Append the XDR form of `self` to `w`.
    fn encode(&self, w: &mut XdrWriter) -> Result<(), XdrError>;
}

/// A value that can be read from XDR.
pub trait XdrDecode: Sized {
    /// A lower bound on the bytes one encoded value occupies. Array decoding
    /// uses it to reject counts the remaining input cannot hold before
    /// reserving memory for them. Every XDR item but `void` takes at least 4.
    const MIN_WIRE_SIZE: usize = UNIT;

    /// Read one value from `r`, advancing it.
    fn decode(r: &mut XdrReader<'_>) -> Result<Self, XdrError>;
}

/// Encode `value` into a fresh buffer.
pub fn to_bytes<T: XdrEncode + ?Sized>(value: &T) -> Result<Vec<u8>, XdrError> {
    let mut w = XdrWriter::new();
    value.encode(&mut w)?;
    Ok(w.into_inner())
}

/// Decode a `T` that must occupy all of `bytes`.
pub fn from_bytes<T: XdrDecode>(bytes: &[u8]) -> Result<T, XdrError> {
    let mut r = XdrReader::new(bytes);
    let value = T::decode(&mut r)?;
    r.finish()?;
    Ok(value)
}

fn padding(len: usize) -> usize {
    (UNIT - len % UNIT) % UNIT
}

fn check_len(what: &'static str, len: usize, max: u32) -> Result<(), XdrError> {
    if len > max as usize {
        return Err(XdrError::TooLong {
            what,
            len,
            max: max as usize,
        });
    }
    Ok(())
}

/// Appends XDR to a byte buffer.
#[derive(Debug, Default, Clone)]
pub struct XdrWriter {
    buf: Vec<u8>,
}

impl XdrWriter {
    /// An empty writer.
    pub fn new() -> Self {
        Self::default()
    }

    /// A writer that appends to `buf`, e.g. after a packet header already in it.
    pub fn from_vec(buf: Vec<u8>) -> Self {
        Self { buf }
    }

    /// The bytes written so far (including any the writer started with).
    pub fn into_inner(self) -> Vec<u8> {
        self.buf
    }

    /// The bytes written so far.
    pub fn as_bytes(&self) -> &[u8] {
        &self.buf
    }

    /// Number of bytes in the buffer.
    pub fn len(&self) -> usize {
        self.buf.len()
    }

    /// Whether the buffer is empty.
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// `unsigned int`.
    pub fn put_u32(&mut self, v: u32) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }

    /// `int`.
    pub fn put_i32(&mut self, v: i32) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }

    /// `unsigned hyper`.
    pub fn put_u64(&mut self, v: u64) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }

    /// `hyper`.
    pub fn put_i64(&mut self, v: i64) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }

    /// `bool`: 0 or 1 in four bytes.
    pub fn put_bool(&mut self, v: bool) {
        self.put_u32(u32::from(v));
    }

    fn put_padding(&mut self, len: usize) {
        self.buf.extend_from_slice(&[0; UNIT][..padding(len)]);
    }

    /// Fixed-length `opaque x[N]`: the bytes and padding, no length word.
    pub fn put_opaque_fixed(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
        self.put_padding(bytes.len());
    }

    /// Variable-length `opaque x<max>`.
    pub fn put_opaque(&mut self, bytes: &[u8], max: u32) -> Result<(), XdrError> {
        check_len("opaque", bytes.len(), max)?;
        self.put_u32(bytes.len() as u32);
        self.put_opaque_fixed(bytes);
        Ok(())
    }

    /// `string x<max>`.
    pub fn put_string(&mut self, s: &str, max: u32) -> Result<(), XdrError> {
        check_len("string", s.len(), max)?;
        self.put_u32(s.len() as u32);
        self.put_opaque_fixed(s.as_bytes());
        Ok(())
    }

    /// Variable-length array `T x<max>`: a count, then each element.
    pub fn put_array<T: XdrEncode>(&mut self, items: &[T], max: u32) -> Result<(), XdrError> {
        check_len("array", items.len(), max)?;
        self.put_u32(items.len() as u32);
        items.iter().try_for_each(|item| item.encode(self))
    }

    /// Any encodable value.
    pub fn put<T: XdrEncode + ?Sized>(&mut self, value: &T) -> Result<(), XdrError> {
        value.encode(self)
    }
}

/// Reads XDR from a byte slice, checking every length before trusting it.
#[derive(Debug, Clone)]
pub struct XdrReader<'a> {
    buf: &'a [u8],
    pos: usize,
    allocated: usize,
}

impl<'a> XdrReader<'a> {
    /// A reader positioned at the start of `buf`.
    pub fn new(buf: &'a [u8]) -> Self {
        Self {
            buf,
            pos: 0,
            allocated: 0,
        }
    }

    /// Bytes consumed so far.
    pub fn position(&self) -> usize {
        self.pos
    }

    /// Bytes not yet consumed.
    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// The unconsumed bytes.
    pub fn rest(&self) -> &'a [u8] {
        &self.buf[self.pos..]
    }

    /// Heap bytes this reader has reserved for strings, opaques and arrays
    /// (vector capacity times element size). Tests use it to show that
    /// allocation stays proportional to the input.
    pub fn allocated(&self) -> usize {
        self.allocated
    }

    /// Succeeds only if every byte has been consumed.
    pub fn finish(&self) -> Result<(), XdrError> {
        match self.remaining() {
            0 => Ok(()),
            count => Err(XdrError::TrailingBytes { count }),
        }
    }

    /// The next `n` bytes, without copying.
    pub fn take(&mut self, n: usize) -> Result<&'a [u8], XdrError> {
        let available = self.remaining();
        if n > available {
            return Err(XdrError::Truncated {
                needed: n,
                available,
            });
        }
        let bytes = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(bytes)
    }

    fn take_array<const N: usize>(&mut self) -> Result<[u8; N], XdrError> {
        let mut out = [0; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    /// `unsigned int`.
    pub fn get_u32(&mut self) -> Result<u32, XdrError> {
        self.take_array().map(u32::from_be_bytes)
    }

    /// `int`.
    pub fn get_i32(&mut self) -> Result<i32, XdrError> {
        self.take_array().map(i32::from_be_bytes)
    }

    /// `unsigned hyper`.
    pub fn get_u64(&mut self) -> Result<u64, XdrError> {
        self.take_array().map(u64::from_be_bytes)
    }

    /// `hyper`.
    pub fn get_i64(&mut self) -> Result<i64, XdrError> {
        self.take_array().map(i64::from_be_bytes)
    }

    fn get_discriminant(&mut self, what: &'static str) -> Result<bool, XdrError> {
        match self.get_u32()? {
            0 => Ok(false),
            1 => Ok(true),
            value => Err(XdrError::InvalidDiscriminant { what, value }),
        }
    }

    /// `bool`: only 0 and 1 are accepted.
    pub fn get_bool(&mut self) -> Result<bool, XdrError> {
        self.get_discriminant("bool")
    }

    fn skip_padding(&mut self, len: usize, what: &'static str) -> Result<(), XdrError> {
        if self.take(padding(len))?.iter().any(|&b| b != 0) {
            return Err(XdrError::NonZeroPadding { what });
        }
        Ok(())
    }

    /// Fixed-length `opaque x[N]`.
    pub fn get_opaque_fixed<const N: usize>(&mut self) -> Result<[u8; N], XdrError> {
        let out = self.take_array()?;
        self.skip_padding(N, "fixed opaque")?;
        Ok(out)
    }

    /// Variable-length `opaque x<max>`, borrowed from the input.
    pub fn get_opaque_ref(&mut self, max: u32) -> Result<&'a [u8], XdrError> {
        self.get_bytes("opaque", max)
    }

    /// Variable-length `opaque x<max>`, copied.
    pub fn get_opaque(&mut self, max: u32) -> Result<Vec<u8>, XdrError> {
        let bytes = self.get_opaque_ref(max)?;
        self.allocated += bytes.len();
        Ok(bytes.to_vec())
    }

    fn get_bytes(&mut self, what: &'static str, max: u32) -> Result<&'a [u8], XdrError> {
        let len = self.get_u32()? as usize;
        check_len(what, len, max)?;
        // Check the padded length up front so a huge claim fails before any copy.
        let padded = len + padding(len);
        if padded > self.remaining() {
            return Err(XdrError::Truncated {
                needed: padded,
                available: self.remaining(),
            });
        }
        let bytes = self.take(len)?;
        self.skip_padding(len, what)?;
        Ok(bytes)
    }

    /// `string x<max>`; must be UTF-8.
    pub fn get_string(&mut self, max: u32) -> Result<String, XdrError> {
        let bytes = self.get_bytes("string", max)?;
        let s = std::str::from_utf8(bytes).map_err(XdrError::InvalidUtf8)?;
        self.allocated += s.len();
        Ok(s.to_owned())
    }

    /// Variable-length array `T x<max>`.
    pub fn get_array<T: XdrDecode>(&mut self, max: u32) -> Result<Vec<T>, XdrError> {
        let count = self.get_u32()? as usize;
        check_len("array", count, max)?;
        // A count the remaining input cannot hold is rejected before reserving
        // anything for it, so capacity stays proportional to the input.
        let min = T::MIN_WIRE_SIZE.max(1);
        if count > self.remaining() / min {
            return Err(XdrError::Truncated {
                needed: count.saturating_mul(min),
                available: self.remaining(),
            });
        }
        let mut items = Vec::with_capacity(count);
        self.allocated += count * std::mem::size_of::<T>();
        for _ in 0..count {
            items.push(T::decode(self)?);
        }
        Ok(items)
    }

    /// Optional value `T *x`.
    pub fn get_option<T: XdrDecode>(&mut self) -> Result<Option<T>, XdrError> {
        if self.get_discriminant("optional")? {
            T::decode(self).map(Some)
        } else {
            Ok(None)
        }
    }

    /// Any decodable value.
    pub fn get<T: XdrDecode>(&mut self) -> Result<T, XdrError> {
        T::decode(self)
    }
}

macro_rules! xdr_word {
    ($($t:ty: $put:ident, $get:ident;)*) => {$(
        impl XdrEncode for $t {
            fn encode(&self, w: &mut XdrWriter) -> Result<(), XdrError> {
                w.$put(*self);
                Ok(())
            }
        }
        impl XdrDecode for $t {
            const MIN_WIRE_SIZE: usize = std::mem::size_of::<$t>().next_multiple_of(UNIT);

            fn decode(r: &mut XdrReader<'_>) -> Result<Self, XdrError> {
                r.$get()
            }
        }
    )*};
}

xdr_word! {
    u32: put_u32, get_u32;
    i32: put_i32, get_i32;
    u64: put_u64, get_u64;
    i64: put_i64, get_i64;
    bool: put_bool, get_bool;
}

// rpcgen widens the narrow C integer types to a full 4-byte unit. Decoding
// rejects values the C type could not hold instead of truncating them.
macro_rules! xdr_narrow {
    ($($t:ty: $what:literal, $wide:ident, $put:ident, $get:ident;)*) => {$(
        impl XdrEncode for $t {
            fn encode(&self, w: &mut XdrWriter) -> Result<(), XdrError> {
                w.$put($wide::from(*self));
                Ok(())
            }
        }
        impl XdrDecode for $t {
            fn decode(r: &mut XdrReader<'_>) -> Result<Self, XdrError> {
                let v = r.$get()?;
                <$t>::try_from(v).map_err(|_| XdrError::OutOfRange { what: $what, value: i64::from(v) })
            }
        }
    )*};
}

xdr_narrow! {
    u8: "unsigned char", u32, put_u32, get_u32;
    u16: "unsigned short", u32, put_u32, get_u32;
    i16: "short", i32, put_i32, get_i32;
}

/// `char`: sent sign-extended by libvirt on x86 (signed `char`), but as
/// 0..=255 by hosts whose `char` is unsigned, so both spellings decode.
impl XdrEncode for i8 {
    fn encode(&self, w: &mut XdrWriter) -> Result<(), XdrError> {
        w.put_i32(i32::from(*self));
        Ok(())
    }
}

impl XdrDecode for i8 {
    fn decode(r: &mut XdrReader<'_>) -> Result<Self, XdrError> {
        let v = r.get_i32()?;
        match v {
            -128..=127 => Ok(v as i8),
            128..=255 => Ok(v as u8 as i8),
            _ => Err(XdrError::OutOfRange {
                what: "char",
                value: i64::from(v),
            }),
        }
    }
}

impl XdrEncode for f64 {
    fn encode(&self, w: &mut XdrWriter) -> Result<(), XdrError> {
        w.put_u64(self.to_bits());
        Ok(())
    }
}

impl XdrDecode for f64 {
    const MIN_WIRE_SIZE: usize = 8;

    fn decode(r: &mut XdrReader<'_>) -> Result<Self, XdrError> {
        r.get_u64().map(f64::from_bits)
    }
}

/// `void`: procedures without arguments or return value.
impl XdrEncode for () {
    fn encode(&self, _: &mut XdrWriter) -> Result<(), XdrError> {
        Ok(())
    }
}

impl XdrDecode for () {
    const MIN_WIRE_SIZE: usize = 0;

    fn decode(_: &mut XdrReader<'_>) -> Result<Self, XdrError> {
        Ok(())
    }
}

/// `remote_nonnull_string`: a string of at most [`REMOTE_STRING_MAX`] bytes.
impl XdrEncode for String {
    fn encode(&self, w: &mut XdrWriter) -> Result<(), XdrError> {
        w.put_string(self, REMOTE_STRING_MAX)
    }
}

impl XdrEncode for str {
    fn encode(&self, w: &mut XdrWriter) -> Result<(), XdrError> {
        w.put_string(self, REMOTE_STRING_MAX)
    }
}

impl XdrDecode for String {
    fn decode(r: &mut XdrReader<'_>) -> Result<Self, XdrError> {
        r.get_string(REMOTE_STRING_MAX)
    }
}

/// Optional value (`T *x`, e.g. `remote_string`).
impl<T: XdrEncode> XdrEncode for Option<T> {
    fn encode(&self, w: &mut XdrWriter) -> Result<(), XdrError> {
        match self {
            None => {
                w.put_u32(0);
                Ok(())
            }
            Some(v) => {
                w.put_u32(1);
                v.encode(w)
            }
        }
    }
}

impl<T: XdrDecode> XdrDecode for Option<T> {
    fn decode(r: &mut XdrReader<'_>) -> Result<Self, XdrError> {
        r.get_option()
    }
}

/// Fixed-length opaque (`opaque x[N]`), e.g. `remote_uuid`.
impl<const N: usize> XdrEncode for [u8; N] {
    fn encode(&self, w: &mut XdrWriter) -> Result<(), XdrError> {
        w.put_opaque_fixed(self);
        Ok(())
    }
}

impl<const N: usize> XdrDecode for [u8; N] {
    const MIN_WIRE_SIZE: usize = N.next_multiple_of(UNIT);

    fn decode(r: &mut XdrReader<'_>) -> Result<Self, XdrError> {
        r.get_opaque_fixed()
    }
}

/// Fixed-length `char x[N]`: rpcgen sends each `char` as a 4-byte unit
/// (`remote_node_get_info_ret.model` is 32 chars, 128 bytes).
impl<const N: usize> XdrEncode for [i8; N] {
    fn encode(&self, w: &mut XdrWriter) -> Result<(), XdrError> {
        self.iter().try_for_each(|c| c.encode(w))
    }
}

impl<const N: usize> XdrDecode for [i8; N] {
    const MIN_WIRE_SIZE: usize = N * UNIT;

    fn decode(r: &mut XdrReader<'_>) -> Result<Self, XdrError> {
        let mut out = [0; N];
        for c in &mut out {
            *c = r.get()?;
        }
        Ok(out)
    }
}

/// Declares a struct whose XDR form is its fields in order, as rpcgen lays
/// out an XDR `struct`. Fields are encoded through their [`XdrEncode`] /
/// [`XdrDecode`] impls, except variable-length ones, which name their kind and
/// limit after `=>`: `array(MAX)` for `Vec<T>` (`T x<MAX>`), `opaque(MAX)` for
/// `Vec<u8>` (`opaque x<MAX>`), `string(MAX)` for a `String` with a limit other
/// than `REMOTE_STRING_MAX`.
///
/// In test builds it also implements proptest's `Arbitrary`, with arrays cut
/// to a few elements, for the round-trip and fuzz tests.
macro_rules! xdr_struct {
    (
        $(#[$meta:meta])*
        pub struct $name:ident {
            $(
                $(#[$fmeta:meta])*
                pub $field:ident : $ty:ty $(=> $kind:ident($max:expr))?
            ),* $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Default)]
        pub struct $name {
            $( $(#[$fmeta])* pub $field: $ty, )*
        }

        impl $crate::xdr::XdrEncode for $name {
            #[allow(unused_variables)]
            fn encode(
                &self,
                w: &mut $crate::xdr::XdrWriter,
            ) -> ::std::result::Result<(), $crate::xdr::XdrError> {
                $( $crate::xdr::xdr_struct!(@put w, &self.$field $(, $kind, $max)?); )*
                Ok(())
            }
        }

        impl $crate::xdr::XdrDecode for $name {
            const MIN_WIRE_SIZE: usize =
                0 $( + $crate::xdr::xdr_struct!(@min $ty $(, $kind)?) )*;

            #[allow(unused_variables)]
            fn decode(
                r: &mut $crate::xdr::XdrReader<'_>,
            ) -> ::std::result::Result<Self, $crate::xdr::XdrError> {
                // Struct-literal fields are evaluated in source order, which
                // is the wire order.
                Ok(Self {
                    $( $field: $crate::xdr::xdr_struct!(@get r $(, $kind, $max)?), )*
                })
            }
        }

        #[cfg(test)]
        impl ::proptest::arbitrary::Arbitrary for $name {
            type Parameters = ();
            type Strategy = ::proptest::strategy::BoxedStrategy<Self>;

            fn arbitrary_with(_: ()) -> Self::Strategy {
                use ::proptest::strategy::Strategy as _;
                (
                    $( $crate::xdr::xdr_struct!(@arb $ty $(, $kind, $max)?), )*
                )
                    .prop_map(|($($field,)*)| Self { $($field),* })
                    .boxed()
            }
        }
    };

    (@put $w:ident, $v:expr) => { $w.put($v)? };
    (@put $w:ident, $v:expr, array, $max:expr) => { $w.put_array($v, $max)? };
    (@put $w:ident, $v:expr, opaque, $max:expr) => { $w.put_opaque($v, $max)? };
    (@put $w:ident, $v:expr, string, $max:expr) => { $w.put_string($v, $max)? };

    (@min $ty:ty) => { <$ty as $crate::xdr::XdrDecode>::MIN_WIRE_SIZE };
    // A length or count word, possibly followed by nothing.
    (@min $ty:ty, $kind:ident) => { 4 };

    (@get $r:ident) => { $r.get()? };
    (@get $r:ident, array, $max:expr) => { $r.get_array($max)? };
    (@get $r:ident, opaque, $max:expr) => { $r.get_opaque($max)? };
    (@get $r:ident, string, $max:expr) => { $r.get_string($max)? };

    (@arb $ty:ty) => { ::proptest::prelude::any::<$ty>() };
    // Generated strings are far below any limit (and `truncate` could split a char).
    (@arb $ty:ty, string, $max:expr) => { ::proptest::prelude::any::<$ty>() };
    // A handful of elements is enough to exercise arrays and keeps tests fast.
    (@arb $ty:ty, $kind:ident, $max:expr) => {
        ::proptest::prelude::any::<$ty>().prop_map(|mut v: $ty| {
            v.truncate(::std::cmp::min(8, $max as usize));
            v
        })
    };
}

pub(crate) use xdr_struct;

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn string_layout_pads_to_four() {
        let bytes = to_bytes("test:///default").unwrap();
        assert_eq!(bytes.len(), 4 + 15 + 1);
        assert_eq!(&bytes[..4], &[0, 0, 0, 15]);
        assert_eq!(bytes[19], 0);
        assert_eq!(from_bytes::<String>(&bytes).unwrap(), "test:///default");
    }

    #[test]
    fn narrow_types_take_four_bytes() {
        assert_eq!(to_bytes(&1u8).unwrap(), [0, 0, 0, 1]);
        assert_eq!(to_bytes(&2u16).unwrap(), [0, 0, 0, 2]);
        assert_eq!(to_bytes(&-1i8).unwrap(), [0xff; 4]);
        assert_eq!(to_bytes(&true).unwrap(), [0, 0, 0, 1]);
        assert!(matches!(
            from_bytes::<u8>(&[0, 0, 1, 0]),
            Err(XdrError::OutOfRange { .. })
        ));
        // An unsigned-char host sends 0x80 as 128.
        assert_eq!(from_bytes::<i8>(&[0, 0, 0, 0x80]).unwrap(), -128);
    }

    #[test]
    fn option_and_uuid() {
        let v: Option<String> = None;
        assert_eq!(to_bytes(&v).unwrap(), [0, 0, 0, 0]);
        let uuid = [7u8; 16];
        assert_eq!(to_bytes(&uuid).unwrap(), uuid);
        assert!(matches!(
            from_bytes::<Option<u32>>(&[0, 0, 0, 2]),
            Err(XdrError::InvalidDiscriminant { value: 2, .. })
        ));
    }

    #[test]
    fn limits_are_enforced_both_ways() {
        let mut w = XdrWriter::new();
        assert!(matches!(
            w.put_array(&[1u32, 2, 3], 2),
            Err(XdrError::TooLong { len: 3, max: 2, .. })
        ));
        assert!(matches!(
            w.put_string("abc", 2),
            Err(XdrError::TooLong { .. })
        ));
        // count 3 > max 2
        let bytes = [0, 0, 0, 3, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3];
        assert!(matches!(
            XdrReader::new(&bytes).get_array::<u32>(2),
            Err(XdrError::TooLong { .. })
        ));
        // A string longer than REMOTE_STRING_MAX is refused from its length word.
        let huge = (REMOTE_STRING_MAX + 1).to_be_bytes();
        assert!(matches!(
            from_bytes::<String>(&huge),
            Err(XdrError::TooLong { .. })
        ));
    }

    #[test]
    fn huge_counts_fail_before_allocating() {
        // Claims 16384 elements (within the limit) but carries none.
        let bytes = 16384u32.to_be_bytes();
        let mut r = XdrReader::new(&bytes);
        assert!(matches!(
            r.get_array::<String>(16384),
            Err(XdrError::Truncated { .. })
        ));
        assert_eq!(r.allocated(), 0);
        let bytes = [0xff, 0xff, 0xff, 0xfc];
        assert!(XdrReader::new(&bytes).get_opaque(u32::MAX).is_err());
    }

    #[test]
    fn padding_must_be_zero() {
        assert!(matches!(
            from_bytes::<String>(&[0, 0, 0, 1, b'a', 0, 1, 0]),
            Err(XdrError::NonZeroPadding { .. })
        ));
    }

    #[test]
    fn trailing_bytes_are_reported() {
        assert!(matches!(
            from_bytes::<u32>(&[0, 0, 0, 1, 0, 0, 0, 0]),
            Err(XdrError::TrailingBytes { count: 4 })
        ));
    }

    #[test]
    fn invalid_utf8_is_an_error_with_source() {
        let err = from_bytes::<String>(&[0, 0, 0, 1, 0xff, 0, 0, 0]).unwrap_err();
        assert!(std::error::Error::source(&err).is_some());
    }

    fn roundtrip<T: XdrEncode + XdrDecode + PartialEq + std::fmt::Debug>(v: &T) {
        let bytes = to_bytes(v).unwrap();
        assert_eq!(bytes.len() % 4, 0);
        assert_eq!(&from_bytes::<T>(&bytes).unwrap(), v);
    }

    proptest! {
        #[test]
        fn primitives_roundtrip(a: i32, b: u32, c: i64, d: u64, e: bool, f: u8, g: u16, h: i16, i: i8) {
            roundtrip(&a); roundtrip(&b); roundtrip(&c); roundtrip(&d); roundtrip(&e);
            roundtrip(&f); roundtrip(&g); roundtrip(&h); roundtrip(&i);
        }

        #[test]
        fn strings_roundtrip(s in ".{0,64}", o: Option<String>) {
            roundtrip(&s);
            roundtrip(&o);
        }

        #[test]
        fn opaque_and_arrays_roundtrip(data in proptest::collection::vec(any::<u8>(), 0..64),
                                       items in proptest::collection::vec(any::<u64>(), 0..32),
                                       uuid: [u8; 16], chars: [i8; 32]) {
            let mut w = XdrWriter::new();
            w.put_opaque(&data, 64).unwrap();
            w.put_array(&items, 32).unwrap();
            w.put(&uuid).unwrap();
            w.put(&chars).unwrap();
            let bytes = w.into_inner();
            prop_assert_eq!(bytes.len() % 4, 0);
            let mut r = XdrReader::new(&bytes);
            prop_assert_eq!(r.get_opaque(64).unwrap(), data);
            prop_assert_eq!(r.get_array::<u64>(32).unwrap(), items);
            prop_assert_eq!(r.get::<[u8; 16]>().unwrap(), uuid);
            prop_assert_eq!(r.get::<[i8; 32]>().unwrap(), chars);
            prop_assert!(r.finish().is_ok());
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
            let mut r = XdrReader::new(&bytes);
            let _ = r.get_array::<String>(16384);
            prop_assert!(r.allocated() <= 8 * bytes.len());
            let mut r = XdrReader::new(&bytes);
            let _ = r.get_array::<Option<String>>(16384);
            prop_assert!(r.allocated() <= 8 * bytes.len());
            let _ = from_bytes::<Option<[u8; 16]>>(&bytes);
            let _ = XdrReader::new(&bytes).get_opaque(u32::MAX);
        }
    }
}
