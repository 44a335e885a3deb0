"""Campaigns, defect sets and the jobflow Flows that compute them."""
