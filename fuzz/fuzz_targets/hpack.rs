//! Fuzzes the HPACK reading of kspan-protocol (Huffman decoding, the fields readable without
//! the dynamic table, and the request of an HTTP/2 head): any bytes give a result or None,
//! never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    std::hint::black_box(kspan_protocol::hpack::huffman_decode(data));
    std::hint::black_box(kspan_protocol::hpack::static_fields(data));
    std::hint::black_box(kspan_protocol::h2::request(data));
});
