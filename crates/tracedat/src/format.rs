//! Parsers of tracefs format texts: `events/SYS/NAME/format`, `header_page`, `header_event`,
//! and the [`EventFormats`] registry (id → format, name → id).

use crate::error::{Error, Result};

/// How a field's bytes are laid out in the event record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldKind {
    /// A number (or pointer) of `size` bytes at `offset`.
    Scalar,
    /// A fixed array of `len` elements at `offset` (e.g. `char comm[16]`).
    Array {
        /// Element count declared in brackets.
        len: u32,
    },
    /// A `__data_loc` word: low 16 bits = offset from the record start, high 16 = length.
    DataLoc,
    /// A `__rel_loc` word: like `DataLoc` but the offset is relative to the end of the word.
    RelLoc,
}

/// One field of an event format.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field {
    /// The C type as written (`"unsigned short"`, `"__data_loc char[]"`, `"const char *"`).
    pub type_name: String,
    /// The field name without brackets.
    pub name: String,
    /// Byte offset in the record.
    pub offset: u32,
    /// Byte size in the record (of the loc word for dynamic fields).
    pub size: u32,
    /// Whether the kernel declares the value signed.
    pub signed: bool,
    /// Layout of the field.
    pub kind: FieldKind,
    /// Whether the elements are `char`s, so the field holds text.
    pub is_string: bool,
    /// Whether the type is a pointer (`*` in the type).
    pub is_pointer: bool,
    /// Whether this is one of the `common_*` fields every event starts with.
    pub is_common: bool,
}

/// A parsed event format file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventFormat {
    /// The event system (directory name, e.g. `sched`); `ftrace` for ftrace's own events.
    pub system: String,
    /// The event name (`sched_switch`).
    pub name: String,
    /// The event id, which equals `common_type` in each record.
    pub id: u32,
    /// All fields, common ones first, in file order.
    pub fields: Vec<Field>,
    /// The `print fmt:` text, kept verbatim.
    pub print_fmt: String,
}

impl EventFormat {
    /// Parses a tracefs `format` file of an event in `system`.
    pub fn parse(system: &str, text: &str) -> Result<Self> {
        let err = |detail: String| Error::Format {
            name: text.lines().next().unwrap_or("").to_string(),
            detail,
        };
        let mut name = None;
        let mut id = None;
        let mut fields = Vec::new();
        let mut print_fmt = String::new();
        let mut common = true;
        for line in text.lines() {
            let trimmed = line.trim();
            if let Some(v) = trimmed.strip_prefix("name:") {
                name = Some(v.trim().to_string());
            } else if let Some(v) = trimmed.strip_prefix("ID:") {
                // Ids are stored in each record's 2-byte `common_type`.
                let n = v
                    .trim()
                    .parse::<u16>()
                    .map_err(|e| err(format!("bad ID {v:?}: {e}")))?;
                id = Some(u32::from(n));
            } else if trimmed.starts_with("field:") {
                let mut f = parse_field_line(trimmed).map_err(err)?;
                f.is_common = common && f.name.starts_with("common_");
                fields.push(f);
            } else if trimmed.is_empty() && !fields.is_empty() {
                common = false;
            } else if let Some(v) = trimmed.strip_prefix("print fmt:") {
                print_fmt = v.trim().to_string();
            }
        }
        Ok(EventFormat {
            system: system.to_string(),
            name: name.ok_or_else(|| err("no `name:` line".into()))?,
            id: id.ok_or_else(|| err("no `ID:` line".into()))?,
            fields,
            print_fmt,
        })
    }

    /// The field called `name`, if any.
    pub fn field(&self, name: &str) -> Option<&Field> {
        self.fields.iter().find(|f| f.name == name)
    }
}

/// Parses one `field:TYPE NAME;\toffset:N;\tsize:N;\tsigned:N;` line (already trimmed).
fn parse_field_line(line: &str) -> Result<Field, String> {
    let mut decl = None;
    let mut offset = None;
    let mut size = None;
    let mut signed = false;
    for part in line.split(';') {
        let part = part.trim();
        if let Some(v) = part.strip_prefix("field:") {
            decl = Some(v.trim());
        } else if let Some(v) = part.strip_prefix("offset:") {
            offset = Some(
                v.trim()
                    .parse::<u32>()
                    .map_err(|e| format!("bad offset in {line:?}: {e}"))?,
            );
        } else if let Some(v) = part.strip_prefix("size:") {
            size = Some(
                v.trim()
                    .parse::<u32>()
                    .map_err(|e| format!("bad size in {line:?}: {e}"))?,
            );
        } else if let Some(v) = part.strip_prefix("signed:") {
            signed = v.trim() == "1";
        }
    }
    let decl = decl.ok_or_else(|| format!("no declaration in {line:?}"))?;
    let offset = offset.ok_or_else(|| format!("no offset in {line:?}"))?;
    let size = size.ok_or_else(|| format!("no size in {line:?}"))?;
    let split = decl
        .rfind([' ', '*'])
        .ok_or_else(|| format!("no field name in {line:?}"))?;
    let (type_part, name_part) = decl.split_at(split + 1);
    let mut type_name = type_part.trim().to_string();
    let (name, array_len) = match name_part.find('[') {
        Some(b) => {
            let inner = name_part[b + 1..].trim_end_matches(']');
            (
                name_part[..b].to_string(),
                Some(inner.parse::<u32>().unwrap_or(0)),
            )
        }
        None => (name_part.to_string(), None),
    };
    let kind = if type_name.starts_with("__data_loc") {
        FieldKind::DataLoc
    } else if type_name.starts_with("__rel_loc") {
        FieldKind::RelLoc
    } else if let Some(len) = array_len {
        type_name.push_str(&format!("[{len}]"));
        FieldKind::Array { len }
    } else {
        FieldKind::Scalar
    };
    let element = type_name.split('[').next().unwrap_or("").trim().to_string();
    let is_string = element.ends_with("char") && kind != FieldKind::Scalar;
    let is_pointer = type_name.contains('*');
    Ok(Field {
        type_name,
        name,
        offset,
        size,
        signed,
        kind,
        is_string,
        is_pointer,
        is_common: false,
    })
}

/// The layout of a ring-buffer page header, from `events/header_page`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeaderPage {
    /// Offset and size of the page's base timestamp.
    pub timestamp: (u32, u32),
    /// Offset and size of the `commit` word (its size is the kernel's long size).
    pub commit: (u32, u32),
    /// Offset of the event data; its declared size is page size minus this offset.
    pub data_offset: u32,
    /// Declared size of the data area.
    pub data_size: u32,
}

impl HeaderPage {
    /// The layout of every Linux kernel since 2.6.31 on a 64-bit machine.
    pub const LINUX_64: HeaderPage = HeaderPage {
        timestamp: (0, 8),
        commit: (8, 8),
        data_offset: 16,
        data_size: 4080,
    };

    /// Parses the text of `events/header_page`.
    pub fn parse(text: &str) -> Result<Self> {
        let err = |detail: String| Error::Format {
            name: "header_page".into(),
            detail,
        };
        let mut timestamp = None;
        let mut commit = None;
        let mut data = None;
        for line in text
            .lines()
            .map(str::trim)
            .filter(|l| l.starts_with("field:"))
        {
            let f = parse_field_line(line).map_err(err)?;
            let pos = (f.offset, f.size);
            match f.name.as_str() {
                "timestamp" => timestamp = Some(pos),
                "commit" => commit = Some(pos),
                "data" => data = Some(pos),
                _ => {}
            }
        }
        let (data_offset, data_size) = data.ok_or_else(|| err("no `data` field".into()))?;
        Ok(HeaderPage {
            timestamp: timestamp.ok_or_else(|| err("no `timestamp` field".into()))?,
            commit: commit.ok_or_else(|| err("no `commit` field".into()))?,
            data_offset,
            data_size,
        })
    }
}

/// Registry of all event formats of a file: id → format and name → id.
#[derive(Debug, Clone, Default)]
pub struct EventFormats {
    formats: Vec<EventFormat>,
    /// `by_id[id]` = index in `formats` + 1, 0 when absent (ids fit in `common_type`, a u16).
    by_id: Vec<u32>,
}

impl EventFormats {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a format; a later format with the same id replaces the earlier one.
    pub fn insert(&mut self, format: EventFormat) {
        let id = format.id as usize;
        if id >= self.by_id.len() {
            self.by_id.resize(id + 1, 0);
        }
        match self.by_id[id] {
            0 => {
                self.formats.push(format);
                self.by_id[id] = self.formats.len() as u32;
            }
            i => self.formats[i as usize - 1] = format,
        }
    }

    /// The format whose id is `id`.
    #[inline]
    pub fn by_id(&self, id: u32) -> Option<&EventFormat> {
        match self.by_id.get(id as usize) {
            Some(&i) if i != 0 => Some(&self.formats[i as usize - 1]),
            _ => None,
        }
    }

    /// The format of the event called `name` (optionally `system:name` or `system/name`).
    pub fn by_name(&self, name: &str) -> Option<&EventFormat> {
        let (system, name) = match name.split_once([':', '/']) {
            Some((s, n)) => (Some(s), n),
            None => (None, name),
        };
        self.formats
            .iter()
            .find(|f| f.name == name && system.is_none_or(|s| s == f.system))
    }

    /// All formats in insertion order.
    pub fn iter(&self) -> impl Iterator<Item = &EventFormat> {
        self.formats.iter()
    }

    /// Number of formats.
    pub fn len(&self) -> usize {
        self.formats.len()
    }

    /// Whether the registry is empty.
    pub fn is_empty(&self) -> bool {
        self.formats.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FORK: &str = "name: sched_process_fork\nID: 366\nformat:\n\tfield:unsigned short common_type;\toffset:0;\tsize:2;\tsigned:0;\n\tfield:unsigned char common_flags;\toffset:2;\tsize:1;\tsigned:0;\n\tfield:unsigned char common_preempt_count;\toffset:3;\tsize:1;\tsigned:0;\n\tfield:int common_pid;\toffset:4;\tsize:4;\tsigned:1;\n\n\tfield:__data_loc char[] parent_comm;\toffset:8;\tsize:4;\tsigned:0;\n\tfield:pid_t parent_pid;\toffset:12;\tsize:4;\tsigned:1;\n\tfield:char comm[16];\toffset:16;\tsize:16;\tsigned:0;\n\tfield:const char * buf;\toffset:32;\tsize:8;\tsigned:0;\n\nprint fmt: \"comm=%s pid=%d\", __get_str(parent_comm), REC->parent_pid\n";

    #[test]
    fn parses_every_kind_of_field() {
        let f = EventFormat::parse("sched", FORK).unwrap();
        assert_eq!(
            (f.name.as_str(), f.id, f.fields.len()),
            ("sched_process_fork", 366, 8)
        );
        assert_eq!(
            f.print_fmt,
            "\"comm=%s pid=%d\", __get_str(parent_comm), REC->parent_pid"
        );
        let names: Vec<_> = f
            .fields
            .iter()
            .map(|f| (f.name.as_str(), f.is_common))
            .collect();
        assert_eq!(
            names,
            [
                ("common_type", true),
                ("common_flags", true),
                ("common_preempt_count", true),
                ("common_pid", true),
                ("parent_comm", false),
                ("parent_pid", false),
                ("comm", false),
                ("buf", false)
            ]
        );
        let loc = f.field("parent_comm").unwrap();
        assert_eq!(
            (loc.kind, loc.is_string, loc.offset, loc.size),
            (FieldKind::DataLoc, true, 8, 4)
        );
        let comm = f.field("comm").unwrap();
        assert_eq!(
            (comm.kind, comm.type_name.as_str()),
            (FieldKind::Array { len: 16 }, "char[16]")
        );
        let buf = f.field("buf").unwrap();
        assert_eq!(
            (buf.is_pointer, buf.type_name.as_str(), buf.signed),
            (true, "const char *", false)
        );
        assert!(f.field("parent_pid").unwrap().signed);
    }

    #[test]
    fn parses_header_page_of_this_kernel() {
        let text = "\tfield: u64 timestamp;\toffset:0;\tsize:8;\tsigned:0;\n\tfield: local_t commit;\toffset:8;\tsize:8;\tsigned:1;\n\tfield: int overwrite;\toffset:8;\tsize:1;\tsigned:1;\n\tfield: char data;\toffset:16;\tsize:4080;\tsigned:0;\n";
        assert_eq!(HeaderPage::parse(text).unwrap(), HeaderPage::LINUX_64);
    }

    #[test]
    fn registry_looks_up_by_id_and_name() {
        let mut reg = EventFormats::new();
        reg.insert(EventFormat::parse("sched", FORK).unwrap());
        assert_eq!(reg.by_id(366).unwrap().name, "sched_process_fork");
        assert!(reg.by_id(365).is_none() && reg.by_id(100_000).is_none());
        assert_eq!(reg.by_name("sched:sched_process_fork").unwrap().id, 366);
        assert!(reg.by_name("net:sched_process_fork").is_none());
    }

    #[test]
    fn missing_id_is_a_typed_error() {
        let err = EventFormat::parse("x", "name: foo\nformat:\n").unwrap_err();
        assert!(
            matches!(err, Error::Format { ref detail, .. } if detail == "no `ID:` line"),
            "{err}"
        );
    }
}
