//! Drop, the Palisade showcase app.
