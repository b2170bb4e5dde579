"""The foundation: errors, clock, database, configuration, files, events, auth and HTTP/CLI helpers.

Nothing here imports a domain package (gtfs, passes, validators, statistics) or the shell.
"""
