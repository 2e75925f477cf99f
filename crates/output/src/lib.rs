//! kspan-output (to be written).
