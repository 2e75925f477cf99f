//! bpftrace output stored in a recording → engine events: each event name gets a type id
//! above 65535 (ids of the ftrace event space end there) and the name `bpftrace:<name>`;
//! fields asked for with `--sum bpftrace:<name>:<field>` are kept as the event's values.

use crate::decode::{DecodeError, SumRequest};
use crate::merge::ExtraEvents;
pub use kspan_bpftrace::BPFTRACE_OPTION;
use kspan_bpftrace::{BpftraceEvent, BpftraceRecording};
use kspan_engine::{Event, EventKind, EventNames, EventTypeId};
use std::collections::BTreeMap;

/// Prefix of the names of bpftrace events (`bpftrace:<name>`).
pub const PREFIX: &str = "bpftrace:";
/// First type id given to bpftrace events.
pub const FIRST_TYPE_ID: EventTypeId = 1 << 16;

/// Splits `--sum` requests into those about bpftrace events and the others.
pub fn split_sums(sums: &[SumRequest]) -> (Vec<SumRequest>, Vec<SumRequest>) {
    sums.iter()
        .cloned()
        .partition(|s| s.event.starts_with(PREFIX))
}

/// What the bpftrace runs of a recording contributed.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BpftraceEvents {
    /// The events, queued for merging into the ftrace stream.
    pub events: ExtraEvents,
    /// Events bpftrace reported lost.
    pub lost: u64,
    /// `KSPAN ` lines that did not follow the convention.
    pub malformed: u64,
}

/// The engine events of a recording's bpftrace option ([`BPFTRACE_OPTION`]; `None`: the
/// recording has none), keeping the fields of `sums` (all about bpftrace events).
pub fn bpftrace_events(
    option: Option<&[u8]>,
    sums: &[SumRequest],
) -> Result<BpftraceEvents, DecodeError> {
    let recording = match option {
        Some(bytes) => BpftraceRecording::from_bytes(bytes)?,
        None => BpftraceRecording::default(),
    };
    events_of(&recording, sums)
}

/// The engine events of `recording`, keeping the fields of `sums`.
fn events_of(
    recording: &BpftraceRecording,
    sums: &[SumRequest],
) -> Result<BpftraceEvents, DecodeError> {
    let mut parsed: Vec<BpftraceEvent> = Vec::new();
    let (mut lost, mut malformed) = (0, 0);
    for script in &recording.scripts {
        let out = script.parse();
        parsed.extend(out.events);
        lost += out.lost;
        malformed += out.malformed;
    }
    // Ids by sorted name: the same names always get the same ids.
    let ids: BTreeMap<&str, EventTypeId> = parsed
        .iter()
        .map(|e| e.name.as_str())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .zip(FIRST_TYPE_ID..)
        .collect();
    let mut names = EventNames {
        names: ids
            .iter()
            .map(|(name, id)| (*id, format!("{PREFIX}{name}")))
            .collect(),
        field_names: Vec::new(),
    };
    // Per type id, the keys whose values are kept.
    let mut kept: BTreeMap<EventTypeId, Vec<String>> = BTreeMap::new();
    for sum in sums {
        let name = &sum.event[PREFIX.len()..];
        let id = *ids.get(name).ok_or_else(|| {
            DecodeError::UnknownEvent(format!("{}:{}", sum.event, sum.field), sum.event.clone())
        })?;
        kept.entry(id).or_default().push(sum.field.clone());
    }
    for (id, keys) in &kept {
        let event = &names.names.iter().find(|(i, _)| i == id).expect("named").1;
        let labels = keys.iter().map(|k| format!("{event}:{k}")).collect();
        names.field_names.push((*id, labels));
    }
    let events = parsed
        .iter()
        .map(|e| {
            let type_id = ids[e.name.as_str()];
            let values = kept.get(&type_id).map_or_else(Vec::new, |keys| {
                keys.iter()
                    .map(|k| e.fields.iter().find(|(f, _)| f == k).map_or(0, |(_, v)| *v))
                    .collect()
            });
            Event {
                ts: e.ts,
                cpu: 0,
                tid: e.tid,
                in_irq: false,
                type_id,
                kind: EventKind::Other { values },
            }
        })
        .collect();
    Ok(BpftraceEvents {
        events: ExtraEvents::new(events, names),
        lost,
        malformed,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use kspan_bpftrace::ScriptOutput;

    #[test]
    fn names_get_ids_above_ftrace_and_summed_fields_are_kept() {
        let recording = BpftraceRecording {
            scripts: vec![ScriptOutput {
                stdout: "KSPAN 5 200 io bytes=4096 lat=7\nKSPAN 6 100 fault\nLost 3 events\n"
                    .into(),
                ..ScriptOutput::default()
            }],
        };
        let sums = vec!["bpftrace:io:lat".parse::<SumRequest>().unwrap()];
        let got = bpftrace_events(Some(&recording.to_bytes()), &sums).unwrap();
        assert_eq!(got.lost, 3);
        assert_eq!(
            got.events.names(),
            &EventNames {
                names: vec![
                    (65536, "bpftrace:fault".into()),
                    (65537, "bpftrace:io".into())
                ],
                field_names: vec![(65537, vec!["bpftrace:io:lat".into()])],
            }
        );
        let mut events = got.events.clone();
        let mut pushed = Vec::new();
        events.push_rest(&mut |e| pushed.push((e.ts, e.tid, e.type_id, e.kind.clone())));
        assert_eq!(
            pushed,
            vec![
                (100, 6, 65536, EventKind::Other { values: vec![] }),
                (200, 5, 65537, EventKind::Other { values: vec![7] }),
            ]
        );
        let unknown = vec!["bpftrace:nope:x".parse::<SumRequest>().unwrap()];
        assert_eq!(
            events_of(&recording, &unknown).unwrap_err().to_string(),
            "--sum bpftrace:nope:x: the recording has no event `bpftrace:nope`; `kspan info FILE` lists its events"
        );
    }
}
