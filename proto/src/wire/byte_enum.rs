//! [`byte_enum!`](crate::byte_enum): a one-byte wire enum declared with its values once,
//! and its decoding generated from them.
//!
//! A parser that lists the values again (`1 => Busy, 2 => BadChunkSize, ...`) drifts
//! from the declaration the day a variant is added to one and not the other; generated,
//! it cannot.
//!
//! ```
//! stripecat_proto::byte_enum! {
//!     #[derive(Debug, Clone, Copy, PartialEq, Eq)]
//!     pub enum Colour { Red = 1, Blue = 2, }
//! }
//! assert_eq!(Colour::from_byte(2), Some(Colour::Blue));
//! assert_eq!(Colour::from_byte(3), None);
//! ```

/// Declares a `#[repr(u8)]` enum and its `from_byte`; see [the module](crate::wire::byte_enum).
#[macro_export]
macro_rules! byte_enum {
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident { $($(#[$vmeta:meta])* $variant:ident = $value:literal,)+ }
    ) => {
        $(#[$meta])*
        #[repr(u8)]
        $vis enum $name { $($(#[$vmeta])* $variant = $value,)+ }

        impl $name {
            /// The variant whose wire value is `v`; `None` for a value it does not name.
            pub const fn from_byte(v: u8) -> Option<Self> {
                match v {
                    $($value => Some(Self::$variant),)+
                    _ => None,
                }
            }
        }
    };
}
