"""Jinja2 templates of a log's static web pages (rendered by ``sequencer.site``)."""
