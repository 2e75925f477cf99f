//! The typed summary of a message, its span name and its OpenTelemetry attributes.

/// What a message's first bytes say it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// An HTTP/1.x request.
    HttpRequest {
        /// `GET`, `POST`, …
        method: String,
        /// The target's path, query string and fragment removed.
        path: String,
    },
    /// An HTTP/1.x response.
    HttpResponse {
        /// The status code (100–599).
        status: u16,
    },
    /// A Redis command.
    Redis {
        /// The command, upper case (`SET`).
        command: String,
        /// The command with each argument replaced by `?` (`SET ? ?`), as far as captured.
        query: String,
    },
    /// A memcached text command.
    Memcached {
        /// The command (`get`, `set`, …).
        command: String,
    },
    /// A PostgreSQL frontend message carrying SQL (simple query or parse).
    Postgres {
        /// The statement's first keyword, upper case (`SELECT`).
        operation: String,
        /// The SQL with literals replaced by `?`, as far as captured.
        query: String,
    },
    /// A PostgreSQL startup message (a new session).
    PostgresStartup,
    /// A MySQL client command.
    Mysql {
        /// The statement's first keyword, upper case (`SELECT`), for a query or a prepare;
        /// the command (`EXECUTE`, `PING`, `QUIT`, `INIT_DB`) for the others.
        operation: String,
        /// The SQL with literals replaced by `?`, as far as captured (queries and
        /// prepares only).
        query: Option<String>,
    },
    /// The first packet of a MySQL server's answer.
    MysqlReply(MysqlReply),
    /// A gRPC call (an HTTP/2 request whose `:path` is `/package.Service/Method`).
    Grpc {
        /// The full service name (`kst.Back`).
        service: String,
        /// The method (`Work`).
        method: String,
    },
}

/// What a MySQL server answered first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MysqlReply {
    /// OK: the command succeeded.
    Ok,
    /// ERR: it failed, with this error code (1000 and up, e.g. 1146 for a missing table).
    Error {
        /// The server's error code.
        code: u16,
    },
    /// EOF (older servers, e.g. after a `COM_FIELD_LIST`).
    Eof,
    /// A result set of this many columns follows.
    Columns {
        /// Its column count.
        count: u64,
    },
}

/// An attribute value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttributeValue {
    /// A string.
    Str(String),
    /// An integer.
    Int(i64),
}

impl Message {
    /// True for a request (the first message of an exchange), false for a response.
    pub fn is_request(&self) -> bool {
        !matches!(self, Message::HttpResponse { .. } | Message::MysqlReply(_))
    }

    /// What a response says of the outcome, as the tree shows it after the name (`200`,
    /// `error 1146`); `None` for a request and for a response that says nothing of note.
    pub fn outcome(&self) -> Option<String> {
        match self {
            Message::HttpResponse { status } => Some(status.to_string()),
            Message::MysqlReply(MysqlReply::Error { code }) => Some(format!("error {code}")),
            _ => None,
        }
    }

    /// The span name of a request (`GET /compose`, `SET`, `SELECT`); `None` for a response.
    pub fn span_name(&self) -> Option<String> {
        match self {
            Message::HttpRequest { method, path } => Some(format!("{method} {path}")),
            Message::HttpResponse { .. } | Message::MysqlReply(_) => None,
            Message::Redis { command, .. } => Some(command.clone()),
            Message::Memcached { command } => Some(command.clone()),
            Message::Postgres { operation, .. } => Some(operation.clone()),
            Message::PostgresStartup => Some("startup".into()),
            Message::Mysql { operation, .. } => Some(operation.clone()),
            Message::Grpc { service, method } => Some(format!("{service}/{method}")),
        }
    }

    /// The OpenTelemetry semantic-convention attributes the message gives its span.
    pub fn attributes(&self) -> Vec<(&'static str, AttributeValue)> {
        let s = |v: &str| AttributeValue::Str(v.to_string());
        match self {
            Message::HttpRequest { method, path } => {
                vec![("http.request.method", s(method)), ("url.path", s(path))]
            }
            Message::HttpResponse { status } => vec![(
                "http.response.status_code",
                AttributeValue::Int(i64::from(*status)),
            )],
            Message::Redis { command, query } => vec![
                ("db.system", s("redis")),
                ("db.operation.name", s(command)),
                ("db.query.text", s(query)),
            ],
            Message::Memcached { command } => vec![
                ("db.system", s("memcached")),
                ("db.operation.name", s(command)),
            ],
            Message::Postgres { operation, query } => vec![
                ("db.system", s("postgresql")),
                ("db.operation.name", s(operation)),
                ("db.query.text", s(query)),
            ],
            Message::PostgresStartup => vec![("db.system", s("postgresql"))],
            Message::Mysql { operation, query } => {
                let mut attributes = vec![
                    ("db.system", s("mysql")),
                    ("db.operation.name", s(operation)),
                ];
                attributes.extend(query.iter().map(|q| ("db.query.text", s(q))));
                attributes
            }
            Message::MysqlReply(MysqlReply::Error { code }) => {
                vec![("db.response.status_code", s(&code.to_string()))]
            }
            Message::MysqlReply(_) => Vec::new(),
            Message::Grpc { service, method } => vec![
                ("rpc.system", s("grpc")),
                ("rpc.service", s(service)),
                ("rpc.method", s(method)),
            ],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_attributes_follow_the_conventions() {
        let get = Message::HttpRequest {
            method: "GET".into(),
            path: "/compose".into(),
        };
        assert_eq!(get.span_name().as_deref(), Some("GET /compose"));
        assert_eq!(
            get.attributes(),
            vec![
                ("http.request.method", AttributeValue::Str("GET".into())),
                ("url.path", AttributeValue::Str("/compose".into())),
            ]
        );
        let ok = Message::HttpResponse { status: 404 };
        assert!(!ok.is_request());
        assert_eq!(ok.span_name(), None);
        assert_eq!(
            ok.attributes(),
            vec![("http.response.status_code", AttributeValue::Int(404))]
        );
        let q = Message::Postgres {
            operation: "SELECT".into(),
            query: "SELECT ?".into(),
        };
        assert_eq!(q.span_name().as_deref(), Some("SELECT"));
        assert_eq!(
            q.attributes()[0].1,
            AttributeValue::Str("postgresql".into())
        );
    }
}
