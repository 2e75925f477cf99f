//! kspan-truth (to be written).
