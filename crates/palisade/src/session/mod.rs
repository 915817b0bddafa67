//! Server-side sessions (being written).
