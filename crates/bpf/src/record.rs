//! One record of the BPF ring buffer `heads` → [`Head`]. Layout of `struct head_event` in
//! bpf/payload.bpf.c (native byte order): `enter_ns` u64, `exit_ns` u64, `ret` i64, `tgid`
//! u32, `tid` u32, `fd` i32, `kind` u8, a pad byte, `head_len` u16, then the head.

use kspan_heads::{Head, SyscallKind};

/// Offset of the head bytes (`HEAD_OFFSET` in the C program).
pub const HEAD_OFFSET: usize = 40;

fn field<const N: usize>(sample: &[u8], at: usize) -> Option<[u8; N]> {
    sample.get(at..at + N)?.try_into().ok()
}

/// Decodes one sample; `None` when it is shorter than its own header says (never expected:
/// the kernel hands over whole records) or names an unknown syscall.
pub fn parse_sample(sample: &[u8]) -> Option<Head> {
    let head_len = usize::from(u16::from_ne_bytes(field(sample, 38)?));
    Some(Head {
        enter_ns: u64::from_ne_bytes(field(sample, 0)?),
        exit_ns: u64::from_ne_bytes(field(sample, 8)?),
        ret: i64::from_ne_bytes(field(sample, 16)?),
        tgid: i32::from_ne_bytes(field(sample, 24)?),
        tid: i32::from_ne_bytes(field(sample, 28)?),
        fd: i32::from_ne_bytes(field(sample, 32)?),
        kind: SyscallKind::from_number(*sample.get(36)?)?,
        bytes: sample.get(HEAD_OFFSET..HEAD_OFFSET + head_len)?.to_vec(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sample_decodes_and_a_short_one_is_refused() {
        let mut s = Vec::new();
        s.extend_from_slice(&100u64.to_ne_bytes());
        s.extend_from_slice(&150u64.to_ne_bytes());
        s.extend_from_slice(&18i64.to_ne_bytes());
        s.extend_from_slice(&7u32.to_ne_bytes());
        s.extend_from_slice(&8u32.to_ne_bytes());
        s.extend_from_slice(&3i32.to_ne_bytes());
        s.push(SyscallKind::Recvfrom as u8);
        s.push(0);
        s.extend_from_slice(&4u16.to_ne_bytes());
        s.extend_from_slice(b"PING");
        let head = parse_sample(&s).unwrap();
        assert_eq!(
            head,
            Head {
                enter_ns: 100,
                exit_ns: 150,
                ret: 18,
                tgid: 7,
                tid: 8,
                fd: 3,
                kind: SyscallKind::Recvfrom,
                bytes: b"PING".to_vec(),
            }
        );
        assert_eq!(parse_sample(&s[..s.len() - 1]), None);
        s[36] = 0;
        assert_eq!(parse_sample(&s), None);
    }
}
