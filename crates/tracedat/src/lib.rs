//! kspan-tracedat (to be written).
