"""Running a search on Ray Tune: schedulers, callbacks and Tuner construction."""
