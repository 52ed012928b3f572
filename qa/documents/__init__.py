"""Stage 1: documents — read files of any format (under limits, in worker processes) into texts with
their structure, split them into passages, and manage the seeds folder; hands passages to embedding.
"""
