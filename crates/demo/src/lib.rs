//! kspan-demo (to be written).
