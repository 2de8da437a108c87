"""From fetched bytes to fields: feeds, article pages, datelines, canonical URLs, charsets, listings.

Plain functions that know nothing of Scrapy or of the store.
"""
