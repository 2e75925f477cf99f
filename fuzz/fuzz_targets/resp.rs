//! Fuzzes the resp parser of kspan-protocol: any bytes give a summary or None, and the sizes of the values they show, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    std::hint::black_box((kspan_protocol::resp::parse(data), kspan_protocol::resp::values(data)));
});
