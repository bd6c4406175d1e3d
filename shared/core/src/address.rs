//! Which IP addresses are public: the one table every fetch of a URL a user handed us
//! (media at intake and in the workers) checks each resolved address against.
//!
//! Refused: every block of the IANA IPv4 and IPv6 Special-Purpose Address Registries
//! (<https://www.iana.org/assignments/iana-ipv4-special-registry>,
//! <https://www.iana.org/assignments/iana-ipv6-special-registry>, as of 2025), globally
//! reachable or not (no media host lives in one), plus what the address-space
//! registries set apart: IPv4 multicast 224.0.0.0/4 and reserved 240.0.0.0/4; IPv6
//! site-local fec0::/10, multicast ff00::/8 and everything outside global unicast
//! 2000::/3. An IPv6 address that carries an IPv4 one is judged by the IPv4 address it
//! reaches: IPv4-mapped `::ffff:a.b.c.d` and NAT64 `64:ff9b::a.b.c.d` (RFC 6052, what a
//! VPC's DNS64 answers); the deprecated IPv4-compatible `::a.b.c.d`, 6to4 `2002::/16`
//! and Teredo `2001::/32` are refused whatever they carry.
//!
//! The ranges are `ipnet` networks. No maintained crate classifies completely: std's
//! `is_global` is unstable and lets IPv4 multicast, site-local and NAT64 of internal
//! addresses through; the `ip_rfc` crate is a 2020 copy of an older `is_global`.

use ipnet::{Ipv4Net, Ipv6Net};
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// A block of addresses set apart from the public Internet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpecialBlock<N: 'static> {
    pub net: N,
    /// The registry's name of the block.
    pub name: &'static str,
    /// Where the block is defined.
    pub source: &'static str,
}

/// A table row: the block's first address, its prefix length, the registry's name of
/// the block and where it is defined.
type Row<A> = (A, u8, &'static str, &'static str);

/// The blocks of a table of IPv4 rows.
const fn v4_blocks<const N: usize>(rows: [Row<[u8; 4]>; N]) -> [SpecialBlock<Ipv4Net>; N] {
    let mut out = [SpecialBlock {
        net: Ipv4Net::new_assert(Ipv4Addr::UNSPECIFIED, 0),
        name: "",
        source: "",
    }; N];
    let mut i = 0;
    while i < N {
        let ([a, b, c, d], len, name, source) = rows[i];
        out[i] = SpecialBlock {
            net: Ipv4Net::new_assert(Ipv4Addr::new(a, b, c, d), len),
            name,
            source,
        };
        i += 1;
    }
    out
}

/// The blocks of a table of IPv6 rows (the address as its eight 16-bit segments).
const fn v6_blocks<const N: usize>(rows: [Row<[u16; 8]>; N]) -> [SpecialBlock<Ipv6Net>; N] {
    let mut out = [SpecialBlock {
        net: Ipv6Net::new_assert(Ipv6Addr::UNSPECIFIED, 0),
        name: "",
        source: "",
    }; N];
    let mut i = 0;
    while i < N {
        let ([a, b, c, d, e, f, g, h], len, name, source) = rows[i];
        out[i] = SpecialBlock {
            net: Ipv6Net::new_assert(Ipv6Addr::new(a, b, c, d, e, f, g, h), len),
            name,
            source,
        };
        i += 1;
    }
    out
}

/// Every IPv4 block refused, most specific first where blocks nest.
#[rustfmt::skip]
pub const IPV4_BLOCKS: &[SpecialBlock<Ipv4Net>] = &v4_blocks([
    ([0, 0, 0, 0],         8,  "this network",                                "RFC 791"),
    ([10, 0, 0, 0],        8,  "private-use",                                 "RFC 1918"),
    ([100, 64, 0, 0],      10, "shared address space",                        "RFC 6598"),
    ([127, 0, 0, 0],       8,  "loopback",                                    "RFC 1122"),
    ([169, 254, 0, 0],     16, "link local",                                  "RFC 3927"),
    ([172, 16, 0, 0],      12, "private-use",                                 "RFC 1918"),
    ([192, 0, 0, 0],       29, "IPv4 service continuity prefix",              "RFC 7335"),
    ([192, 0, 0, 8],       32, "IPv4 dummy address",                          "RFC 7600"),
    ([192, 0, 0, 9],       32, "port control protocol anycast",               "RFC 7723"),
    ([192, 0, 0, 10],      32, "traversal using relays around NAT anycast",   "RFC 8155"),
    ([192, 0, 0, 170],     31, "NAT64/DNS64 discovery",                       "RFC 8880"),
    ([192, 0, 0, 0],       24, "IETF protocol assignments",                   "RFC 6890"),
    ([192, 0, 2, 0],       24, "documentation (TEST-NET-1)",                  "RFC 5737"),
    ([192, 31, 196, 0],    24, "AS112-v4",                                    "RFC 7535"),
    ([192, 52, 193, 0],    24, "AMT",                                         "RFC 7450"),
    ([192, 88, 99, 0],     24, "deprecated 6to4 relay anycast",               "RFC 7526"),
    ([192, 168, 0, 0],     16, "private-use",                                 "RFC 1918"),
    ([192, 175, 48, 0],    24, "direct delegation AS112 service",             "RFC 7534"),
    ([198, 18, 0, 0],      15, "benchmarking",                                "RFC 2544"),
    ([198, 51, 100, 0],    24, "documentation (TEST-NET-2)",                  "RFC 5737"),
    ([203, 0, 113, 0],     24, "documentation (TEST-NET-3)",                  "RFC 5737"),
    ([224, 0, 0, 0],       4,  "multicast",                                   "RFC 5771"),
    ([255, 255, 255, 255], 32, "limited broadcast",                           "RFC 8190"),
    ([240, 0, 0, 0],       4,  "reserved",                                    "RFC 1112"),
]);

/// Every IPv6 block refused, most specific first where blocks nest. The blocks that
/// carry an IPv4 address and are judged by it ([`embedded_ipv4`]) are not listed.
#[rustfmt::skip]
pub const IPV6_BLOCKS: &[SpecialBlock<Ipv6Net>] = &v6_blocks([
    ([0; 8],                                128, "unspecified address",                          "RFC 4291"),
    ([0, 0, 0, 0, 0, 0, 0, 1],              128, "loopback address",                             "RFC 4291"),
    ([0; 8],                                96,  "IPv4-compatible address (deprecated)",         "RFC 4291"),
    ([0x64, 0xff9b, 1, 0, 0, 0, 0, 0],      48,  "IPv4-IPv6 translation, local use",             "RFC 8215"),
    ([0x100, 0, 0, 0, 0, 0, 0, 0],          64,  "discard-only address block",                   "RFC 6666"),
    ([0x100, 0, 0, 1, 0, 0, 0, 0],          64,  "dummy IPv6 prefix",                            "RFC 9780"),
    ([0x2001, 0, 0, 0, 0, 0, 0, 0],         32,  "TEREDO",                                       "RFC 4380"),
    ([0x2001, 1, 0, 0, 0, 0, 0, 1],         128, "port control protocol anycast",                "RFC 7723"),
    ([0x2001, 1, 0, 0, 0, 0, 0, 2],         128, "traversal using relays around NAT anycast",    "RFC 8155"),
    ([0x2001, 1, 0, 0, 0, 0, 0, 3],         128, "DNS-SD service registration protocol anycast", "RFC 9665"),
    ([0x2001, 2, 0, 0, 0, 0, 0, 0],         48,  "benchmarking",                                 "RFC 5180"),
    ([0x2001, 3, 0, 0, 0, 0, 0, 0],         32,  "AMT",                                          "RFC 7450"),
    ([0x2001, 4, 0x112, 0, 0, 0, 0, 0],     48,  "AS112-v6",                                     "RFC 7535"),
    ([0x2001, 0x10, 0, 0, 0, 0, 0, 0],      28,  "deprecated ORCHID",                            "RFC 4843"),
    ([0x2001, 0x20, 0, 0, 0, 0, 0, 0],      28,  "ORCHIDv2",                                     "RFC 7343"),
    ([0x2001, 0x30, 0, 0, 0, 0, 0, 0],      28,  "drone remote ID protocol entity tags",         "RFC 9374"),
    ([0x2001, 0, 0, 0, 0, 0, 0, 0],         23,  "IETF protocol assignments",                    "RFC 2928"),
    ([0x2001, 0xdb8, 0, 0, 0, 0, 0, 0],     32,  "documentation",                                "RFC 3849"),
    ([0x2002, 0, 0, 0, 0, 0, 0, 0],         16,  "6to4",                                         "RFC 3056"),
    ([0x2620, 0x4f, 0x8000, 0, 0, 0, 0, 0], 48,  "direct delegation AS112 service",              "RFC 7534"),
    ([0x3fff, 0, 0, 0, 0, 0, 0, 0],         20,  "documentation",                                "RFC 9637"),
    ([0x5f00, 0, 0, 0, 0, 0, 0, 0],         16,  "segment routing SIDs",                         "RFC 9602"),
    ([0xfc00, 0, 0, 0, 0, 0, 0, 0],         7,   "unique-local",                                 "RFC 4193"),
    ([0xfe80, 0, 0, 0, 0, 0, 0, 0],         10,  "link-local unicast",                           "RFC 4291"),
    ([0xfec0, 0, 0, 0, 0, 0, 0, 0],         10,  "site-local unicast (deprecated)",              "RFC 3879"),
    ([0xff00, 0, 0, 0, 0, 0, 0, 0],         8,   "multicast",                                    "RFC 4291"),
    ([0, 0, 0, 0, 0, 0, 0, 0],              8,   "reserved by IETF",                             "RFC 4291"),
]);

/// Global unicast: the only IPv6 space with public hosts.
const IPV6_GLOBAL_UNICAST: Ipv6Net =
    Ipv6Net::new_assert(Ipv6Addr::new(0x2000, 0, 0, 0, 0, 0, 0, 0), 3);
const IPV4_MAPPED: Ipv6Net = Ipv6Net::new_assert(Ipv6Addr::new(0, 0, 0, 0, 0, 0xffff, 0, 0), 96);
const NAT64_WELL_KNOWN: Ipv6Net =
    Ipv6Net::new_assert(Ipv6Addr::new(0x64, 0xff9b, 0, 0, 0, 0, 0, 0), 96);

/// The IPv4 address an IPv6 address reaches, for the forms judged by it: IPv4-mapped
/// (`::ffff:0:0/96`, RFC 4291) and the NAT64 well-known prefix (`64:ff9b::/96`, RFC 6052).
pub fn embedded_ipv4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    if IPV4_MAPPED.contains(&ip) || NAT64_WELL_KNOWN.contains(&ip) {
        let o = ip.octets();
        Some(Ipv4Addr::new(o[12], o[13], o[14], o[15]))
    } else {
        None
    }
}

/// Why an address is not public: the block it is in (and, for an IPv6 address that
/// carries an IPv4 one, that IPv4 address).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotPublic {
    pub address: IpAddr,
    /// The IPv4 address an IPv4-mapped or NAT64 address reaches, when it was judged by it.
    pub via: Option<Ipv4Addr>,
    /// The block, as `a.b.c.d/n` or `x::/n`.
    pub block: String,
    pub name: &'static str,
    pub source: &'static str,
}

impl fmt::Display for NotPublic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.address)?;
        if let Some(v4) = self.via {
            write!(f, " reaches {v4}, which")?;
        }
        write!(f, " is in {} ({}, {})", self.block, self.name, self.source)
    }
}

/// Ok when `ip` is public; otherwise the block that sets it apart.
pub fn check(ip: IpAddr) -> Result<(), Box<NotPublic>> {
    let refuse = |via: Option<Ipv4Addr>, block: String, name, source| {
        Box::new(NotPublic {
            address: ip,
            via,
            block,
            name,
            source,
        })
    };
    match ip {
        IpAddr::V4(v4) => {
            check_v4(v4).map_err(|b| refuse(None, b.net.to_string(), b.name, b.source))
        }
        IpAddr::V6(v6) => {
            if let Some(inner) = embedded_ipv4(v6) {
                return check_v4(inner)
                    .map_err(|b| refuse(Some(inner), b.net.to_string(), b.name, b.source));
            }
            if let Some(b) = IPV6_BLOCKS.iter().find(|b| b.net.contains(&v6)) {
                return Err(refuse(None, b.net.to_string(), b.name, b.source));
            }
            if !IPV6_GLOBAL_UNICAST.contains(&v6) {
                return Err(refuse(
                    None,
                    "everything outside 2000::/3".into(),
                    "not global unicast",
                    "RFC 4291",
                ));
            }
            Ok(())
        }
    }
}

fn check_v4(ip: Ipv4Addr) -> Result<(), &'static SpecialBlock<Ipv4Net>> {
    match IPV4_BLOCKS.iter().find(|b| b.net.contains(&ip)) {
        Some(b) => Err(b),
        None => Ok(()),
    }
}

/// True when `ip` may be fetched on a caller's behalf.
pub fn is_public(ip: IpAddr) -> bool {
    check(ip).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use ipnet::IpNet;

    fn refused(ip: &str) -> Box<NotPublic> {
        check(ip.parse().unwrap()).expect_err(ip)
    }

    /// Every block of the IANA IPv4 and IPv6 Special-Purpose Address Registries (as
    /// published in 2025), written out from the registries, not from our table.
    const IANA_SPECIAL: &[&str] = &[
        "0.0.0.0/8",
        "0.0.0.0/32",
        "10.0.0.0/8",
        "100.64.0.0/10",
        "127.0.0.0/8",
        "169.254.0.0/16",
        "172.16.0.0/12",
        "192.0.0.0/24",
        "192.0.0.0/29",
        "192.0.0.8/32",
        "192.0.0.9/32",
        "192.0.0.10/32",
        "192.0.0.170/32",
        "192.0.0.171/32",
        "192.0.2.0/24",
        "192.31.196.0/24",
        "192.52.193.0/24",
        "192.88.99.0/24",
        "192.168.0.0/16",
        "192.175.48.0/24",
        "198.18.0.0/15",
        "198.51.100.0/24",
        "203.0.113.0/24",
        "240.0.0.0/4",
        "255.255.255.255/32",
        "::1/128",
        "::/128",
        "::ffff:0:0/96",
        "64:ff9b:1::/48",
        "100::/64",
        "100:0:0:1::/64",
        "2001::/23",
        "2001::/32",
        "2001:1::1/128",
        "2001:1::2/128",
        "2001:1::3/128",
        "2001:2::/48",
        "2001:3::/32",
        "2001:4:112::/48",
        "2001:10::/28",
        "2001:20::/28",
        "2001:30::/28",
        "2001:db8::/32",
        "2002::/16",
        "2620:4f:8000::/48",
        "3fff::/20",
        "5f00::/16",
        "fc00::/7",
        "fe80::/10",
    ];

    #[test]
    fn every_iana_special_purpose_block_is_refused_at_both_ends() {
        for text in IANA_SPECIAL {
            let net: IpNet = text.parse().unwrap();
            for ip in [net.network(), net.broadcast()] {
                assert!(check(ip).is_err(), "{ip} of {text} passed as public");
            }
        }
    }

    #[test]
    fn every_block_of_the_table_is_refused_at_both_ends_under_its_own_name() {
        for b in IPV4_BLOCKS {
            assert_eq!(b.net, b.net.trunc(), "{} is not a network address", b.net);
            for ip in [b.net.network(), b.net.broadcast()] {
                let e = check(IpAddr::V4(ip)).expect_err("refused");
                let first = IPV4_BLOCKS.iter().find(|o| o.net.contains(&ip)).unwrap();
                assert_eq!(e.name, first.name, "{ip}");
            }
        }
        for b in IPV6_BLOCKS {
            assert_eq!(b.net, b.net.trunc(), "{} is not a network address", b.net);
            for ip in [b.net.network(), b.net.broadcast()] {
                if embedded_ipv4(ip).is_some() {
                    continue;
                }
                let e = check(IpAddr::V6(ip)).expect_err("refused");
                let first = IPV6_BLOCKS.iter().find(|o| o.net.contains(&ip)).unwrap();
                assert_eq!(e.name, first.name, "{ip}");
            }
        }
    }

    #[test]
    fn the_addresses_an_attacker_tried_are_refused_and_say_why() {
        for (ip, name) in [
            ("::127.0.0.1", "IPv4-compatible address (deprecated)"),
            ("64:ff9b::a9fe:a9fe", "link local"),
            ("2002:7f00:1::", "6to4"),
            ("fec0::1", "site-local unicast (deprecated)"),
            ("192.0.0.192", "IETF protocol assignments"),
            ("198.18.0.1", "benchmarking"),
            ("224.0.0.1", "multicast"),
            ("192.0.2.1", "documentation (TEST-NET-1)"),
            ("169.254.169.254", "link local"),
            ("::ffff:127.0.0.1", "loopback"),
            ("::ffff:10.1.2.3", "private-use"),
            ("ff02::1", "multicast"),
            ("2001:0:4136:e378:8000:63bf:3fff:fdd2", "TEREDO"),
            ("64:ff9b:1::a00:1", "IPv4-IPv6 translation, local use"),
            ("4000::1", "not global unicast"),
        ] {
            assert_eq!(refused(ip).name, name, "{ip}");
        }
        assert_eq!(
            refused("64:ff9b::a9fe:a9fe").to_string(),
            "64:ff9b::a9fe:a9fe reaches 169.254.169.254, which is in 169.254.0.0/16 (link local, RFC 3927)"
        );
        assert_eq!(
            refused("127.0.0.1").to_string(),
            "127.0.0.1 is in 127.0.0.0/8 (loopback, RFC 1122)"
        );
    }

    #[test]
    fn public_addresses_pass_including_nat64_of_a_public_one() {
        for ip in [
            "8.8.8.8",
            "1.1.1.1",
            "93.184.216.34",
            "100.63.255.255",
            "100.128.0.0",
            "172.32.0.1",
            "192.0.1.1",
            "192.169.0.1",
            "198.17.255.255",
            "198.20.0.0",
            "223.255.255.255",
            "2606:2800:220:1::1",
            "2a00:1450:4001:82b::200e",
            "64:ff9b::808:808",
            "::ffff:8.8.8.8",
            "2001:200::1",
        ] {
            assert!(
                check(ip.parse().unwrap()).is_ok(),
                "{ip} refused: {:?}",
                check(ip.parse().unwrap())
            );
        }
    }
}
