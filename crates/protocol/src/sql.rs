//! SQL text as kspan stores it in `db.query.text`: string, number and dollar-quoted
//! literals replaced by `?` (placeholders like `$1` and quoted identifiers kept), runs of
//! white space made one space; and the statement's operation keyword.

/// True for a byte that continues an identifier (a digit there is not a literal).
fn ident(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'$'
}

/// `text` with its literals replaced by `?`. Text cut short inside a literal ends in `?`.
pub fn sanitize(text: &str) -> String {
    let b = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    // Start of the run of plain text not yet copied.
    let mut plain = 0;
    let flush = |out: &mut String, from: usize, to: usize| {
        for c in text[from..to].chars() {
            if !c.is_ascii_whitespace() {
                out.push(c);
            } else if !(out.is_empty() || out.ends_with(' ')) {
                out.push(' ');
            }
        }
    };
    while i < b.len() {
        let literal_end = match b[i] {
            b'\'' => Some(quoted_end(b, i)),
            b'$' if !b.get(i + 1).is_some_and(u8::is_ascii_digit)
                && (i == 0 || !ident(b[i - 1])) =>
            {
                dollar_quoted_end(b, i)
            }
            c if c.is_ascii_digit() && (i == 0 || !ident(b[i - 1])) => Some(number_end(b, i)),
            _ => None,
        };
        match literal_end {
            Some(end) => {
                flush(&mut out, plain, i);
                out.push('?');
                i = end;
                plain = end;
            }
            None => i += 1,
        }
    }
    flush(&mut out, plain, b.len());
    out.trim_end().to_string()
}

/// End of the `'…'` literal starting at `start` (`''` is an escaped quote).
fn quoted_end(b: &[u8], start: usize) -> usize {
    let mut i = start + 1;
    while i < b.len() {
        if b[i] == b'\'' {
            if b.get(i + 1) == Some(&b'\'') {
                i += 2;
                continue;
            }
            return i + 1;
        }
        i += 1;
    }
    b.len()
}

/// End of the `$tag$…$tag$` literal starting at `start`, if a tag starts there.
fn dollar_quoted_end(b: &[u8], start: usize) -> Option<usize> {
    let tag_len = b[start + 1..]
        .iter()
        .position(|&c| c == b'$')
        .filter(|&n| {
            b[start + 1..start + 1 + n]
                .iter()
                .all(|&c| c.is_ascii_alphanumeric() || c == b'_')
        })?;
    let tag = &b[start..start + tag_len + 2];
    let body = start + tag.len();
    let close = b[body..].windows(tag.len()).position(|w| w == tag);
    Some(close.map_or(b.len(), |at| body + at + tag.len()))
}

/// End of the number starting at `start` (digits, a fraction, an exponent, hex).
fn number_end(b: &[u8], start: usize) -> usize {
    let mut i = start;
    while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'.' || b[i] == b'_') {
        let exponent_sign =
            (b[i] == b'e' || b[i] == b'E') && matches!(b.get(i + 1), Some(b'+' | b'-'));
        i += if exponent_sign { 2 } else { 1 };
    }
    i
}

/// The statement's first keyword, upper case (`SELECT`, `INSERT`, `BEGIN`), skipping
/// leading white space and parentheses; `None` when the text starts otherwise.
pub fn operation(text: &str) -> Option<String> {
    let rest = text.trim_start_matches(|c: char| c.is_ascii_whitespace() || c == '(');
    let end = rest
        .find(|c: char| !c.is_ascii_alphabetic())
        .unwrap_or(rest.len());
    (end > 0).then(|| rest[..end].to_ascii_uppercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_become_placeholders() {
        assert_eq!(
            sanitize("SELECT * FROM users WHERE id = 42 AND name = 'o''brien'"),
            "SELECT * FROM users WHERE id = ? AND name = ?"
        );
        assert_eq!(
            sanitize("INSERT INTO t (a, b)\n  VALUES (1.5e-3, 0x1F)"),
            "INSERT INTO t (a, b) VALUES (?, ?)"
        );
        assert_eq!(
            sanitize("SELECT $1, col2 FROM t2"),
            "SELECT $1, col2 FROM t2"
        );
        assert_eq!(sanitize("SELECT $$a'b$$ || $x$c$x$"), "SELECT ? || ?");
        assert_eq!(
            sanitize("SELECT \"Col1\" FROM t WHERE x = 'cut sho"),
            "SELECT \"Col1\" FROM t WHERE x = ?"
        );
        assert_eq!(sanitize(""), "");
        assert_eq!(sanitize("'"), "?");
        assert_eq!(sanitize("$"), "$");
    }

    #[test]
    fn the_operation_is_the_first_keyword() {
        assert_eq!(operation("  select 1").as_deref(), Some("SELECT"));
        assert_eq!(
            operation("(SELECT 1) UNION (SELECT 2)").as_deref(),
            Some("SELECT")
        );
        assert_eq!(operation("BEGIN;").as_deref(), Some("BEGIN"));
        assert_eq!(operation("123"), None);
        assert_eq!(operation(""), None);
    }
}
