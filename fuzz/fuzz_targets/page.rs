//! Fuzzes the ring-buffer page parser: any bytes parse to events or a typed error.
#![no_main]

use kspan_tracedat::page::Page;
use kspan_tracedat::{Endian, HeaderPage};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for endian in [Endian::Little, Endian::Big] {
        if let Ok(page) = Page::parse(data, &HeaderPage::LINUX_64, endian) {
            for event in page.events().flatten() {
                std::hint::black_box(event.data.first());
            }
        }
    }
});
