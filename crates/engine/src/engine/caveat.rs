//! Accuracy caveats the engine counts for the summary.

/// Accuracy caveats the engine counts (the text is what the summary prints).
#[derive(Debug, Clone, Copy)]
pub(super) enum Caveat {
    SideInferred,
    AnswerBeforeRecording,
    ResponseBeforeRecording,
    ParentGone,
    ClosedBeforeAnswer,
    SyscallBytes,
}

impl Caveat {
    pub(super) const ALL: usize = 6;
    pub(super) fn text(self) -> &'static str {
        match self {
            Caveat::SideInferred => {
                "connection older than the recording: client/server side inferred from its peer, \
                 its ports or who spoke first"
            }
            Caveat::AnswerBeforeRecording => {
                "answer bytes read for a call made before the recording started (ignored)"
            }
            Caveat::ResponseBeforeRecording => {
                "bytes written by a server with no request read first (a greeting, or the \
                 answer to a request read before the recording; ignored)"
            }
            Caveat::ParentGone => {
                "request bytes whose sending span was already emitted: started a new trace"
            }
            Caveat::ClosedBeforeAnswer => "connection closed before the answer",
            Caveat::SyscallBytes => {
                "send/recv syscalls whose bytes came from their return value (kernel without \
                 sock_send_length): less precise, sockets unknown until their first read or connect"
            }
        }
    }
}

/// Every caveat, in the order the summary lists them.
pub(super) const CAVEATS: [Caveat; Caveat::ALL] = [
    Caveat::SideInferred,
    Caveat::AnswerBeforeRecording,
    Caveat::ResponseBeforeRecording,
    Caveat::ParentGone,
    Caveat::ClosedBeforeAnswer,
    Caveat::SyscallBytes,
];
