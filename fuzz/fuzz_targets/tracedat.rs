//! Fuzzes the whole reader: any file opens to metadata or a typed error, and its event stream
//! ends (with records or typed errors) without panicking.
#![no_main]

use kspan_tracedat::TraceFile;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(file) = TraceFile::from_bytes(data.to_vec()) else {
        return;
    };
    let mut events = file.events();
    for _ in 0..1_000_000 {
        match events.next_event() {
            Ok(Some(rec)) => {
                std::hint::black_box((rec.pid(), rec.flags(), rec.name(), rec.timestamp));
            }
            Ok(None) => break,
            Err(_) => {}
        }
    }
    std::hint::black_box(events.lost_events());
});
