"""GTFS-Realtime: trip updates, vehicle positions and service alerts (issue 15).

Roles: :mod:`~gtfs.realtime.core` (pure: protobuf in, overlay/alerts/vehicles out, and the
overlay applied to a day view), :mod:`~gtfs.realtime.models` (registered feeds and their last
snapshot), :mod:`~gtfs.realtime.services` (polling, publishing, reading),
:mod:`~gtfs.realtime.views` (``/alerts``, ``/vehicles``) and :mod:`~gtfs.realtime.cli`
(``maas realtime``).
"""
