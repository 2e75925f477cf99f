//! kspan-ingest (to be written).
