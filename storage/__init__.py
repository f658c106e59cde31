"""Evidence storage: write-once, content-addressed stores and the catalog that indexes them."""
