"""Personal-data protection: masking of phone numbers, names and ID numbers; the audit log."""
