//! Fuzzes kspan-protocol's SQL sanitizer: any text gives a string, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    std::hint::black_box((
        kspan_protocol::sql::sanitize(&text),
        kspan_protocol::sql::operation(&text),
    ));
});
