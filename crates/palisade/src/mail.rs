//! Mail (being written).
