"""Item pipelines: storing captures as evidence."""
