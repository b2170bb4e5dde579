"""Consortium partner statistics: partners and their keys, roll-ups, apportionment, privacy."""
