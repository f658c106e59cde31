"""Listing fields over time: where each came from (catalog side table), re-parsing stored
captures with the current page objects (`reparse`), and coverage alarms per run (`coverage`)."""
