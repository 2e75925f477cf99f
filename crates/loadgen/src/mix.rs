//! The request mix: which path each request asks for, in a fixed weighted order.

use crate::error::LoadError;

/// Paths with integer weights, expanded into a cycle that interleaves them evenly (smooth
/// weighted round robin), so every prefix of the run follows the weights closely and the n-th
/// request's path is the same on every run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mix {
    paths: Vec<String>,
    cycle: Vec<usize>,
}

/// Bound on the sum of the weights (the cycle's length).
const MAX_TOTAL_WEIGHT: u64 = 100_000;

impl Mix {
    /// Parses `/compose=1,/home-timeline=3` (a path without `=weight` weighs 1).
    pub fn parse(text: &str) -> Result<Mix, LoadError> {
        let bad = |reason: String| LoadError::BadMix {
            mix: text.to_string(),
            reason,
        };
        let mut weighted = Vec::new();
        for item in text.split(',').map(str::trim).filter(|i| !i.is_empty()) {
            let (path, weight) = match item.rsplit_once('=') {
                Some((path, w)) => (
                    path,
                    w.parse::<u64>()
                        .map_err(|_| bad(format!("weight {w:?} is not a whole number")))?,
                ),
                None => (item, 1),
            };
            if !path.starts_with('/') || path.contains(char::is_whitespace) {
                return Err(bad(format!(
                    "{path:?} is not a path (it must start with / and hold no spaces)"
                )));
            }
            if weight == 0 {
                return Err(bad(format!("{path} has weight 0")));
            }
            weighted.push((path.to_string(), weight));
        }
        if weighted.is_empty() {
            return Err(bad("it names no path".to_string()));
        }
        let total: u64 = weighted.iter().map(|(_, w)| w).sum();
        if total > MAX_TOTAL_WEIGHT {
            return Err(bad(format!(
                "the weights add up to more than {MAX_TOTAL_WEIGHT}"
            )));
        }
        Ok(Mix {
            cycle: smooth_round_robin(&weighted.iter().map(|(_, w)| *w).collect::<Vec<_>>()),
            paths: weighted.into_iter().map(|(p, _)| p).collect(),
        })
    }

    /// The path of the request numbered `n` (from 0).
    pub fn path(&self, n: u64) -> &str {
        let slot = (n % self.cycle.len() as u64) as usize;
        &self.paths[self.cycle[slot]]
    }
}

impl Default for Mix {
    /// Every request asks for `/`.
    fn default() -> Self {
        Mix {
            paths: vec!["/".to_string()],
            cycle: vec![0],
        }
    }
}

/// One cycle of smooth weighted round robin: at each step every entry gains its weight, the
/// entry with the most credit (the first on ties) is chosen and pays the total.
fn smooth_round_robin(weights: &[u64]) -> Vec<usize> {
    let total: i64 = weights.iter().map(|&w| w as i64).sum();
    let mut credit = vec![0i64; weights.len()];
    (0..total)
        .map(|_| {
            for (c, &w) in credit.iter_mut().zip(weights) {
                *c += w as i64;
            }
            let best = (0..credit.len()).fold(0, |b, i| if credit[i] > credit[b] { i } else { b });
            credit[best] -= total;
            best
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights_interleave_evenly() {
        let mix = Mix::parse("/a=1,/b=3").unwrap();
        let order: Vec<&str> = (0..8).map(|n| mix.path(n)).collect();
        assert_eq!(order, ["/b", "/a", "/b", "/b", "/b", "/a", "/b", "/b"]);
    }

    #[test]
    fn bad_mixes_are_refused() {
        for text in ["", "compose=1", "/a=0", "/a=x", "/a=100001"] {
            assert!(
                matches!(Mix::parse(text), Err(LoadError::BadMix { .. })),
                "{text}"
            );
        }
        assert_eq!(Mix::parse("/a").unwrap().path(5), "/a");
    }
}
