"""The data contract: CSV schemas, validation and cleaning, reference tables, and the run contract
between the steps (bucket layout, run manifest, statuses, the ETL's hand-off to predict).

Pure: no AWS, no model. Everything else imports from here; it imports nothing of the project.
"""
