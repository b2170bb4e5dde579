"""GeoJSON for riders' maps: leg geometries along GTFS shapes and the network's features.

- :mod:`gtfs.maps.shapes` — shapes.txt, trips' shape ids and route colours, read from the stored
  feed copies (no pandas) once per network and process;
- :mod:`gtfs.maps.geojson` — leg lines and the network FeatureCollection (pure);
- :mod:`gtfs.maps.services`, :mod:`gtfs.maps.views` — ``GET /map/network`` and
  ``/plan?geometry=1``.
"""
