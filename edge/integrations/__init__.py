"""Integrations with what users already run: Home Assistant MQTT discovery and the Hermes (Rhasspy/Snips) NLU topics.

Pure functions over `edge.config` and `edge.contract`: they build and read
(topic, payload bytes[, retain]) tuples and never touch MQTT themselves; the
service publishes what they return through `edge.mqtt`.
"""
