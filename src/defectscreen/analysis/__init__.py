"""Analyses that turn inputs (user files or stored results) into documents, through the physics layer."""
