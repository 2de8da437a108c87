"""Scrapy spiders: they only parse responses and yield items; nothing here stores or sends."""
