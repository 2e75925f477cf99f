//! Fuzzes the HTTP/2 frame-header parser of kspan-protocol: any bytes give pieces or None,
//! never a panic, and the pieces' sizes are their headers' (a frame is at least 9 bytes).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Some(pieces) = kspan_protocol::h2::pieces(data) {
        assert!(pieces.iter().all(|p| p.len >= 9));
    }
});
