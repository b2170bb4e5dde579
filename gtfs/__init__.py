"""Transit data: GTFS/GTFS-JP and GBFS feeds, on-demand services, the timetable and the planner."""
