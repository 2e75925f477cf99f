//! Fuzzes the postgres parser of kspan-protocol: any bytes give a summary or None, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    std::hint::black_box(kspan_protocol::postgres::parse(data));
});
