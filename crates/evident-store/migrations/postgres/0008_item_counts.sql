-- Schema 8 changes the SQLite store only (a table of counts for `status`, kept by triggers, in
-- place of two indexes whose sorted builds were the slowest part of a first index). PostgreSQL
-- counts by kind, status and lane with a hashed aggregate over its index-only scans, and its
-- stores are loaded row by row, not rebuilt in bulk, so its schema stays as it was; the
-- version moves with SQLite's so both backends report one schema number.
SELECT 1;
