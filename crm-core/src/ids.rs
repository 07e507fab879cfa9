//! Identities of the records a store numbers itself (deals, pipelines, tasks, rules): a `u64`
//! with the creation time in milliseconds in the high 44 bits, written as 16 hexadecimal digits.

/// Declares an id type: `u64`, shown and parsed as 16 hexadecimal digits.
macro_rules! hex_id {
    ($(#[$doc:meta])* $name:ident, $what:literal) => {
        $(#[$doc])*
        #[derive(
            Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash,
            serde::Serialize, serde::Deserialize,
        )]
        pub struct $name(pub u64);

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(f, "{:016x}", self.0)
            }
        }

        impl std::str::FromStr for $name {
            type Err = String;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                if s.len() != 16 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
                    return Err(format!(
                        concat!($what, " id is 16 hexadecimal digits, got {:?}"),
                        s.chars().take(40).collect::<String>()
                    ));
                }
                u64::from_str_radix(s, 16).map($name).map_err(|e| e.to_string())
            }
        }
    };
}

pub(crate) use hex_id;
