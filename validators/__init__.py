"""Validation of presented pass codes: the offline verifier, the device and scan ingestion."""
