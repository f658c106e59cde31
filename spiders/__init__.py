"""Marketplace spiders: one per marketplace, all on `spiders.base.MarketplaceSpider`."""
