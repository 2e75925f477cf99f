//! Fuzzes the MySQL parsers of kspan-protocol (client command and server reply): any bytes
//! give a summary or None, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    std::hint::black_box(kspan_protocol::mysql::parse(data));
    std::hint::black_box(kspan_protocol::mysql::parse_reply(data));
});
