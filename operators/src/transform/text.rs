//! `upper`, `lower`, `trim` on text columns. ASCII text (most of it) is
//! mapped in one pass over the column's bytes; other text value by value
//! with Unicode's rules (`straße` upper-cases to `STRASSE`, as Python's
//! `str.upper` does).

use std::sync::Arc;

use arrow_array::{Array, ArrayRef, StringArray};
use arrow_buffer::Buffer;

use super::error::Error;
use super::table::{TextBuilder, valid};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextFn {
    Upper,
    Lower,
    Trim,
}

pub fn apply(f: TextFn, a: &ArrayRef) -> Result<ArrayRef, Error> {
    let s = a.as_any().downcast_ref::<StringArray>().expect("text column");
    let offsets = s.value_offsets();
    let (first, last) = (offsets[0] as usize, offsets[offsets.len() - 1] as usize);
    let data = &s.value_data()[first..last];
    if f != TextFn::Trim && data.is_ascii() {
        let mapped = match f {
            TextFn::Upper => data.to_ascii_uppercase(),
            _ => data.to_ascii_lowercase(),
        };
        let shifted = if first == 0 {
            s.offsets().clone()
        } else {
            arrow_buffer::OffsetBuffer::new(offsets.iter().map(|o| o - first as i32).collect())
        };
        let out = StringArray::try_new(shifted, Buffer::from_vec(mapped), s.nulls().cloned())?;
        return Ok(Arc::new(out));
    }
    let mut b = TextBuilder::with_capacity(s.len(), data.len());
    let mut buf = String::new();
    for i in 0..s.len() {
        if !valid(s, i) {
            b.push_null();
            continue;
        }
        let v = s.value(i);
        match f {
            TextFn::Trim => b.push(v.trim().as_bytes()),
            TextFn::Upper | TextFn::Lower => {
                buf.clear();
                if f == TextFn::Upper {
                    buf.extend(v.chars().flat_map(char::to_uppercase));
                } else {
                    // str::to_lowercase knows the final sigma.
                    buf.push_str(&v.to_lowercase());
                }
                b.push(buf.as_bytes());
            }
        }
    }
    Ok(Arc::new(b.finish()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(f: TextFn, v: Vec<Option<&str>>) -> Vec<Option<String>> {
        let a: ArrayRef = Arc::new(StringArray::from(v));
        let out = apply(f, &a).unwrap();
        let s = out.as_any().downcast_ref::<StringArray>().unwrap();
        s.iter().map(|v| v.map(str::to_string)).collect()
    }

    #[test]
    fn ascii_and_unicode() {
        assert_eq!(
            run(TextFn::Upper, vec![Some("85123a"), None, Some("post")]),
            [Some("85123A".into()), None, Some("POST".into())]
        );
        assert_eq!(
            run(TextFn::Upper, vec![Some("crème brûlée"), Some("straße"), None]),
            [Some("CRÈME BRÛLÉE".into()), Some("STRASSE".into()), None]
        );
        assert_eq!(run(TextFn::Lower, vec![Some("ÉTÉ ΟΔΟΣ")]), [Some("été οδος".into())]);
        assert_eq!(
            run(TextFn::Trim, vec![Some("  a b \t"), Some(""), None]),
            [Some("a b".into()), Some("".into()), None]
        );
        // A slice of a column (offsets not starting at 0).
        let a: ArrayRef = Arc::new(StringArray::from(vec!["ab", "cd", "ef"]));
        let out = apply(TextFn::Upper, &a.slice(1, 2)).unwrap();
        let s = out.as_any().downcast_ref::<StringArray>().unwrap();
        assert_eq!(s.iter().collect::<Vec<_>>(), [Some("CD"), Some("EF")]);
    }
}
