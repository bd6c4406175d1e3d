//! The networks Crosspost publishes to.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// A social network a delivery goes to. The wire name is lower case (`x`, `facebook`, `bluesky`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Network {
    X,
    Facebook,
    Bluesky,
}

impl Network {
    pub const ALL: [Network; 3] = [Network::X, Network::Facebook, Network::Bluesky];

    pub fn as_str(self) -> &'static str {
        match self {
            Network::X => "x",
            Network::Facebook => "facebook",
            Network::Bluesky => "bluesky",
        }
    }
}

impl fmt::Display for Network {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown network `{0}` (known: x, facebook, bluesky)")]
pub struct UnknownNetwork(pub String);

impl FromStr for Network {
    type Err = UnknownNetwork;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Network::ALL
            .into_iter()
            .find(|n| n.as_str() == s)
            .ok_or_else(|| UnknownNetwork(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_unknown_names_are_named() {
        for n in Network::ALL {
            assert_eq!(n.as_str().parse::<Network>(), Ok(n));
        }
        let err = "myspace".parse::<Network>().unwrap_err();
        assert!(err.to_string().contains("myspace"));
    }
}
