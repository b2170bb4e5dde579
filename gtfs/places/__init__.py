"""Places riders search for: stops, bike share ports and points of interest.

- :mod:`gtfs.places.text` — folding names across scripts and spellings (pure);
- :mod:`gtfs.places.index` — the search index (pure);
- :mod:`gtfs.places.curated` — the bundled list of places visitors go to in Kanazawa;
- :mod:`gtfs.places.sources` — places of the loaded feeds (stops, ports) and the per-process
  index cache;
- :mod:`gtfs.places.models`, :mod:`gtfs.places.services`, :mod:`gtfs.places.views`,
  :mod:`gtfs.places.cli` — operators' own places, the search and the import.
"""
