//! [`layout!`](crate::layout): a header's field table written as widths, with the
//! offsets computed.
//!
//! Hand-written offset tables (`SRC: Field = 12..16`) can overlap or leave a gap
//! without anyone noticing; a table of widths cannot. Each entry is one of:
//!
//! - `NAME: N` — an `N`-byte field, a [`Field`](super::Field) (`start..start + N`);
//! - `NAME: byte` — a one-byte field, its offset as a `usize` (indexes `buf[NAME]`);
//! - `_: N` — `N` reserved bytes with no name (sent as zero, ignored on receipt);
//! - `NAME: ..` — last: the offset where what follows the table starts, a `usize`.
//!
//! Doc comments on entries are kept. The table starts at offset 0; `END` is the
//! offset just past the last entry (the header length).
//!
//! ```
//! mod field {
//!     stripecat_proto::layout! { KIND: byte, _: 1, LEN: 2, BODY: .. }
//! }
//! assert_eq!(field::KIND, 0);
//! assert_eq!(field::LEN, 2..4);
//! assert_eq!(field::BODY, 4);
//! assert_eq!(field::END, 4);
//! ```

/// Declares a field table from widths; see [the module](crate::wire::layout).
#[macro_export]
macro_rules! layout {
    (@at $at:expr;) => {
        /// The offset just past the last field.
        #[allow(dead_code)]
        pub const END: usize = $at;
    };
    (@at $at:expr; $(#[$m:meta])* $name:ident : .. $(,)?) => {
        $(#[$m])*
        pub const $name: usize = $at;
        $crate::layout!(@at $at;);
    };
    (@at $at:expr; $(#[$m:meta])* _ : $len:literal $(, $($rest:tt)*)?) => {
        $crate::layout!(@at $at + $len; $($($rest)*)?);
    };
    (@at $at:expr; $(#[$m:meta])* $name:ident : byte $(, $($rest:tt)*)?) => {
        $(#[$m])*
        pub const $name: usize = $at;
        $crate::layout!(@at $name + 1; $($($rest)*)?);
    };
    (@at $at:expr; $(#[$m:meta])* $name:ident : $len:literal $(, $($rest:tt)*)?) => {
        $(#[$m])*
        pub const $name: ::core::ops::Range<usize> = $at..$at + $len;
        $crate::layout!(@at $name.end; $($($rest)*)?);
    };
    ($($body:tt)*) => {
        $crate::layout!(@at 0; $($body)*);
    };
}

#[cfg(test)]
mod tests {
    mod sample {
        crate::layout! {
            /// Two bytes.
            A: 2,
            B: byte,
            _: 3,
            C: 8,
            REST: ..
        }
    }

    mod no_tail {
        crate::layout! { X: 4, _: 4 }
    }

    #[test]
    fn offsets_follow_the_widths() {
        assert_eq!(sample::A, 0..2);
        assert_eq!(sample::B, 2);
        assert_eq!(sample::C, 6..14);
        assert_eq!(sample::REST, 14);
        assert_eq!(sample::END, 14);
        assert_eq!(no_tail::X, 0..4);
        assert_eq!(no_tail::END, 8);
    }
}
