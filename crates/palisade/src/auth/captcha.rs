//! Captcha (being written).
