//! kspan-capture (to be written).
