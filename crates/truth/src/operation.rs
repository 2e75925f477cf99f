//! What the truth says a span is, by protocol, and the name and attributes OpenTelemetry's
//! conventions give such a span: the expectation the names check holds kspan's spans to.
//!
//! The truth logs protocol facts (an HTTP request's method and path, a Redis or memcached
//! command word, an SQL statement's text); the mapping to a name is written here from the
//! conventions, on its own, so that the check can fail when kspan names a span otherwise:
//! - HTTP: `{method} {path}` (the path without query string), with `http.request.method`
//!   and `url.path`;
//! - Redis: the command, upper case (Redis reads commands in any case; `LRANGE`), with
//!   `db.operation.name`;
//! - memcached: the command as sent (its commands are lower case and case-sensitive; `get`),
//!   with `db.operation.name`;
//! - SQL: the statement's first keyword, upper case (`INSERT`), with `db.operation.name`;
//! - a call that opened a new PostgreSQL connection: its startup exchange is a round trip of
//!   its own on the wire, which kspan names `startup` (no operation), before the one named by
//!   the statement.

use crate::records::Asked;

/// What a true span is, by protocol.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Operation {
    /// An HTTP request.
    Http {
        /// The method (`GET`).
        method: String,
        /// The path, without query string (`/compose`).
        path: String,
    },
    /// A database or cache command.
    Db {
        /// The protocol as the truth logs it (`redis`, `memcached`, `postgres`).
        proto: String,
        /// The operation OpenTelemetry names it by (`LRANGE`, `get`, `INSERT`).
        operation: String,
        /// Whether its connection's startup exchange came first, within the same true call.
        startup: bool,
    },
}

/// The name of a connection's startup exchange (PostgreSQL's startup message and its
/// answer), a round trip of the call that opened the connection.
pub const STARTUP: &str = "startup";

impl Operation {
    /// An HTTP request of `method` on `path` (a query string is dropped).
    pub fn http(method: &str, path: &str) -> Operation {
        let path = path.split(['?', '#']).next().unwrap_or(path);
        Operation::Http {
            method: method.to_string(),
            path: path.to_string(),
        }
    }

    /// The operation of a request served with `method` on `path`, when both are logged.
    pub fn served(method: Option<&str>, path: Option<&str>) -> Option<Operation> {
        Some(Operation::http(method?, path?))
    }

    /// The operation of a call, from what its caller logged it asked for; `None` when the
    /// log does not say.
    pub fn of_call(asked: &Asked) -> Option<Operation> {
        if let Some(op) = Operation::served(asked.method.as_deref(), asked.path.as_deref()) {
            return Some(op);
        }
        let proto = asked.proto.clone().unwrap_or_default();
        let operation = match (&asked.command, &asked.query) {
            (Some(command), _) if proto == "redis" => command.to_ascii_uppercase(),
            (Some(command), _) => command.clone(),
            (None, Some(query)) => sql_keyword(query)?,
            (None, None) => return None,
        };
        Some(Operation::Db {
            proto,
            operation,
            startup: asked.startup,
        })
    }

    /// The protocol, for grouping: `http`, or the logged protocol of a command.
    pub fn proto(&self) -> &str {
        match self {
            Operation::Http { .. } => "http",
            Operation::Db { proto, .. } => proto,
        }
    }

    /// The span name OpenTelemetry gives it (`GET /compose`, `LRANGE`, `get`, `INSERT`).
    pub fn name(&self) -> String {
        match self {
            Operation::Http { method, path } => format!("{method} {path}"),
            Operation::Db { operation, .. } => operation.clone(),
        }
    }

    /// The names of the exchanges the true span is on the wire, in order: the startup
    /// exchange first when the call opened its connection, then the operation.
    pub fn exchanges(&self) -> Vec<String> {
        match self {
            Operation::Db { startup: true, .. } => vec![STARTUP.to_string(), self.name()],
            _ => vec![self.name()],
        }
    }

    /// The attributes the operation's span carries, with their values.
    pub fn attributes(&self) -> Vec<(&'static str, &str)> {
        match self {
            Operation::Http { method, path } => {
                vec![("http.request.method", method), ("url.path", path)]
            }
            Operation::Db { operation, .. } => vec![("db.operation.name", operation)],
        }
    }
}

/// The first keyword of an SQL statement, upper case; `None` when it starts with none.
fn sql_keyword(query: &str) -> Option<String> {
    let text = query.trim_start_matches(|c: char| c.is_whitespace() || c == '(');
    let word: String = text.chars().take_while(char::is_ascii_alphabetic).collect();
    (!word.is_empty()).then(|| word.to_ascii_uppercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn asked(proto: &str) -> Asked {
        Asked {
            proto: Some(proto.to_string()),
            ..Asked::default()
        }
    }

    #[test]
    fn each_protocol_is_named_as_the_conventions_say() {
        let get = Asked {
            method: Some("GET".into()),
            path: Some("/unique-id?x=1".into()),
            ..asked("http")
        };
        let op = Operation::of_call(&get).unwrap();
        assert_eq!(op.name(), "GET /unique-id");
        assert_eq!(
            op.attributes(),
            [("http.request.method", "GET"), ("url.path", "/unique-id")]
        );
        let lrange = Asked {
            command: Some("lrange".into()),
            ..asked("redis")
        };
        assert_eq!(Operation::of_call(&lrange).unwrap().name(), "LRANGE");
        let get = Asked {
            command: Some("get".into()),
            ..asked("memcached")
        };
        let op = Operation::of_call(&get).unwrap();
        assert_eq!(op.exchanges(), ["get"]);
        assert_eq!(op.attributes(), [("db.operation.name", "get")]);
        let insert = Asked {
            query: Some("  insert INTO posts (author) VALUES (1)".into()),
            startup: true,
            ..asked("postgres")
        };
        let op = Operation::of_call(&insert).unwrap();
        assert_eq!(op.name(), "INSERT");
        assert_eq!(op.exchanges(), ["startup", "INSERT"]);
        assert_eq!(op.proto(), "postgres");
        let sub = Asked {
            query: Some("(SELECT 1) UNION (SELECT 2)".into()),
            ..asked("postgres")
        };
        assert_eq!(Operation::of_call(&sub).unwrap().exchanges(), ["SELECT"]);
    }

    #[test]
    fn a_call_that_says_nothing_has_no_operation() {
        assert_eq!(Operation::of_call(&Asked::default()), None);
        assert_eq!(Operation::of_call(&asked("redis")), None);
        let no_keyword = Asked {
            query: Some("  123".into()),
            ..asked("postgres")
        };
        assert_eq!(Operation::of_call(&no_keyword), None);
        let half = Asked {
            method: Some("GET".into()),
            ..asked("http")
        };
        assert_eq!(Operation::of_call(&half), None);
        assert_eq!(Operation::served(Some("POST"), None), None);
    }
}
