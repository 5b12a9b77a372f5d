"""Avro schemas of every casenotes topic and the codecs that read and write them.

See README.md in this directory for the wire formats and the evolution rule.
"""
from .catalog import SCHEMA_DIR, SCHEMA_NAMES, AvroSchema, SchemaCatalog, default_catalog, load_catalog
from .codec import AvroCodec, DecodeError, EncodeError, check_record, make_codec, normalize_record

__all__ = [
    "SCHEMA_DIR", "SCHEMA_NAMES", "AvroSchema", "SchemaCatalog", "default_catalog", "load_catalog",
    "AvroCodec", "DecodeError", "EncodeError", "check_record", "make_codec", "normalize_record",
]
