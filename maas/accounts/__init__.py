"""Rider accounts: registration, sign-in and the access tokens rider endpoints take."""
