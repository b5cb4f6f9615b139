//! The little of CBOR (RFC 8949) WebAuthn needs: the attestation object and COSE keys. Definite
//! lengths only, as CTAP2's canonical encoding has them; integers up to 64 bits; byte and text
//! strings, arrays, maps, `false`/`true`/`null`. Anything else is refused with what it was.

/// A CBOR value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// An integer (major types 0 and 1).
    Int(i128),
    /// A byte string.
    Bytes(Vec<u8>),
    /// A text string.
    Text(String),
    /// An array.
    Array(Vec<Value>),
    /// A map, its entries in the order written.
    Map(Vec<(Value, Value)>),
    /// `false` or `true`.
    Bool(bool),
    /// `null`.
    Null,
}

impl Value {
    /// The entry of a map under `key`.
    pub fn get(&self, key: &Value) -> Option<&Value> {
        match self {
            Value::Map(entries) => entries.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    /// The entry of a map under the text key `key`.
    pub fn text_key(&self, key: &str) -> Option<&Value> {
        self.get(&Value::Text(key.into()))
    }

    /// The entry of a map under the integer key `key` (COSE's labels).
    pub fn int_key(&self, key: i128) -> Option<&Value> {
        self.get(&Value::Int(key))
    }

    /// The bytes of a byte string.
    pub fn as_bytes(&self) -> Option<&[u8]> {
        match self {
            Value::Bytes(b) => Some(b),
            _ => None,
        }
    }

    /// The integer.
    pub fn as_int(&self) -> Option<i128> {
        match self {
            Value::Int(i) => Some(*i),
            _ => None,
        }
    }

    /// The text.
    pub fn as_text(&self) -> Option<&str> {
        match self {
            Value::Text(t) => Some(t),
            _ => None,
        }
    }
}

fn head(out: &mut Vec<u8>, major: u8, n: u64) {
    let major = major << 5;
    match n {
        0..=23 => out.push(major | n as u8),
        24..=0xff => out.extend([major | 24, n as u8]),
        0x100..=0xffff => {
            out.push(major | 25);
            out.extend((n as u16).to_be_bytes());
        }
        0x1_0000..=0xffff_ffff => {
            out.push(major | 26);
            out.extend((n as u32).to_be_bytes());
        }
        _ => {
            out.push(major | 27);
            out.extend(n.to_be_bytes());
        }
    }
}

/// Encodes `value` (definite lengths, map entries in the order given).
pub fn encode(value: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    write(&mut out, value);
    out
}

fn write(out: &mut Vec<u8>, value: &Value) {
    match value {
        Value::Int(i) if *i >= 0 => head(out, 0, *i as u64),
        Value::Int(i) => head(out, 1, (-1 - *i) as u64),
        Value::Bytes(b) => {
            head(out, 2, b.len() as u64);
            out.extend(b);
        }
        Value::Text(t) => {
            head(out, 3, t.len() as u64);
            out.extend(t.as_bytes());
        }
        Value::Array(items) => {
            head(out, 4, items.len() as u64);
            items.iter().for_each(|v| write(out, v));
        }
        Value::Map(entries) => {
            head(out, 5, entries.len() as u64);
            for (k, v) in entries {
                write(out, k);
                write(out, v);
            }
        }
        Value::Bool(false) => out.push(0xf4),
        Value::Bool(true) => out.push(0xf5),
        Value::Null => out.push(0xf6),
    }
}

/// Decodes one value from the start of `bytes`; returns it and the bytes after it.
pub fn decode(bytes: &[u8]) -> Result<(Value, &[u8]), String> {
    read(bytes, 0)
}

/// How deep arrays and maps may nest (COSE keys and attestation objects need 3).
const MAX_DEPTH: usize = 16;

fn take(bytes: &[u8], n: usize) -> Result<(&[u8], &[u8]), String> {
    if bytes.len() < n {
        return Err(format!("CBOR ends early: {n} bytes wanted, {} left", bytes.len()));
    }
    Ok(bytes.split_at(n))
}

fn read(bytes: &[u8], depth: usize) -> Result<(Value, &[u8]), String> {
    if depth > MAX_DEPTH {
        return Err(format!("CBOR nests deeper than {MAX_DEPTH}"));
    }
    let (&first, rest) = bytes.split_first().ok_or("CBOR ends early: a value wanted")?;
    let (major, info) = (first >> 5, first & 0x1f);
    let (n, rest) = match info {
        0..=23 => (u64::from(info), rest),
        24 => take(rest, 1).map(|(b, r)| (u64::from(b[0]), r))?,
        25 => take(rest, 2).map(|(b, r)| (u64::from(u16::from_be_bytes([b[0], b[1]])), r))?,
        26 => take(rest, 4).map(|(b, r)| (u64::from(u32::from_be_bytes([b[0], b[1], b[2], b[3]])), r))?,
        27 => take(rest, 8).map(|(b, r)| (u64::from_be_bytes(b.try_into().unwrap_or_default()), r))?,
        _ => return Err(format!("CBOR: indefinite or reserved length (0x{first:02x})")),
    };
    let len = |n: u64| usize::try_from(n).map_err(|_| "CBOR: a length past memory".to_string());
    match major {
        0 => Ok((Value::Int(i128::from(n)), rest)),
        1 => Ok((Value::Int(-1 - i128::from(n)), rest)),
        2 => take(rest, len(n)?).map(|(b, r)| (Value::Bytes(b.to_vec()), r)),
        3 => {
            let (b, r) = take(rest, len(n)?)?;
            let text = std::str::from_utf8(b).map_err(|_| "CBOR: a text string that is not UTF-8".to_string())?;
            Ok((Value::Text(text.into()), r))
        }
        4 => {
            let mut rest = rest;
            let mut items = Vec::new();
            for _ in 0..n {
                let (v, r) = read(rest, depth + 1)?;
                items.push(v);
                rest = r;
            }
            Ok((Value::Array(items), rest))
        }
        5 => {
            let mut rest = rest;
            let mut entries = Vec::new();
            for _ in 0..n {
                let (k, r) = read(rest, depth + 1)?;
                let (v, r) = read(r, depth + 1)?;
                entries.push((k, v));
                rest = r;
            }
            Ok((Value::Map(entries), rest))
        }
        7 => match info {
            20 => Ok((Value::Bool(false), rest)),
            21 => Ok((Value::Bool(true), rest)),
            22 => Ok((Value::Null, rest)),
            _ => Err(format!("CBOR: a simple value or float this reader does not take (0x{first:02x})")),
        },
        _ => Err(format!("CBOR: a tagged value this reader does not take (0x{first:02x})")),
    }
}

#[cfg(test)]
mod tests {
    use super::{Value, decode, encode};

    /// RFC 8949, appendix A.
    #[test]
    fn the_rfc_examples_encode_and_decode() {
        let cases: &[(Value, &str)] = &[
            (Value::Int(0), "00"),
            (Value::Int(23), "17"),
            (Value::Int(24), "1818"),
            (Value::Int(1000), "1903e8"),
            (Value::Int(1_000_000), "1a000f4240"),
            (Value::Int(1_000_000_000_000), "1b000000e8d4a51000"),
            (Value::Int(-1), "20"),
            (Value::Int(-100), "3863"),
            (Value::Int(-1000), "3903e7"),
            (Value::Bytes(vec![1, 2, 3, 4]), "4401020304"),
            (Value::Text("IETF".into()), "6449455446"),
            (Value::Text("\u{00fc}".into()), "62c3bc"),
            (Value::Array(vec![Value::Int(1), Value::Int(2), Value::Int(3)]), "83010203"),
            (Value::Map(vec![(Value::Int(1), Value::Int(2)), (Value::Int(3), Value::Int(4))]), "a201020304"),
            (Value::Bool(false), "f4"),
            (Value::Bool(true), "f5"),
            (Value::Null, "f6"),
        ];
        for (value, hex) in cases {
            let bytes: Vec<u8> =
                (0..hex.len()).step_by(2).map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("valid")).collect();
            assert_eq!(encode(value), bytes, "{value:?}");
            assert_eq!(decode(&bytes).expect("valid"), (value.clone(), &[][..]), "{hex}");
        }
    }

    #[test]
    fn what_it_cannot_read_it_names() {
        assert!(decode(&[0x5f]).expect_err("refused").contains("indefinite"));
        assert!(decode(&[0x44, 1, 2]).expect_err("refused").contains("ends early"));
        assert!(decode(&[0xc0, 0x00]).expect_err("refused").contains("tagged"));
        assert!(decode(&[0xfb, 0, 0, 0, 0, 0, 0, 0, 0]).expect_err("refused").contains("float"));
        let deep = [0x81u8; 40];
        assert!(decode(&deep).expect_err("refused").contains("deeper"));
    }
}
