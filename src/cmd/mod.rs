//! One module per subcommand.

pub mod ports;
