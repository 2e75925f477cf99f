//! The page around the report's data: the HTML skeleton with the stylesheet, the data (as
//! JSON, safe inside a script element) and the renderer inlined, so that the file needs
//! nothing else to be read.

use std::io::{self, Write};

const SKELETON: &str = include_str!("page.html");
const STYLE: &str = include_str!("report.css");
const SCRIPT: &str = include_str!("report.js");

/// `text` safe as HTML text or attribute value.
fn escape_html(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#39;"),
            c => escaped.push(c),
        }
    }
    escaped
}

/// Writes the page titled `title` with the JSON document `data` for the renderer. `<` in
/// the JSON (only ever inside its strings) is written `\u003c`, so that no string can end
/// the script element holding it.
pub fn write_page(out: &mut dyn Write, title: &str, data: &str) -> io::Result<()> {
    let data = data.replace('<', "\\u003c");
    let title = escape_html(title);
    let mut rest = SKELETON;
    for (marker, value) in [
        ("{{title}}", title.as_str()),
        ("{{style}}", STYLE),
        ("{{data}}", &data),
        ("{{script}}", SCRIPT),
    ] {
        let (before, after) = rest
            .split_once(marker)
            .expect("the skeleton holds every marker once, in order");
        out.write_all(before.as_bytes())?;
        out.write_all(value.as_bytes())?;
        rest = after;
    }
    out.write_all(rest.as_bytes())?;
    out.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_data_cannot_end_its_script_element() {
        let mut page = Vec::new();
        write_page(&mut page, "a <b>", r#"{"x":"</script><script>alert(1)"}"#).unwrap();
        let page = String::from_utf8(page).unwrap();
        assert!(page.contains(r#"{"x":"\u003c/script>\u003cscript>alert(1)"}"#));
        assert!(page.contains("<title>kspan report: a &lt;b&gt;</title>"));
        assert_eq!(
            page.matches("</script>").count(),
            3,
            "the guard, the data, the renderer"
        );
    }
}
