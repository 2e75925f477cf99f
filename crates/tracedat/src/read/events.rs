//! The merged event stream: one [`CpuCursor`] per (buffer, CPU) and a tournament tree of losers
//! keyed by (timestamp, buffer, CPU), so memory stays constant in the file length and equal
//! timestamps come out in buffer order, then CPU order (as `trace-cmd report` prints them).

use crate::error::{Error, Result};
use crate::read::cpu::CpuCursor;
use crate::read::TraceFile;
use crate::record::Record;

/// Lost-event tally of one (buffer, CPU), from the pages' missed-event flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LostEvents {
    /// Buffer index.
    pub buffer: usize,
    /// CPU number.
    pub cpu: u32,
    /// Sum of the stored missed-event counts.
    pub count: u64,
    /// Whether some page flagged lost events without a count.
    pub unknown: bool,
}

/// Stream of the events of all buffers and CPUs in global timestamp order.
///
/// A lending iterator: each [`Record`] borrows the stream until the next call, so decoding
/// allocates nothing per event. Loop with `while let Some(rec) = events.next_event()? { … }`.
pub struct Events<'f> {
    file: &'f TraceFile,
    /// The cursors sorted by (buffer, CPU, order in the metadata): a cursor's index is its rank
    /// among events of equal timestamps, and its leaf in the tree.
    cursors: Vec<CpuCursor<'f>>,
    /// The leaf of each cursor in the metadata's order (for the per-CPU reports).
    leaf_of: Vec<usize>,
    /// Per leaf (a power of two of them, at least one): `(timestamp << 64) | leaf` of the
    /// cursor's next event, [`DONE`] when it has none (ended, or a padding leaf). Keys are unique
    /// but for `DONE`, so the smallest is the next event.
    keys: Vec<u128>,
    /// Tree of losers over `keys`: `tree[n]` (for internal node `n` ≥ 1, children `2n` and
    /// `2n + 1`, leaves at `keys.len() + leaf`) is the leaf that lost the match at `n`. Only
    /// kept up to date above [`SCAN_LEAVES`] leaves.
    tree: Vec<usize>,
    /// The leaf of the smallest key (the overall winner). Its entry in `keys` is stale while it
    /// keeps winning: its cursor's timestamp is the key.
    winner: usize,
    /// The smallest key of the other leaves: the winner's cursor keeps winning, without replaying
    /// its matches, while its key stays below.
    limit: u128,
    /// Whether the winner's key is [`DONE`]: the stream has ended.
    done: bool,
    /// Cursors still to be advanced before the first event, last first (initially all, in
    /// metadata order); the tree is built once it is empty.
    pending: Vec<usize>,
    /// Whether the tree is built.
    started: bool,
    /// `tree[0]`'s event was yielded last: its cursor must advance before the next one.
    top_yielded: bool,
    setup_errors: Vec<Error>,
    /// The file was cut short: the one warning that says where and how much is missing.
    torn: Option<Error>,
}

/// Key of a leaf without a next event: above every event's key.
const DONE: u128 = u128::MAX;

/// Up to this many leaves, [`Events::replay`] scans the keys instead of walking the tree.
const SCAN_LEAVES: usize = 8;

/// The key of `leaf`'s next event at `ts`: by timestamp, then by rank (never [`DONE`], as no
/// leaf index is `u64::MAX`).
#[inline]
fn key(ts: u64, leaf: usize) -> u128 {
    (u128::from(ts) << 64) | leaf as u128
}

impl<'f> Events<'f> {
    pub(crate) fn new(file: &'f TraceFile) -> Self {
        let meta = file.metadata();
        let mut cursors = Vec::new();
        let mut setup_errors = Vec::new();
        for (bi, b) in meta.buffers.iter().enumerate() {
            for c in &b.cpus {
                match CpuCursor::new(file, bi, c) {
                    Ok(cur) => cursors.push(cur),
                    Err(e) => setup_errors.push(e),
                }
            }
        }
        let mut ranked: Vec<(usize, CpuCursor<'f>)> = cursors.into_iter().enumerate().collect();
        ranked.sort_by_key(|(i, c)| (c.buffer, c.cpu, *i));
        let (meta_order, cursors): (Vec<usize>, Vec<CpuCursor<'f>>) = ranked.into_iter().unzip();
        let mut leaf_of = vec![0; cursors.len()];
        for (leaf, &i) in meta_order.iter().enumerate() {
            leaf_of[i] = leaf;
        }
        let leaves = cursors.len().max(1).next_power_of_two();
        Events {
            file,
            cursors,
            pending: leaf_of.iter().rev().copied().collect(),
            leaf_of,
            keys: vec![DONE; leaves],
            tree: vec![0; leaves],
            winner: 0,
            limit: DONE,
            done: false,
            started: false,
            top_yielded: false,
            setup_errors,
            torn: meta.torn.map(Error::Torn),
        }
    }

    /// The next event in timestamp order, `Ok(None)` at the end. A damaged page or chunk yields
    /// its error once; that CPU then ends and the other CPUs go on.
    #[inline]
    pub fn next_event(&mut self) -> Result<Option<Record<'_>>> {
        if !self.started {
            self.start()?;
        }
        let meta = self.file.metadata();
        // The cursor yielded last is the winner: advance it, and replay its matches when it
        // may have lost one.
        if self.top_yielded {
            self.top_yielded = false;
            let leaf = self.winner;
            let Some(c) = self.cursors.get_mut(leaf) else {
                return Ok(None);
            };
            match c.advance(&meta.header_page, meta.endian) {
                Ok(true) => {
                    let k = key(c.ts, leaf);
                    if k > self.limit {
                        self.replay(leaf, k);
                    }
                }
                Ok(false) => self.replay(leaf, DONE),
                Err(e) => {
                    // That CPU ends; the others go on.
                    self.replay(leaf, DONE);
                    return Err(e);
                }
            }
        }
        if self.done {
            return Ok(None);
        }
        let Some(c) = self.cursors.get(self.winner) else {
            return Ok(None);
        };
        self.top_yielded = true;
        let data = c.current().get(c.rec.clone()).unwrap_or_default();
        let mut rec = Record {
            timestamp: c.ts,
            cpu: c.cpu,
            buffer: c.buffer,
            data,
            format: None,
            endian: meta.endian,
        };
        rec.format = meta.formats.by_id(rec.event_id());
        Ok(Some(rec))
    }

    /// Before the first event: yields the setup errors, advances every cursor to its first
    /// event (an error ends that cursor and is yielded), then builds the tree.
    #[cold]
    #[inline(never)]
    fn start(&mut self) -> Result<()> {
        if let Some(e) = self.setup_errors.pop() {
            return Err(e);
        }
        let meta = self.file.metadata();
        while let Some(leaf) = self.pending.pop() {
            let c = &mut self.cursors[leaf];
            if c.advance(&meta.header_page, meta.endian)? {
                self.keys[leaf] = key(c.ts, leaf);
            }
        }
        self.winner = self.build(1);
        self.set_limit();
        self.started = true;
        Ok(())
    }

    /// Plays the matches of the subtree at `node` from scratch: stores each match's loser and
    /// returns the subtree's winner.
    fn build(&mut self, node: usize) -> usize {
        let n = self.keys.len();
        if node >= n {
            return node - n;
        }
        let (a, b) = (self.build(2 * node), self.build(2 * node + 1));
        let (winner, loser) = if self.keys[b] < self.keys[a] {
            (b, a)
        } else {
            (a, b)
        };
        self.tree[node] = loser;
        winner
    }

    /// Gives the winner `leaf` its new key `k` and replays the matches on its path to the root
    /// (or, with few leaves, finds the two smallest keys by a scan: cheaper than two walks).
    #[inline(never)]
    fn replay(&mut self, leaf: usize, k: u128) {
        let n = self.keys.len();
        if let Some(slot) = self.keys.get_mut(leaf) {
            *slot = k;
        }
        if n <= SCAN_LEAVES {
            let (mut winner, mut first, mut second) = (0, DONE, DONE);
            for (i, &k) in self.keys.iter().enumerate() {
                if k < first {
                    (winner, first, second) = (i, k, first);
                } else if k < second {
                    second = k;
                }
            }
            (self.winner, self.limit, self.done) = (winner, second, first == DONE);
            return;
        }
        let (mut winner, mut wkey) = (leaf, k);
        let mut node = (n + leaf) / 2;
        while node > 0 {
            if let Some(slot) = self.tree.get_mut(node) {
                let other = *slot;
                let okey = self.keys.get(other).copied().unwrap_or(DONE);
                if okey < wkey {
                    *slot = winner;
                    (winner, wkey) = (other, okey);
                }
            }
            node /= 2;
        }
        self.winner = winner;
        self.set_limit();
    }

    /// Sets `limit` and `done` for the current winner: the second smallest key is one of the
    /// keys that lost to the winner, on its path to the root.
    fn set_limit(&mut self) {
        let n = self.keys.len();
        let mut limit = DONE;
        let mut node = (n + self.winner) / 2;
        while node > 0 {
            let other = self.tree.get(node).copied().unwrap_or(0);
            limit = limit.min(self.keys.get(other).copied().unwrap_or(DONE));
            node /= 2;
        }
        self.limit = limit;
        self.done = self.keys.get(self.winner).is_none_or(|&k| k == DONE);
    }

    /// Lost events per (buffer, CPU) counted so far (complete once the stream has ended).
    pub fn lost_events(&self) -> Vec<LostEvents> {
        self.in_meta_order()
            .map(|c| LostEvents {
                buffer: c.buffer,
                cpu: c.cpu,
                count: c.lost.0,
                unknown: c.lost.1,
            })
            .collect()
    }

    /// Warnings: first, for a file cut short, the one that says where it ends and how much
    /// is missing; then partial final pages met so far (each CPU's events before them were
    /// yielded).
    pub fn warnings(&self) -> Vec<&Error> {
        self.torn
            .iter()
            .chain(self.in_meta_order().filter_map(|c| c.warning.as_ref()))
            .collect()
    }

    /// Bytes of the file's event data read so far, of [`Events::bytes_total`]: how far the
    /// stream is, for a progress bar (all of it once the stream has ended).
    pub fn bytes_read(&self) -> u64 {
        self.cursors.iter().map(CpuCursor::bytes_read).sum()
    }

    /// Bytes of event data in the file, all buffers and CPUs.
    pub fn bytes_total(&self) -> u64 {
        self.cursors.iter().map(CpuCursor::data_len).sum()
    }

    /// The cursors in the metadata's order of buffers and CPUs.
    fn in_meta_order(&self) -> impl Iterator<Item = &CpuCursor<'f>> {
        self.leaf_of.iter().map(|&leaf| &self.cursors[leaf])
    }
}

#[cfg(test)]
mod tests {
    use crate::page::Page;
    use crate::write::{BufferSpec, TraceWriter, WriteOptions};
    use crate::{Compression, TraceFile};

    const FORMAT: &str = "name: tick\nID: 3000\nformat:\n\tfield:unsigned short common_type;\toffset:0;\tsize:2;\tsigned:0;\n\tfield:unsigned char common_flags;\toffset:2;\tsize:1;\tsigned:0;\n\tfield:unsigned char common_preempt_count;\toffset:3;\tsize:1;\tsigned:0;\n\tfield:int common_pid;\toffset:4;\tsize:4;\tsigned:1;\n\n\tfield:int seq;\toffset:8;\tsize:4;\tsigned:1;\n\nprint fmt: \"seq=%d\", REC->seq\n";

    /// xorshift64: deterministic cases without a dependency.
    struct Rng(u64);
    impl Rng {
        fn below(&mut self, n: u64) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0 % n
        }
    }

    /// Pages of `n` events with deltas of 0 to 3 (many equal timestamps across CPUs), now and
    /// then a time extend and a long event (`type_len` 0), `seq` counting from `seq0`.
    fn pages(rng: &mut Rng, n: usize, seq0: i32) -> Vec<u8> {
        let mut out = Vec::new();
        let mut left = n;
        let mut seq = seq0;
        let mut ts = 1_000 + rng.below(4);
        while left > 0 {
            let mut page = vec![0u8; 4096];
            page[..8].copy_from_slice(&ts.to_le_bytes());
            let mut body = Vec::new();
            let per_page = 1 + rng.below(60) as usize;
            for _ in 0..per_page.min(left) {
                if rng.below(40) == 0 {
                    let big = (1u64 << 27) + rng.below(1 << 20);
                    body.extend((30u32 | ((big as u32 & ((1 << 27) - 1)) << 5)).to_le_bytes());
                    body.extend(((big >> 27) as u32).to_le_bytes());
                    ts += big;
                }
                let delta = rng.below(4) as u32;
                ts += u64::from(delta);
                let long = rng.below(30) == 0;
                if long {
                    body.extend((delta << 5).to_le_bytes());
                    body.extend((4u32 + 120).to_le_bytes());
                } else {
                    body.extend((3 | (delta << 5)).to_le_bytes());
                }
                body.extend(3000u16.to_le_bytes());
                body.extend([0u8, 0]);
                body.extend(seq.to_le_bytes());
                body.extend(seq.to_le_bytes());
                if long {
                    body.extend([0u8; 108]);
                }
                seq += 1;
                left -= 1;
            }
            page[8..16].copy_from_slice(&(body.len() as u64).to_le_bytes());
            page[16..16 + body.len()].copy_from_slice(&body);
            out.extend(page);
        }
        out
    }

    #[test]
    fn merge_matches_a_sort_by_timestamp_buffer_and_cpu() {
        let dir = std::env::temp_dir().join(format!("kspan-tracedat-merge-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        let (mut total, mut cursors_max) = (0, 0);
        for case in 0..24 {
            let compression = [Compression::Zstd, Compression::None][case % 2];
            // 1 to 3 buffers of 1 to 4 CPUs (up to 12 cursors), CPUs listed in any order.
            let mut specs = Vec::new();
            let mut expected = Vec::new();
            for b in 0..1 + rng.below(3) as usize {
                let n_cpus = 1 + rng.below(4) as u32;
                let mut cpus: Vec<u32> = (0..n_cpus).collect();
                for i in (1..cpus.len()).rev() {
                    cpus.swap(i, rng.below(i as u64 + 1) as usize);
                }
                let mut data = Vec::new();
                for &cpu in &cpus {
                    let n = rng.below(400) as usize;
                    let p = pages(&mut rng, n, (b as i32 * 16 + cpu as i32) << 16);
                    let layout = crate::HeaderPage::LINUX_64;
                    for page in p.chunks(4096) {
                        let page = Page::parse(page, &layout, crate::Endian::Little).unwrap();
                        for ev in page.events() {
                            let ev = ev.unwrap();
                            expected.push((ev.timestamp, b, cpu, ev.data.to_vec()));
                        }
                    }
                    data.push((cpu, p));
                }
                specs.push((format!("b{b}"), data));
            }
            expected.sort_by_key(|e| (e.0, e.1, e.2));
            let buffers = specs
                .iter()
                .enumerate()
                .map(|(b, (name, data))| BufferSpec {
                    name: if b == 0 { String::new() } else { name.clone() },
                    clock: "local".into(),
                    page_size: 4096,
                    cpus: data.iter().map(|(c, p)| (*c, p.as_slice())).collect(),
                    stats: vec![],
                })
                .collect();
            let path = dir.join(format!("merge-{case}.dat"));
            let opts = WriteOptions {
                version: 7,
                compression,
                event_formats: vec![("kspan_test".into(), vec![FORMAT.into()])],
                cpu_count: 4,
                ..Default::default()
            };
            TraceWriter::new(opts).write(&path, buffers).unwrap();
            let file = TraceFile::open(&path).unwrap();
            let mut events = file.events();
            let mut got = Vec::new();
            let mut read = 0;
            assert_eq!(events.bytes_read(), 0, "case {case}: nothing read yet");
            while let Some(r) = events.next_event().unwrap() {
                got.push((r.timestamp, r.buffer, r.cpu, r.data.to_vec()));
                let now = events.bytes_read();
                assert!(now >= read, "case {case}: progress never goes back");
                read = now;
            }
            assert!(events.warnings().is_empty());
            assert_eq!(
                events.bytes_read(),
                events.bytes_total(),
                "case {case}: all of it read at the end"
            );
            if compression == Compression::None {
                let pages: usize = specs
                    .iter()
                    .flat_map(|(_, d)| d)
                    .map(|(_, p)| p.len())
                    .sum();
                assert_eq!(events.bytes_total(), pages as u64, "case {case}");
            }
            // Buffers without events are dropped from the metadata: compare by buffer name.
            let names: Vec<String> = file
                .metadata()
                .buffers
                .iter()
                .map(|b| b.name.clone())
                .collect();
            let got: Vec<_> = got
                .into_iter()
                .map(|(t, b, c, d)| {
                    let name = &names[b];
                    let b = specs
                        .iter()
                        .enumerate()
                        .position(|(i, (n, _))| (if i == 0 { "" } else { n.as_str() }) == name)
                        .unwrap();
                    (t, b, c, d)
                })
                .collect();
            assert_eq!(got.len(), expected.len(), "case {case}");
            assert!(got == expected, "case {case}: merged order differs");
            total += got.len();
            cursors_max = cursors_max.max(events.cursors.len());
        }
        let _ = std::fs::remove_dir_all(&dir);
        assert!(
            total > 24 * 500 && cursors_max >= 9,
            "{total} events, {cursors_max} cursors"
        );
    }
}
