//! Cross-site request forgery protection (being written).
