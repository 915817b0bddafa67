//! Accounts (being written).
