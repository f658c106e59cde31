"""markwatch benchmarks: capture rate against the raw browser limit, memory over long runs."""
